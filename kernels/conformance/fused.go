package conformance

import (
	"fmt"
	"testing"

	"github.com/tabshard/tabshard/kernels"
	"github.com/tabshard/tabshard/quant"
)

// fusedCase is one FusedMatMul configuration: the stacked Q|K|V projection
// (norm, three-way split), a residual projection (accumulate), the
// feed-forward's gate|up with SiLU (norm), and a plain product.
type fusedCase struct {
	name  string
	out   kernels.FusedOut
	norm  bool
	split []int // destination widths (Store); rows of w = their sum
	rows  int   // rows of w for Accumulate and SiLUGate
	// rope rotated columns (leading destinations) with head width hd.
	rope, hd int
}

var fusedCases = []fusedCase{
	{name: "qkv", out: kernels.Store, norm: true, split: []int{48, 16, 16}},
	{name: "qkv-rope", out: kernels.Store, norm: true, split: []int{48, 16, 16}, rope: 64, hd: 16},
	{name: "q-rope", out: kernels.Store, split: []int{32}, rope: 32, hd: 8},
	{name: "store", out: kernels.Store, split: []int{67}},
	{name: "residual", out: kernels.Accumulate, rows: 67},
	{name: "residual-norm", out: kernels.Accumulate, norm: true, rows: 40},
	{name: "gate-up", out: kernels.SiLUGate, norm: true, rows: 2 * 40},
}

func testFused(t *testing.T, p *pair, o Options) {
	types := WeightTypes
	cols := []int{512, 5120} // 5120: x spans two of the tiled kernel's 4096-value tiles
	if o.Short {
		types = []quant.Type{quant.F32, quant.F16, quant.Q8_0, quant.Q4_0, quant.Q4_K, quant.Q6_K}
	}
	for _, ty := range types {
		for _, c := range cols {
			for _, batch := range []int{1, 3, 17} { // 17: past the WebGPU device's per-row path
				for _, fc := range fusedCases {
					t.Run(fmt.Sprintf("%s/%d/batch%d/%s", ty, c, batch, fc.name), func(t *testing.T) {
						q := *p
						q.t = t
						fusedCheck(t, &q, ty, c, batch, fc, o)
					})
				}
			}
		}
	}
}

func fusedCheck(t *testing.T, q *pair, ty quant.Type, cols, batch int, fc fusedCase, o Options) {
	wrows := fc.rows
	if fc.out == kernels.Store {
		wrows = 0
		for _, n := range fc.split {
			wrows += n
		}
	}
	m := q.matrix(ty, wrows, cols, q.randn(wrows*cols, 0.5))
	x := q.filled(q.randn(batch*cols, 2))
	f := kernels.Fused{Out: fc.out, Eps: 1e-5}
	bound := tol{Abs: 1e-5, Rel: 2e-4}
	if fc.rope > 0 {
		seq := make([]kernels.Seq, batch)
		for r := range seq {
			seq[r] = kernels.Seq{Pos: int32(5 + 611*r)} // up to 9781: angles far past 2π
		}
		f.RoPE = kernels.Rotary{Cols: fc.rope, HeadDim: fc.hd, Theta: 10000, Seq: seq}
		bound = tol{Abs: 1e-3, Rel: 1e-3} // RoPE's bound (the angle's rounding)
	}
	var norm matrices
	if fc.norm {
		norm = q.matrix(quant.F32, 1, cols, q.randn(cols, 1))
	}
	widths := []int{wrows}
	switch fc.out {
	case kernels.Store:
		widths = fc.split
		if len(fc.split) > 1 {
			f.Split = fc.split
		}
	case kernels.SiLUGate:
		widths = []int{wrows / 2}
	}
	dsts := make([]buffers, len(widths))
	for i, w := range widths {
		if fc.out == kernels.Accumulate {
			dsts[i] = q.filled(q.randn(batch*w, 1))
		} else {
			dsts[i] = q.buf(batch * w)
		}
	}
	q.both("FusedMatMul", func(d kernels.Device, b func(buffers) kernels.Buffer, mm func(matrices) kernels.Matrix) error {
		g := f
		if fc.norm {
			g.Norm = mm(norm)
		}
		out := make([]kernels.Buffer, len(dsts))
		for i := range dsts {
			out[i] = b(dsts[i])
		}
		return d.FusedMatMul(out, mm(m), b(x), batch, g)
	})
	for i, w := range widths {
		r, g := q.read(dsts[i], batch*w)
		// MatMul's bound: the fused kernel may apply the norm's scale after
		// the dot product instead of before, a few more ulps in the sum.
		compare(t, fmt.Sprintf("FusedMatMul %s dst %d", fc.name, i), r, g, w, o.productTol(ty, bound))
	}
}
