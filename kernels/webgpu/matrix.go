package webgpu

import (
	"encoding/binary"
	"fmt"

	"github.com/gogpu/wgpu"
	"github.com/tabshard/tabshard/kernels"
	"github.com/tabshard/tabshard/quant"
)

// Matrix is a weight tensor split by rows into windows, each its own GPU
// buffer no larger than one storage binding. Layouts: shaders/formats.wgsl.
type Matrix struct {
	d          *Device
	t          quant.Type
	rows, cols int
	rs         int  // words per row (per-row part); 16-byte chunks per row when tiled
	nu         int  // 32-weight units per row
	tiled      bool // rows interleaved in tiles (matvec_tiled.wgsl)
	wins       []window
	released   bool
}

type window struct {
	buf  *wgpu.Buffer
	id   uint64
	row0 int
	rows int
	so   int // word offset of the scale array (Q8_0, Q4_0)
	rs   int // the shaders' row stride: Matrix.rs, or the padded rows when tiled
}

func (w window) span() span { return span{buf: w.buf, id: w.id, size: w.buf.Size()} }

// Rows is the number of output features.
func (m *Matrix) Rows() int { return m.rows }

// Cols is the number of weights per row.
func (m *Matrix) Cols() int { return m.cols }

// Type is the GGUF format it was uploaded from.
func (m *Matrix) Type() quant.Type { return m.t }

// Release frees the GPU memory.
func (m *Matrix) Release() {
	d := m.d
	d.mu.Lock()
	defer d.mu.Unlock()
	if m.released {
		return
	}
	m.released = true
	for _, w := range m.wins {
		d.releaseGPU(w.buf, w.id)
	}
	m.wins = nil
}

// rowWords is the per-row word count of t's device layout for cols weights,
// and whether the format keeps a separate scale array.
func rowWords(t quant.Type, cols int) (words int, scales bool) {
	switch t {
	case quant.F32:
		return cols, false
	case quant.F16:
		return cols / 2, false
	case quant.Q8_0:
		return cols / 32 * 8, true
	case quant.Q4_0:
		return cols / 32 * 4, true
	case quant.Q4_K:
		return cols / 256 * 36, false
	case quant.Q5_K:
		return cols / 256 * 44, false
	case quant.Q6_K:
		return cols / 256 * 53, false
	case quant.Q3_K:
		return cols / 256 * 28, false
	case quant.Q2_K:
		return cols / 256 * 21, false
	}
	return 0, false
}

// UploadMatrix repacks rows×cols GGUF weights of type t into the device
// layout and uploads them window by window.
func (d *Device) UploadMatrix(t quant.Type, rows, cols int, data []byte) (kernels.Matrix, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.usable(); err != nil {
		return nil, err
	}
	if _, ok := d.kern.matvec[t]; !ok {
		return nil, fmt.Errorf("webgpu: UploadMatrix: format %v is not supported (have F32, F16, Q8_0, Q4_0, Q4_K, Q5_K, Q6_K, Q3_K, Q2_K)", t)
	}
	if rows <= 0 || cols <= 0 {
		return nil, fmt.Errorf("webgpu: UploadMatrix: bad shape %d×%d", rows, cols)
	}
	if cols%32 != 0 {
		return nil, fmt.Errorf("webgpu: UploadMatrix: %d columns; this device needs a multiple of 32", cols)
	}
	rb, err := t.RowBytes(cols)
	if err != nil {
		return nil, fmt.Errorf("webgpu: UploadMatrix: %w", err)
	}
	if int64(len(data)) != int64(rb)*int64(rows) {
		return nil, fmt.Errorf("webgpu: UploadMatrix: %s %d×%d needs %d bytes, got %d", t, rows, cols, int64(rb)*int64(rows), len(data))
	}
	rs, scales := rowWords(t, cols)
	perRow := uint64(rs) * 4
	if scales {
		perRow += uint64(cols/32) * 2
	}
	winRows := int((d.bindLimit - 16) / perRow)
	tile := tiled(t)
	if tile {
		// Windows hold whole tiles of rows; the last tile is padded.
		winRows = winRows / tileRows * tileRows
	}
	if winRows < 1 {
		return nil, fmt.Errorf("webgpu: UploadMatrix: one row of %d %s weights exceeds the %d-byte binding limit", cols, t, d.bindLimit)
	}
	m := &Matrix{d: d, t: t, rows: rows, cols: cols, rs: rs, nu: cols / 32, tiled: tile}
	for r0 := 0; r0 < rows; r0 += winRows {
		n := min(winRows, rows-r0)
		var packed []byte
		var so int
		if tile {
			packed, so = repackTiled(t, cols, n, data[r0*rb:(r0+n)*rb])
		} else {
			packed, so = repack(t, cols, n, rs, data[r0*rb:(r0+n)*rb])
		}
		// Shaders read windows as vec4<u32>: pad to whole 16-byte chunks.
		for len(packed)%16 != 0 {
			packed = append(packed, 0)
		}
		buf, err := d.createBuffer(fmt.Sprintf("weights %s %d×%d rows %d+%d", t, rows, cols, r0, n), uint64(len(packed)), wgpu.BufferUsageStorage|wgpu.BufferUsageCopyDst)
		if err != nil {
			m.releaseLocked()
			return nil, err
		}
		w := window{buf: buf, id: d.track(buf), row0: r0, rows: n, so: so, rs: rs}
		if tile {
			w.rs = (n + tileRows - 1) / tileRows * tileRows
		}
		m.wins = append(m.wins, w)
		if err := d.queue.WriteBuffer(buf, 0, packed); err != nil {
			m.releaseLocked()
			return nil, d.fail("uploading weights", err)
		}
		d.unfenced = true
		// Push the write out now so staging memory does not pile up.
		if err := d.rec.submitWrites(); err != nil {
			m.releaseLocked()
			return nil, err
		}
	}
	return m, nil
}

func (m *Matrix) releaseLocked() {
	for _, w := range m.wins {
		m.d.releaseGPU(w.buf, w.id)
	}
	m.wins = nil
	m.released = true
}

// repack converts n GGUF rows into the device layout and
// returns it with the word offset of the scale array.
func repack(t quant.Type, cols, n, rs int, src []byte) ([]byte, int) {
	switch t {
	case quant.F32, quant.F16, quant.Q4_K, quant.Q5_K, quant.Q2_K:
		// Already u32-aligned: the GGUF bytes are the layout.
		out := make([]byte, (len(src)+3)&^3)
		copy(out, src)
		return out, 0
	case quant.Q6_K, quant.Q3_K:
		bb := t.BlockBytes()
		stride := (bb + 3) &^ 3
		blocks := len(src) / bb
		out := make([]byte, blocks*stride)
		for b := 0; b < blocks; b++ {
			copy(out[b*stride:], src[b*bb:(b+1)*bb])
		}
		return out, 0
	}
	// Q8_0 and Q4_0: quants then a packed f16 scale array.
	bb := t.BlockBytes()
	qb := bb - 2
	blocks := n * (cols / 32)
	so := n * rs
	out := make([]byte, so*4+(blocks+1)/2*4)
	for g := 0; g < blocks; g++ {
		blk := src[g*bb : (g+1)*bb]
		copy(out[g*qb:], blk[2:])
		binary.LittleEndian.PutUint16(out[so*4+g*2:], binary.LittleEndian.Uint16(blk[:2]))
	}
	return out, so
}
