package cpu

import (
	"fmt"

	"github.com/tabshard/tabshard/kernels"
	"github.com/tabshard/tabshard/quant"
)

// matrix keeps the GGUF bytes as they are: the CPU reads every format
// directly, so memory stays at the format's size.
type matrix struct {
	t          quant.Type
	rows, cols int
	rowBytes   int
	data       []byte
	// f32 holds the dequantized weights of small vectors (norm weights),
	// which every token reads whole.
	f32 []float32
}

func (m *matrix) Rows() int        { return m.rows }
func (m *matrix) Cols() int        { return m.cols }
func (m *matrix) Type() quant.Type { return m.t }
func (m *matrix) Release()         { m.data, m.f32 = nil, nil }

func (m *matrix) row(o int) []byte { return m.data[o*m.rowBytes : (o+1)*m.rowBytes] }

func (d *Device) UploadMatrix(t quant.Type, rows, cols int, data []byte) (kernels.Matrix, error) {
	if d.closed {
		return nil, errClosed
	}
	if !quant.Supported(t) {
		return nil, fmt.Errorf("cpu: weight format %s is not supported", t)
	}
	if rows <= 0 || cols <= 0 {
		return nil, fmt.Errorf("cpu: matrix shape %d×%d is empty", rows, cols)
	}
	rb, err := t.RowBytes(cols)
	if err != nil {
		return nil, fmt.Errorf("cpu: %w", err)
	}
	if rb != 0 && rows > len(data)/rb || rows*rb != len(data) {
		return nil, fmt.Errorf("cpu: %s %d×%d needs %d bytes, got %d", t, rows, cols, rows*rb, len(data))
	}
	m := &matrix{t: t, rows: rows, cols: cols, rowBytes: rb, data: data}
	if rows == 1 {
		m.f32 = make([]float32, cols)
		if err := quant.Dequantize(t, data, m.f32); err != nil {
			return nil, fmt.Errorf("cpu: %w", err)
		}
	}
	return m, nil
}

func (d *Device) mat(w kernels.Matrix, what string) (*matrix, error) {
	if d.closed {
		return nil, errClosed
	}
	m, ok := w.(*matrix)
	if !ok || m == nil || m.data == nil {
		return nil, fmt.Errorf("cpu: %s is not a live CPU matrix", what)
	}
	return m, nil
}
