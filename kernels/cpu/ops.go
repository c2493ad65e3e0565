package cpu

import (
	"fmt"

	"github.com/tabshard/tabshard/kernels"
	"github.com/tabshard/tabshard/quant"
)

func (d *Device) Embed(dst kernels.Buffer, table kernels.Matrix, ids []int32) error {
	m, err := d.mat(table, "Embed table")
	if err != nil {
		return err
	}
	out, err := d.buf(dst, len(ids)*m.cols, "Embed dst")
	if err != nil {
		return err
	}
	for r, id := range ids {
		if id < 0 || int(id) >= m.rows {
			return fmt.Errorf("cpu: Embed: token id %d outside [0,%d)", id, m.rows)
		}
		if err := quant.Dequantize(m.t, m.row(int(id)), out[r*m.cols:(r+1)*m.cols]); err != nil {
			return fmt.Errorf("cpu: Embed: %w", err)
		}
	}
	return nil
}

func (d *Device) RMSNorm(dst, x kernels.Buffer, weight kernels.Matrix, rows int, eps float32) error {
	w, err := d.mat(weight, "RMSNorm weight")
	if err != nil {
		return err
	}
	if w.rows != 1 {
		return fmt.Errorf("cpu: RMSNorm weight must be 1×n, got %d×%d", w.rows, w.cols)
	}
	n := w.cols
	in, err := d.buf(x, rows*n, "RMSNorm x")
	if err != nil {
		return err
	}
	out, err := d.buf(dst, rows*n, "RMSNorm dst")
	if err != nil {
		return err
	}
	rmsNormRows(out[:rows*n], in[:rows*n], w.f32, rows, eps)
	return nil
}

func (d *Device) MatMul(dst kernels.Buffer, w kernels.Matrix, x kernels.Buffer, rows int) error {
	m, err := d.mat(w, "MatMul weight")
	if err != nil {
		return err
	}
	if rows <= 0 {
		return fmt.Errorf("cpu: MatMul of %d rows", rows)
	}
	in, err := d.buf(x, rows*m.cols, "MatMul x")
	if err != nil {
		return err
	}
	out, err := d.buf(dst, rows*m.rows, "MatMul dst")
	if err != nil {
		return err
	}
	d.matMul(m, in, out, rows)
	return nil
}

// matMul is MatMul on checked slices.
func (d *Device) matMul(m *matrix, in, out []float32, rows int) {
	if rows == 1 {
		// Decode: one pass over the weights, no scratch.
		in = in[:m.cols]
		d.parallel(m.rows, minChunkRows(m.cols), func(lo, hi int) {
			quant.DotRows(m.t, m.data[lo*m.rowBytes:hi*m.rowBytes], in, out[lo:hi])
		})
		return
	}
	d.matMulBatch(m, in, out, rows)
}

func (d *Device) SiLUMul(dst, gate, up kernels.Buffer, n int) error {
	o, err := d.buf(dst, n, "SiLUMul dst")
	if err != nil {
		return err
	}
	g, err := d.buf(gate, n, "SiLUMul gate")
	if err != nil {
		return err
	}
	u, err := d.buf(up, n, "SiLUMul up")
	if err != nil {
		return err
	}
	siluMul(o[:n], g[:n], u[:n])
	return nil
}

func (d *Device) Add(dst, a, b kernels.Buffer, n int) error {
	o, err := d.buf(dst, n, "Add dst")
	if err != nil {
		return err
	}
	x, err := d.buf(a, n, "Add a")
	if err != nil {
		return err
	}
	y, err := d.buf(b, n, "Add b")
	if err != nil {
		return err
	}
	for i := 0; i < n; i++ {
		o[i] = x[i] + y[i]
	}
	return nil
}

func (d *Device) CopyRows(dst, src kernels.Buffer, cols int, rows []int32) error {
	if cols <= 0 {
		return fmt.Errorf("cpu: CopyRows of width %d", cols)
	}
	o, err := d.buf(dst, len(rows)*cols, "CopyRows dst")
	if err != nil {
		return err
	}
	s, err := d.buf(src, 0, "CopyRows src")
	if err != nil {
		return err
	}
	for j, r := range rows {
		if r < 0 || (int(r)+1)*cols > len(s) {
			return fmt.Errorf("cpu: CopyRows: row %d outside a buffer of %d rows", r, len(s)/cols)
		}
		copy(o[j*cols:(j+1)*cols], s[int(r)*cols:(int(r)+1)*cols])
	}
	return nil
}
