package cpu

import (
	"math"

	"github.com/tabshard/tabshard/kernels"
)

// FusedMatMul is the composition the interface describes, op by op with
// the same arithmetic as RMSNorm, MatMul, Add and SiLUMul, so a model gives
// the same bits fused or not. Its temporaries come from scratchPool.
func (d *Device) FusedMatMul(dsts []kernels.Buffer, w kernels.Matrix, x kernels.Buffer, rows int, f kernels.Fused) error {
	widths, err := kernels.CheckFused(dsts, w, x, rows, f)
	if err != nil {
		return err
	}
	m, err := d.mat(w, "FusedMatMul weight")
	if err != nil {
		return err
	}
	in, err := d.buf(x, rows*m.cols, "FusedMatMul x")
	if err != nil {
		return err
	}
	outs := make([][]float32, len(dsts))
	for i, b := range dsts {
		if outs[i], err = d.buf(b, rows*widths[i], "FusedMatMul dst"); err != nil {
			return err
		}
	}
	in = in[:rows*m.cols]
	if f.Norm != nil {
		nw, err := d.mat(f.Norm, "FusedMatMul norm weight")
		if err != nil {
			return err
		}
		tmp := scratchPool.Get().(*[]float32)
		defer scratchPool.Put(tmp)
		*tmp = grow(*tmp, rows*m.cols)
		normed := (*tmp)[:rows*m.cols]
		rmsNormRows(normed, in, nw.f32, rows, f.Eps)
		in = normed
	}
	if f.Out == kernels.Store && len(dsts) == 1 {
		d.matMul(m, in, outs[0][:rows*m.rows], rows)
		d.rotateDsts(outs, widths, f)
		return nil
	}
	tmp := scratchPool.Get().(*[]float32)
	defer scratchPool.Put(tmp)
	*tmp = grow(*tmp, rows*m.rows)
	p := (*tmp)[:rows*m.rows]
	d.matMul(m, in, p, rows)
	switch f.Out {
	case kernels.Store:
		for r := 0; r < rows; r++ {
			off := r * m.rows
			for i, n := range widths {
				copy(outs[i][r*n:(r+1)*n], p[off:off+n])
				off += n
			}
		}
		d.rotateDsts(outs, widths, f)
	case kernels.Accumulate:
		o := outs[0]
		for i, v := range p {
			o[i] += v
		}
	case kernels.SiLUGate:
		h, o := widths[0], outs[0]
		for r := 0; r < rows; r++ {
			g, u := p[r*m.rows:r*m.rows+h], p[r*m.rows+h:(r+1)*m.rows]
			siluMul(o[r*h:(r+1)*h], g, u)
		}
	}
	return nil
}

// rmsNormRows is RMSNorm over rows rows of len(w) values.
func rmsNormRows(out, in, w []float32, rows int, eps float32) {
	n := len(w)
	for r := 0; r < rows; r++ {
		xr, or := in[r*n:(r+1)*n], out[r*n:(r+1)*n]
		var ss float64
		for _, v := range xr {
			ss += float64(v) * float64(v)
		}
		scale := float32(1 / math.Sqrt(ss/float64(n)+float64(eps)))
		for i, v := range xr {
			or[i] = v * scale * w[i]
		}
	}
}

// siluMul writes silu(g)·u to o.
func siluMul(o, g, u []float32) {
	for i := range o {
		o[i] = g[i] / (1 + float32(math.Exp(float64(-g[i])))) * u[i]
	}
}

// rotateDsts applies f.RoPE to the destinations it covers, each as RoPE
// would rotate it.
func (d *Device) rotateDsts(outs [][]float32, widths []int, f kernels.Fused) {
	r := f.RoPE
	for i := 0; i < kernels.RotatedDsts(widths, f); i++ {
		rotate(outs[i], widths[i]/r.HeadDim, r.HeadDim, r.Seq, d.rope.Freqs(r.HeadDim, r.Theta))
	}
}
