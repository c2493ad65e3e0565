package webgpu

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	"github.com/gogpu/wgpu"
	"github.com/tabshard/tabshard/kernels"
)

// Buffer is n f32 values in one GPU storage buffer.
type Buffer struct {
	d        *Device
	buf      *wgpu.Buffer
	id       uint64
	n        int
	released bool
}

// Len is the number of f32 values.
func (b *Buffer) Len() int { return b.n }

// Release frees the GPU memory. Queued work that uses it is submitted first.
func (b *Buffer) Release() {
	d := b.d
	d.mu.Lock()
	defer d.mu.Unlock()
	if b.released {
		return
	}
	b.released = true
	d.releaseGPU(b.buf, b.id)
}

// releaseGPU frees a buffer once no queued work can touch it. Call with d.mu.
func (d *Device) releaseGPU(buf *wgpu.Buffer, id uint64) {
	if d.closed {
		return
	}
	// Freeing a buffer under a copy or dispatch still running on lavapipe's
	// worker threads segfaults the process, so wait for the queue. The read
	// submits recorded work and queued writes first.
	if d.broken == nil && (d.unfenced || d.rec.dirty()) {
		_, _ = d.readBytes(d.rec.dummy, 0, 4)
	}
	d.rec.forget(id)
	delete(d.live, id)
	buf.Release()
}

func (b *Buffer) whole() span {
	return span{buf: b.buf, id: b.id, off: 0, size: b.buf.Size()}
}

// NewBuffer allocates room for n f32 values. Contents are undefined.
func (d *Device) NewBuffer(n int) (kernels.Buffer, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.usable(); err != nil {
		return nil, err
	}
	if n <= 0 {
		return nil, fmt.Errorf("webgpu: NewBuffer(%d): size must be positive", n)
	}
	if uint64(n)*4 > d.bindLimit {
		return nil, fmt.Errorf("webgpu: NewBuffer(%d): %d bytes exceed the %d-byte binding limit", n, uint64(n)*4, d.bindLimit)
	}
	buf, err := d.createBuffer("activations", uint64(n)*4, storageUsage)
	if err != nil {
		return nil, err
	}
	return &Buffer{d: d, buf: buf, id: d.track(buf), n: n}, nil
}

// own checks that b is a live buffer of this device holding at least n values.
func (d *Device) own(op, name string, b kernels.Buffer, n int) (*Buffer, error) {
	wb, ok := b.(*Buffer)
	if !ok || wb == nil {
		return nil, fmt.Errorf("webgpu: %s: %s is not a webgpu buffer (%T)", op, name, b)
	}
	if wb.d != d {
		return nil, fmt.Errorf("webgpu: %s: %s belongs to another device", op, name)
	}
	if wb.released {
		return nil, fmt.Errorf("webgpu: %s: %s was released", op, name)
	}
	if n > wb.n {
		return nil, fmt.Errorf("webgpu: %s: %s holds %d values, needs %d", op, name, wb.n, n)
	}
	return wb, nil
}

// Write copies src into the start of dst, ordered after every earlier op.
func (d *Device) Write(dst kernels.Buffer, src []float32) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.usable(); err != nil {
		return err
	}
	b, err := d.own("Write", "dst", dst, len(src))
	if err != nil {
		return err
	}
	if len(src) == 0 {
		return nil
	}
	// Queue writes run before the next submit's commands, so earlier recorded
	// ops must be submitted first.
	if err := d.rec.flush(); err != nil {
		return err
	}
	raw := make([]byte, 4*len(src))
	for i, v := range src {
		binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(v))
	}
	d.unfenced = true
	if err := d.queue.WriteBuffer(b.buf, 0, raw); err != nil {
		return d.fail("Write", err)
	}
	return nil
}

// Read waits for all queued work, then copies the first len(dst) values of src.
func (d *Device) Read(src kernels.Buffer, dst []float32) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.usable(); err != nil {
		return err
	}
	b, err := d.own("Read", "src", src, len(dst))
	if err != nil {
		return err
	}
	raw, err := d.readBytes(b.buf, 0, uint64(len(dst))*4)
	if err != nil {
		return err
	}
	for i := range dst {
		dst[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
	}
	return nil
}

// readBytes copies size bytes at off of buf back to the host, submitting all
// recorded work first. This is the device's only fence. Call with d.mu held.
func (d *Device) readBytes(buf *wgpu.Buffer, off, size uint64) ([]byte, error) {
	padded := (max(size, 4) + 7) &^ 7
	if d.staging == nil || d.staging.Size() < padded {
		if d.staging != nil {
			if err := d.rec.flush(); err != nil {
				return nil, err
			}
			d.staging.Release()
			d.staging = nil
		}
		s, err := d.createBuffer("readback", max(padded, 64<<10), wgpu.BufferUsageMapRead|wgpu.BufferUsageCopyDst)
		if err != nil {
			return nil, err
		}
		d.staging = s
	}
	copySize := (size + 3) &^ 3
	if copySize > 0 {
		if off+copySize > buf.Size() {
			copySize = buf.Size() - off
		}
		if err := d.rec.copy(buf, off, d.staging, 0, copySize); err != nil {
			return nil, err
		}
	}
	if err := d.rec.flush(); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), d.timeout)
	defer cancel()
	if err := d.staging.Map(ctx, wgpu.MapModeRead, 0, padded); err != nil {
		if errors.Is(err, context.DeadlineExceeded) || errors.Is(ctx.Err(), context.DeadlineExceeded) {
			d.broken = fmt.Errorf("webgpu: the GPU did not finish queued work within %v (hung or lost device); the device is unusable", d.timeout)
			return nil, d.broken
		}
		if isDeviceLost(err) {
			return nil, d.fail("Read", err)
		}
		d.broken = fmt.Errorf("webgpu: reading results failed (an earlier op may have failed on the GPU, e.g. out of memory): %w", err)
		return nil, d.broken
	}
	d.unfenced = false // the queue runs in order: all earlier work is done
	d.rec.resetArena() // and nothing recorded is left unsubmitted
	defer func() { _ = d.staging.Unmap() }()
	rng, err := d.staging.MappedRange(0, padded)
	if err != nil {
		return nil, d.fail("mapping results", err)
	}
	out := make([]byte, size)
	copy(out, rng.Bytes()[:size])
	return out, nil
}
