package webgpu

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/tabshard/tabshard/kernels"
	"github.com/tabshard/tabshard/quant"
)

// grid splits n workgroups over x and y (each dimension is capped at 65535).
func grid(n int) (uint32, uint32) {
	if n <= 65535 {
		return uint32(n), 1
	}
	return 65535, uint32((n + 65534) / 65535)
}

func ceilDiv(a, b int) int { return (a + b - 1) / b }

// unalias returns spans for ins, where any input that is out itself is
// replaced by a copy in scratch (a buffer may not be bound both writable and
// readable in one dispatch).
func (d *Device) unalias(out *Buffer, ins ...*Buffer) ([]span, error) {
	spans := make([]span, len(ins))
	var scr *span
	for i, b := range ins {
		if b != out {
			spans[i] = b.whole()
			continue
		}
		if scr == nil {
			s, err := d.rec.scratchSpan(scratchAlias, out.buf.Size())
			if err != nil {
				return nil, err
			}
			if err := d.rec.copyWords(out.whole(), s, out.buf.Size()/4); err != nil {
				return nil, err
			}
			scr = &s
		}
		spans[i] = *scr
	}
	return spans, nil
}

func (d *Device) matrix(op string, m kernels.Matrix) (*Matrix, error) {
	wm, ok := m.(*Matrix)
	if !ok || wm == nil {
		return nil, fmt.Errorf("webgpu: %s: matrix is not a webgpu matrix (%T)", op, m)
	}
	if wm.d != d {
		return nil, fmt.Errorf("webgpu: %s: matrix belongs to another device", op)
	}
	if wm.released {
		return nil, fmt.Errorf("webgpu: %s: matrix was released", op)
	}
	return wm, nil
}

// Embed writes row ids[r] of table, as f32, to dst[r].
func (d *Device) Embed(dst kernels.Buffer, table kernels.Matrix, ids []int32) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.usable(); err != nil {
		return err
	}
	m, err := d.matrix("Embed", table)
	if err != nil {
		return err
	}
	out, err := d.own("Embed", "dst", dst, len(ids)*m.cols)
	if err != nil {
		return err
	}
	for j, id := range ids {
		if id < 0 || int(id) >= m.rows {
			return fmt.Errorf("webgpu: Embed: ids[%d] = %d outside [0, %d)", j, id, m.rows)
		}
	}
	k := d.kern.embed[m.t]
	const chunk = 4096
	for _, w := range m.wins {
		var p []uint32
		for j, id := range ids {
			if int(id) < w.row0 || int(id) >= w.row0+w.rows {
				continue
			}
			if p == nil {
				p = []uint32{0, uint32(m.nu), uint32(w.rs), uint32(w.so), uint32(m.cols / 4)}
			}
			p = append(p, uint32(j), uint32(int(id)-w.row0))
			if (len(p)-5)/2 == chunk {
				p[0] = chunk
				if err := d.rec.dispatch(k, p, []span{w.span(), out.whole()}, chunk, 1, 1); err != nil {
					return err
				}
				p = nil
			}
		}
		if p != nil {
			n := (len(p) - 5) / 2
			p[0] = uint32(n)
			if err := d.rec.dispatch(k, p, []span{w.span(), out.whole()}, uint32(n), 1, 1); err != nil {
				return err
			}
		}
	}
	return nil
}

// RMSNorm normalises each of rows rows of width weight.Cols() and scales by weight.
func (d *Device) RMSNorm(dst, x kernels.Buffer, weight kernels.Matrix, rows int, eps float32) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.usable(); err != nil {
		return err
	}
	w, err := d.matrix("RMSNorm", weight)
	if err != nil {
		return err
	}
	if w.t != quant.F32 || w.rows != 1 {
		return fmt.Errorf("webgpu: RMSNorm: weight must be a 1×width F32 matrix, got %d×%d %s", w.rows, w.cols, w.t)
	}
	if rows <= 0 {
		return fmt.Errorf("webgpu: RMSNorm: rows = %d", rows)
	}
	n := rows * w.cols
	out, err := d.own("RMSNorm", "dst", dst, n)
	if err != nil {
		return err
	}
	in, err := d.own("RMSNorm", "x", x, n)
	if err != nil {
		return err
	}
	sp, err := d.unalias(out, in)
	if err != nil {
		return err
	}
	p := []uint32{uint32(rows), uint32(w.cols), math.Float32bits(eps)}
	return d.rec.dispatch(d.kern.rmsnorm, p, []span{w.wins[0].span(), sp[0], out.whole()}, uint32(rows), 1, 1)
}

// MatMul computes dst[r][o] = Σ_i w[o][i]·x[r][i] for r < rows.
func (d *Device) MatMul(dst kernels.Buffer, w kernels.Matrix, x kernels.Buffer, rows int) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.usable(); err != nil {
		return err
	}
	m, err := d.matrix("MatMul", w)
	if err != nil {
		return err
	}
	if rows <= 0 {
		return fmt.Errorf("webgpu: MatMul: rows = %d", rows)
	}
	out, err := d.own("MatMul", "dst", dst, rows*m.rows)
	if err != nil {
		return err
	}
	in, err := d.own("MatMul", "x", x, rows*m.cols)
	if err != nil {
		return err
	}
	sp, err := d.unalias(out, in)
	if err != nil {
		return err
	}
	return d.product(out.whole(), m, sp[0], rows)
}

// RoPE rotates adjacent pairs of each head of each row by its position.
func (d *Device) RoPE(x kernels.Buffer, heads, headDim int, seq []kernels.Seq, theta float32) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.usable(); err != nil {
		return err
	}
	if heads <= 0 || headDim <= 0 || headDim%2 != 0 {
		return fmt.Errorf("webgpu: RoPE: heads %d, headDim %d (must be positive, headDim even)", heads, headDim)
	}
	if !(theta > 0) {
		return fmt.Errorf("webgpu: RoPE: theta %v must be positive", theta)
	}
	rows := len(seq)
	b, err := d.own("RoPE", "x", x, rows*heads*headDim)
	if err != nil {
		return err
	}
	for r, s := range seq {
		if s.Pos < 0 {
			return fmt.Errorf("webgpu: RoPE: seq[%d].Pos = %d is negative", r, s.Pos)
		}
	}
	return d.rope(b.whole(), heads, headDim, seq, theta)
}

// appendFloats appends the bits of fs to p (a shader's parameters).
func appendFloats(p []uint32, fs []float32) []uint32 {
	for _, f := range fs {
		p = append(p, math.Float32bits(f))
	}
	return p
}

// rope records rope.wgsl over len(seq) rows of x (arguments checked).
func (d *Device) rope(x span, heads, headDim int, seq []kernels.Seq, theta float32) error {
	rows := len(seq)
	if rows == 0 {
		return nil
	}
	freqs := d.ropeFreqs.Freqs(headDim, theta)
	p := make([]uint32, 0, 3+len(freqs)+rows)
	p = appendFloats(append(p, uint32(rows), uint32(heads), uint32(len(freqs))), freqs)
	for _, s := range seq {
		p = append(p, uint32(s.Pos))
	}
	gx, gy := grid(ceilDiv(rows*heads*len(freqs), 64))
	return d.rec.dispatch(d.kern.rope, p, []span{x}, gx, gy, 1)
}

func (d *Device) elementwise(op string, mode uint32, dst, a, b kernels.Buffer, n int) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.usable(); err != nil {
		return err
	}
	if n <= 0 {
		if n == 0 {
			return nil
		}
		return fmt.Errorf("webgpu: %s: n = %d", op, n)
	}
	out, err := d.own(op, "dst", dst, n)
	if err != nil {
		return err
	}
	ba, err := d.own(op, "a", a, n)
	if err != nil {
		return err
	}
	bb, err := d.own(op, "b", b, n)
	if err != nil {
		return err
	}
	gx, gy := grid(ceilDiv(n, 256))
	if mode == 1 && (ba == out || bb == out) {
		other := ba
		if ba == out {
			other = bb
		}
		double := uint32(0)
		src := other.whole()
		if other == out {
			double = 1
			src = d.rec.dummySpan()
		}
		return d.rec.dispatch(d.kern.addIn, []uint32{uint32(n), double}, []span{src, out.whole()}, gx, gy, 1)
	}
	sp, err := d.unalias(out, ba, bb)
	if err != nil {
		return err
	}
	return d.rec.dispatch(d.kern.elem, []uint32{uint32(n), mode}, []span{sp[0], sp[1], out.whole()}, gx, gy, 1)
}

// SiLUMul computes dst[i] = silu(gate[i])·up[i].
func (d *Device) SiLUMul(dst, gate, up kernels.Buffer, n int) error {
	return d.elementwise("SiLUMul", 0, dst, gate, up, n)
}

// Add computes dst[i] = a[i] + b[i]; dst may alias a or b.
func (d *Device) Add(dst, a, b kernels.Buffer, n int) error {
	return d.elementwise("Add", 1, dst, a, b, n)
}

// CopyRows gathers dst[j] = src[rows[j]], rows of cols values.
func (d *Device) CopyRows(dst, src kernels.Buffer, cols int, rows []int32) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.usable(); err != nil {
		return err
	}
	if cols <= 0 {
		return fmt.Errorf("webgpu: CopyRows: cols = %d", cols)
	}
	out, err := d.own("CopyRows", "dst", dst, len(rows)*cols)
	if err != nil {
		return err
	}
	in, err := d.own("CopyRows", "src", src, cols)
	if err != nil {
		return err
	}
	have := in.n / cols
	for j, r := range rows {
		if r < 0 || int(r) >= have {
			return fmt.Errorf("webgpu: CopyRows: rows[%d] = %d outside [0, %d)", j, r, have)
		}
	}
	sp, err := d.unalias(out, in)
	if err != nil {
		return err
	}
	const chunk = 8192
	for s := 0; s < len(rows); s += chunk {
		part := rows[s:min(s+chunk, len(rows))]
		p := make([]uint32, 0, 2+len(part))
		p = append(p, uint32(len(part)), uint32(cols))
		for _, r := range part {
			p = append(p, uint32(r))
		}
		// Shift the destination by binding at an offset when chunked.
		o := out.whole()
		if s > 0 {
			off := uint64(s*cols) * 4
			if off%d.paramAlign != 0 {
				return fmt.Errorf("webgpu: CopyRows: %d rows of %d columns is too many for one call", len(rows), cols)
			}
			o.off, o.size = off, o.size-off
		}
		if err := d.rec.dispatch(d.kern.copy, p, []span{sp[0], o}, uint32(len(part)), 1, 1); err != nil {
			return err
		}
	}
	return nil
}

// TopK returns the k largest logits of each row and their ids, largest first
// (ties: lower id first). It waits for all queued work.
func (d *Device) TopK(logits kernels.Buffer, rows, cols, k int) ([]int32, []float32, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.usable(); err != nil {
		return nil, nil, err
	}
	if rows <= 0 || cols <= 0 || k <= 0 || k > cols {
		return nil, nil, fmt.Errorf("webgpu: TopK: rows %d, cols %d, k %d (need 0 < k ≤ cols)", rows, cols, k)
	}
	if k > 1024 {
		return nil, nil, fmt.Errorf("webgpu: TopK: k = %d; at most 1024", k)
	}
	in, err := d.own("TopK", "logits", logits, rows*cols)
	if err != nil {
		return nil, nil, err
	}
	size := uint64(rows*k) * 8
	if size > d.bindLimit {
		return nil, nil, fmt.Errorf("webgpu: TopK: %d×%d results exceed a binding", rows, k)
	}
	out, err := d.rec.scratchSpan(scratchAlias, size)
	if err != nil {
		return nil, nil, err
	}
	if err := d.rec.dispatch(d.kern.topk, []uint32{uint32(rows), uint32(cols), uint32(k)}, []span{in.whole(), out}, uint32(rows), 1, 1); err != nil {
		return nil, nil, err
	}
	raw, err := d.readBytes(out.buf, 0, size)
	if err != nil {
		return nil, nil, err
	}
	ids := make([]int32, rows*k)
	vals := make([]float32, rows*k)
	for i := range ids {
		ids[i] = int32(binary.LittleEndian.Uint32(raw[8*i:]))
		vals[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[8*i+4:]))
	}
	return ids, vals, nil
}
