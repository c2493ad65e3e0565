package conformance

import (
	"fmt"
	"math"
	"testing"

	"github.com/tabshard/tabshard/kernels"
	"github.com/tabshard/tabshard/quant"
)

// colsFor lists the row widths tried for format t: multiples of its block,
// including the LLaMA shapes named by issue 3 (704 only for 32-blocks).
func colsFor(t quant.Type, short bool) []int {
	all := []int{256, 704, 5120, 11008, 13824}
	if short {
		all = []int{256, 704, 11008}
	}
	var out []int
	for _, c := range all {
		if c%t.BlockElems() == 0 {
			out = append(out, c)
		}
	}
	return out
}

func testEmbed(t *testing.T, p *pair, o Options) {
	for _, ty := range WeightTypes {
		t.Run(ty.String(), func(t *testing.T) {
			q := *p
			q.t = t
			rows, cols := 37, 512
			m := q.matrix(ty, rows, cols, q.randn(rows*cols, 1))
			ids := []int32{0, 36, 5, 5, 17}
			dst := q.buf(len(ids) * cols)
			q.both("Embed", func(d kernels.Device, b func(buffers) kernels.Buffer, mm func(matrices) kernels.Matrix) error {
				return d.Embed(b(dst), mm(m), ids)
			})
			r, g := q.read(dst, len(ids)*cols)
			// Dequantization is exact arithmetic on both sides (one f16
			// scale times a small integer, in f32): allow only rounding of
			// d·sc·q − dmin·m orderings.
			compare(t, "Embed "+ty.String(), r, g, cols, tol{Abs: 1e-6, Rel: 1e-6})
		})
	}
}

func testRMSNorm(t *testing.T, p *pair, o Options) {
	for _, shape := range [][2]int{{1, 256}, {17, 4096}, {3, 704}} {
		rows, w := shape[0], shape[1]
		t.Run(fmt.Sprint(rows, "x", w), func(t *testing.T) {
			q := *p
			q.t = t
			weight := q.matrix(quant.F32, 1, w, q.randn(w, 1))
			x := q.filled(q.randn(rows*w, 3))
			dst := q.buf(rows * w)
			q.both("RMSNorm", func(d kernels.Device, b func(buffers) kernels.Buffer, mm func(matrices) kernels.Matrix) error {
				return d.RMSNorm(b(dst), b(x), mm(weight), rows, 1e-5)
			})
			r, g := q.read(dst, rows*w)
			// f32 sum of squares in a different order: a few ulps of 1/rms.
			compare(t, "RMSNorm", r, g, w, tol{Abs: 1e-6, Rel: 1e-5})
			// In place (dst aliases x).
			q.both("RMSNorm in place", func(d kernels.Device, b func(buffers) kernels.Buffer, mm func(matrices) kernels.Matrix) error {
				return d.RMSNorm(b(x), b(x), mm(weight), rows, 1e-5)
			})
			r, g = q.read(x, rows*w)
			compare(t, "RMSNorm in place", r, g, w, tol{Abs: 1e-6, Rel: 1e-5})
		})
	}
}

func testMatMul(t *testing.T, p *pair, o Options) {
	batches := []int{1, 3, 17} // 3: the WebGPU device runs small batches row by row
	for _, ty := range WeightTypes {
		for _, cols := range colsFor(ty, o.Short) {
			for _, rows := range batches {
				out := 48
				if cols <= 704 {
					out = 67 // not a multiple of any workgroup's row count
				}
				t.Run(fmt.Sprintf("%s/%dx%d/batch%d", ty, out, cols, rows), func(t *testing.T) {
					q := *p
					q.t = t
					m := q.matrix(ty, out, cols, q.randn(out*cols, 0.5))
					x := q.filled(q.randn(rows*cols, 1))
					dst := q.buf(rows * out)
					q.both("MatMul", func(d kernels.Device, b func(buffers) kernels.Buffer, mm func(matrices) kernels.Matrix) error {
						return d.MatMul(b(dst), mm(m), b(x), rows)
					})
					r, g := q.read(dst, rows*out)
					// Same dequantized weights, f32 accumulation in another
					// order over up to 13824 terms: relative error ~1e-6 of
					// the row RMS; 2e-4 still catches any decoding slip
					// (a wrong scale or nibble is O(1)).
					compare(t, "MatMul", r, g, out, o.productTol(ty, tol{Abs: 1e-5, Rel: 2e-4}))
				})
			}
		}
	}
}

func testRoPE(t *testing.T, p *pair, o Options) {
	for _, hd := range []int{64, 128} {
		for _, seq := range [][]kernels.Seq{
			{{Slot: 0, Pos: 0}},
			{{Slot: 0, Pos: 3071}},
			seqRange(0, 0, 17),
			append(seqRange(1, 100, 5), seqRange(2, 2000, 3)...),
		} {
			t.Run(fmt.Sprintf("hd%d/rows%d/pos%d", hd, len(seq), seq[len(seq)-1].Pos), func(t *testing.T) {
				q := *p
				q.t = t
				heads := 3
				n := len(seq) * heads * hd
				x := q.filled(q.randn(n, 1))
				q.both("RoPE", func(d kernels.Device, b func(buffers) kernels.Buffer, _ func(matrices) kernels.Matrix) error {
					return d.RoPE(b(x), heads, hd, seq, 10000)
				})
				r, g := q.read(x, n)
				// The angle pos·θ^(-2i/d) is formed in f32 on a GPU: at
				// position 3071 its rounding alone is ~2e-4 rad, plus
				// GPU sin/cos error (~2^-11 absolute after range reduction).
				compare(t, "RoPE", r, g, hd, tol{Abs: 1e-3, Rel: 1e-3})
			})
		}
	}
}

func seqRange(slot, pos0, n int) []kernels.Seq {
	s := make([]kernels.Seq, n)
	for i := range s {
		s[i] = kernels.Seq{Slot: int32(slot), Pos: int32(pos0 + i)}
	}
	return s
}

func testElementwise(t *testing.T, p *pair, o Options) {
	for _, n := range []int{1, 17, 11008 * 17, 70000*256 + 3} {
		if o.Short && n > 1<<20 {
			continue
		}
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			q := *p
			q.t = t
			a := q.filled(q.randn(n, 4))
			b := q.filled(q.randn(n, 1))
			dst := q.buf(n)
			q.both("SiLUMul", func(d kernels.Device, bf func(buffers) kernels.Buffer, _ func(matrices) kernels.Matrix) error {
				return d.SiLUMul(bf(dst), bf(a), bf(b), n)
			})
			r, g := q.read(dst, n)
			// exp differs by a few ulps between libm and GPU exp.
			compare(t, "SiLUMul", r, g, n, tol{Abs: 1e-6, Rel: 1e-5})
			q.both("Add", func(d kernels.Device, bf func(buffers) kernels.Buffer, _ func(matrices) kernels.Matrix) error {
				return d.Add(bf(dst), bf(a), bf(b), n)
			})
			r, g = q.read(dst, n)
			// One f32 addition: exact on both.
			compare(t, "Add", r, g, n, tol{})
			// Aliased forms: dst = a, dst = b, dst = a = b.
			q.both("Add dst=a", func(d kernels.Device, bf func(buffers) kernels.Buffer, _ func(matrices) kernels.Matrix) error {
				if err := d.Add(bf(a), bf(a), bf(b), n); err != nil {
					return err
				}
				if err := d.Add(bf(b), bf(a), bf(b), n); err != nil {
					return err
				}
				return d.Add(bf(a), bf(a), bf(a), n)
			})
			r, g = q.read(a, n)
			compare(t, "Add aliased (a)", r, g, n, tol{})
			r, g = q.read(b, n)
			compare(t, "Add aliased (b)", r, g, n, tol{})
		})
	}
}

func testCopyRows(t *testing.T, p *pair, o Options) {
	cols := 704
	src := p.filled(p.randn(17*cols, 1))
	rows := []int32{16, 0, 3, 3, 9}
	dst := p.buf(len(rows) * cols)
	p.both("CopyRows", func(d kernels.Device, b func(buffers) kernels.Buffer, _ func(matrices) kernels.Matrix) error {
		return d.CopyRows(b(dst), b(src), cols, rows)
	})
	r, g := p.read(dst, len(rows)*cols)
	compare(t, "CopyRows", r, g, cols, tol{})
}

func testTopK(t *testing.T, p *pair, o Options) {
	for _, c := range []struct{ rows, cols, k int }{{1, 32000, 1}, {1, 32000, 40}, {3, 17, 17}, {2, 32000, 5}, {17, 1000, 8}} {
		t.Run(fmt.Sprintf("%dx%d/k%d", c.rows, c.cols, c.k), func(t *testing.T) {
			q := *p
			q.t = t
			v := q.randn(c.rows*c.cols, 3)
			// Ties (lower id must win), a NaN and infinities.
			for r := 0; r < c.rows; r++ {
				row := v[r*c.cols : (r+1)*c.cols]
				row[c.cols-1] = 9
				row[c.cols/2] = 9
				if c.cols > 10 {
					row[3] = float32(math.NaN())
					row[4] = float32(math.Inf(1))
					row[5] = float32(math.Inf(-1))
				}
			}
			x := q.filled(v)
			ri, rv, err := q.ref.TopK(x.r, c.rows, c.cols, c.k)
			if err != nil {
				t.Fatalf("ref TopK: %v", err)
			}
			di, dv, err := q.dev.TopK(x.d, c.rows, c.cols, c.k)
			if err != nil {
				t.Fatalf("dev TopK: %v", err)
			}
			// Selection is exact: same ids, same values, same order.
			for i := range ri {
				if ri[i] != di[i] || (rv[i] != dv[i] && !(rv[i] != rv[i] && dv[i] != dv[i])) {
					t.Fatalf("TopK entry %d: dev (%d, %g) ref (%d, %g)", i, di[i], dv[i], ri[i], rv[i])
				}
			}
		})
	}
}
