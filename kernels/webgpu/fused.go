package webgpu

import (
	"fmt"
	"math"

	"github.com/tabshard/tabshard/kernels"
)

// FusedMatMul runs the product with its norm and epilogue in one tiled
// matvec per batch row where the tiled kernel serves (decode on GPUs):
// matvec_tiled.wgsl compiled for the variant (tiledVariants). Elsewhere
// (the classic kernel, batches past tiledBatchMax, a SiLU gate split over
// windows, variants not compiled) it composes the product, with the norm
// folded in where the tiled kernel serves, and fusedtail.wgsl through
// scratch.
func (d *Device) FusedMatMul(dsts []kernels.Buffer, w kernels.Matrix, x kernels.Buffer, rows int, f kernels.Fused) error {
	widths, err := kernels.CheckFused(dsts, w, x, rows, f)
	if err != nil {
		return fmt.Errorf("webgpu: %w", err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.usable(); err != nil {
		return err
	}
	m, err := d.matrix("FusedMatMul", w)
	if err != nil {
		return err
	}
	var g span
	if f.Norm != nil {
		nm, err := d.matrix("FusedMatMul", f.Norm)
		if err != nil {
			return err
		}
		g = nm.wins[0].span()
	}
	in, err := d.own("FusedMatMul", "x", x, rows*m.cols)
	if err != nil {
		return err
	}
	outs := make([]span, len(dsts))
	for i := range dsts {
		o, err := d.own("FusedMatMul", "dst", dsts[i], rows*widths[i])
		if err != nil {
			return err
		}
		outs[i] = o.whole()
	}
	return d.fused(m, in.whole(), outs, widths, rows, g, f)
}

// fused records a checked FusedMatMul: the tiled kernel of its variant
// where that serves; otherwise the composed passes, then RoPE (rope.wgsl)
// over the rotated destinations.
func (d *Device) fused(m *Matrix, x span, outs []span, widths []int, rows int, g span, f kernels.Fused) error {
	v := variant{norm: f.Norm != nil, out: f.Out, rope: f.RoPE.Cols > 0}
	compiled := d.kern.tiled[tiledKey{m.t, v, false}] != nil
	// The RoPE epilogue pairs rows 2i and 2i+1 within a workgroup: tiled
	// windows start at multiples of tileRows, so every pair is whole.
	if d.tiledServes(m, rows) && compiled && (f.Out != kernels.SiLUGate || len(m.wins) == 1) {
		return d.tiledProduct(m, x, outs, widths, rows, v, g, f.Eps, f.RoPE)
	}
	if v.rope {
		plain := f
		plain.RoPE = kernels.Rotary{}
		if err := d.fused(m, x, outs, widths, rows, g, plain); err != nil {
			return err
		}
		r := f.RoPE
		for i := 0; i < kernels.RotatedDsts(widths, f); i++ {
			if err := d.rope(outs[i], widths[i]/r.HeadDim, r.HeadDim, r.Seq, r.Theta); err != nil {
				return err
			}
		}
		return nil
	}
	return d.composedProduct(m, x, outs, widths, rows, f.Out, g, f.Eps)
}

// tiledServes: whether a product of rows batch rows with m runs the tiled
// matvec (small batches, once per row: on an H200 eight Q4_K 4096×11008
// matvecs, 8 × 27 µs, beat the classic batched kernel on this layout, 351 µs).
func (d *Device) tiledServes(m *Matrix, rows int) bool {
	return m.tiled && rows <= tiledBatchMax && d.kern.tshape.On()
}

// product records out = m·x for rows batch rows with whichever kernel serves.
func (d *Device) product(out span, m *Matrix, x span, rows int) error {
	if d.tiledServes(m, rows) {
		return d.tiledProduct(m, x, []span{out}, []int{m.rows}, rows, variant{}, span{}, 0, kernels.Rotary{})
	}
	sh := d.kern.shape
	k, nb := d.kern.matvec[m.t], 1
	if rows > 1 {
		k, nb = d.kern.matmul[m.t], matBatch
	}
	for _, win := range m.wins {
		p := []uint32{uint32(win.rows), uint32(m.nu), uint32(win.rs), uint32(win.so), uint32(rows), uint32(m.rows), uint32(win.row0), uint32(m.cols / 4)}
		if err := d.rec.dispatch(k, p, []span{win.span(), x, out}, uint32(ceilDiv(win.rows, sh.rowsPerGroup(nb))), uint32(ceilDiv(rows, nb)), 1); err != nil {
			return err
		}
	}
	return nil
}

// tiledProduct records the tiled matvec of variant v once per batch row and
// window. outs/widths are the destinations (several only for a split
// Store); g is the norm weight when v.norm; rot the rotation when v.rope.
func (d *Device) tiledProduct(m *Matrix, x span, outs []span, widths []int, rows int, v variant, g span, eps float32, rot kernels.Rotary) error {
	// Output rows from which Y1 and Y2 take over (never, by default).
	split := [2]int{m.rows, m.rows}
	if len(widths) > 1 {
		split[0] = widths[0]
		if len(widths) > 2 {
			split[1] = widths[0] + widths[1]
		}
	}
	half := 0
	if v.out == kernels.SiLUGate {
		half = m.rows / 2
	}
	bind := d.rec.tiledSpans(span{}, x, g, outs)
	for b := 0; b < rows; b++ {
		var yo [3]int
		for i, w := range widths {
			yo[i] = b * w
		}
		for _, win := range m.wins {
			wrows := win.rows
			if half > 0 {
				wrows = half // one window (FusedMatMul checked), rows paired
			}
			k, rt := d.kern.tiled[tiledKey{m.t, v, false}], d.kern.tshape.rows()
			if ks := d.kern.tiled[tiledKey{m.t, v, true}]; ks != nil && wrows <= shortRows {
				k, rt = ks, shortShape.rows()
			}
			if half > 0 && !pairsSiLU(m.t) {
				rt /= 2 // gate and up rows on two lane halves
			}
			p := []uint32{uint32(wrows), uint32(m.cols / blockWeights(m.t)), uint32(win.rs), uint32(win.so), uint32(win.row0),
				uint32(b * m.cols / 4), uint32(yo[0]), uint32(yo[1]), uint32(yo[2]), uint32(split[0]), uint32(split[1]),
				math.Float32bits(eps), uint32(m.cols), uint32(half)}
			if v.rope {
				freqs := d.ropeFreqs.Freqs(rot.HeadDim, rot.Theta)
				p = appendFloats(append(p, uint32(rot.Cols), uint32(rot.Seq[b].Pos), uint32(len(freqs))), freqs)
			}
			bind[0] = win.span()
			if err := d.rec.dispatch(k, p, bind, uint32(ceilDiv(wrows, rt)), 1, 1); err != nil {
				return err
			}
		}
	}
	return nil
}

// composedProduct is FusedMatMul as separate passes through scratch.
func (d *Device) composedProduct(m *Matrix, x span, outs []span, widths []int, rows int, mode kernels.FusedOut, g span, eps float32) error {
	// prod records out = m·norm(x): the tiled kernel folds the norm in;
	// otherwise RMSNorm goes through scratch first.
	prod := func(out span) error {
		if d.tiledServes(m, rows) {
			return d.tiledProduct(m, x, []span{out}, []int{m.rows}, rows, variant{norm: g.buf != nil}, g, eps, kernels.Rotary{})
		}
		in := x
		if g.buf != nil {
			normed, err := d.rec.scratchSpan(scratchNormed, uint64(rows*m.cols*4))
			if err != nil {
				return err
			}
			p := []uint32{uint32(rows), uint32(m.cols), math.Float32bits(eps)}
			if err := d.rec.dispatch(d.kern.rmsnorm, p, []span{g, x, normed}, uint32(rows), 1, 1); err != nil {
				return err
			}
			in = normed
		}
		return d.product(out, m, in, rows)
	}
	if mode == kernels.Store && len(outs) == 1 {
		return prod(outs[0])
	}
	whole, err := d.rec.scratchSpan(scratchProduct, uint64(rows*m.rows*4))
	if err != nil {
		return err
	}
	if err := prod(whole); err != nil {
		return err
	}
	tail := func(out span, mode uint32, width, first int) error {
		n := rows * width
		gx, gy := grid(ceilDiv(n, 256))
		p := []uint32{uint32(n), mode, uint32(width), uint32(m.rows), uint32(first)}
		return d.rec.dispatch(d.kern.tail, p, []span{whole, out}, gx, gy, 1)
	}
	switch mode {
	case kernels.Accumulate:
		n := rows * m.rows
		gx, gy := grid(ceilDiv(n, 256))
		return d.rec.dispatch(d.kern.addIn, []uint32{uint32(n), 0}, []span{whole, outs[0]}, gx, gy, 1)
	case kernels.SiLUGate:
		return tail(outs[0], 1, widths[0], 0)
	}
	first := 0
	for i, out := range outs {
		if err := tail(out, 0, widths[i], first); err != nil {
			return err
		}
		first += widths[i]
	}
	return nil
}
