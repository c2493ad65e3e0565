package webgpu

import (
	"fmt"
	"time"
)

// CopyBandwidth measures device-memory copy throughput: iters copies of a
// bytes-sized buffer into another in one submit, timed to the fence, once
// with the copy engine (CopyBufferToBuffer) and once with a compute shader
// (vec4 loads and stores). It returns bytes moved per second, counting each
// byte read and each byte written, for both.
func (d *Device) CopyBandwidth(bytes uint64, iters int) (engine, shader float64, err error) {
	e, err := d.copyBandwidth(bytes, iters, false)
	if err != nil {
		return 0, 0, err
	}
	s, err := d.copyBandwidth(min(bytes, d.bindLimit), iters, true)
	return e, s, err
}

func (d *Device) copyBandwidth(bytes uint64, iters int, compute bool) (float64, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.usable(); err != nil {
		return 0, err
	}
	if iters <= 0 || bytes < 4 {
		return 0, fmt.Errorf("webgpu: CopyBandwidth(%d, %d)", bytes, iters)
	}
	bytes &^= 255
	var k *kernel
	if compute {
		src, err := render("copy.wgsl", nil)
		if err != nil {
			return 0, err
		}
		if k, err = d.newKernel("copy", src, true, false); err != nil {
			return 0, err
		}
		defer d.dropKernel(k)
	}
	src, err := d.tempBuffer("bandwidth src", bytes)
	if err != nil {
		return 0, err
	}
	defer d.releaseGPU(src.buf, src.id)
	dst, err := d.tempBuffer("bandwidth dst", bytes)
	if err != nil {
		return 0, err
	}
	defer d.releaseGPU(dst.buf, dst.id)
	run := func(n int) (time.Duration, error) {
		start := time.Now()
		for i := 0; i < n; i++ {
			if compute {
				if err := d.rec.dispatch(k, []uint32{uint32(bytes / 16)}, []span{src, dst}, 4096, 1, 1); err != nil {
					return 0, err
				}
				continue
			}
			if err := d.rec.copy(src.buf, 0, dst.buf, 0, bytes); err != nil {
				return 0, err
			}
		}
		if _, err := d.readBytes(src.buf, 0, 4); err != nil {
			return 0, err
		}
		return time.Since(start), nil
	}
	if _, err := run(2); err != nil { // warm-up
		return 0, err
	}
	el, err := run(iters)
	if err != nil {
		return 0, err
	}
	return 2 * float64(bytes) * float64(iters) / el.Seconds(), nil
}

// ReadBandwidth times a read-only sweep of bytes of device memory by
// groups workgroups of 256 threads, each thread keeping unroll loads in
// flight per loop step (shaders/readprobe.wgsl). It returns bytes read per
// second: what a kernel of that many threads can draw from memory.
func (d *Device) ReadBandwidth(bytes uint64, groups, unroll, iters int) (float64, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.usable(); err != nil {
		return 0, err
	}
	if groups <= 0 || unroll <= 0 || unroll > 16 || iters <= 0 {
		return 0, fmt.Errorf("webgpu: ReadBandwidth(%d, %d, %d, %d)", bytes, groups, unroll, iters)
	}
	bytes = min(bytes, d.bindLimit) &^ 255
	type probe struct {
		U, Last int
		Us      []int
	}
	pd := probe{U: unroll, Last: unroll - 1}
	for i := 0; i < unroll; i++ {
		pd.Us = append(pd.Us, i)
	}
	src, err := render("readprobe.wgsl", pd)
	if err != nil {
		return 0, err
	}
	k, err := d.newKernel("readprobe", src, true, false)
	if err != nil {
		return 0, err
	}
	defer d.dropKernel(k)
	x, err := d.tempBuffer("probe src", bytes)
	if err != nil {
		return 0, err
	}
	defer d.releaseGPU(x.buf, x.id)
	y, err := d.tempBuffer("probe dst", uint64(groups)*256*16)
	if err != nil {
		return 0, err
	}
	defer d.releaseGPU(y.buf, y.id)
	run := func(n int) (time.Duration, error) {
		start := time.Now()
		for i := 0; i < n; i++ {
			if err := d.rec.dispatch(k, []uint32{uint32(bytes / 16)}, []span{x, y}, uint32(groups), 1, 1); err != nil {
				return 0, err
			}
		}
		if _, err := d.readBytes(y.buf, 0, 4); err != nil {
			return 0, err
		}
		return time.Since(start), nil
	}
	if _, err := run(2); err != nil {
		return 0, err
	}
	el, err := run(iters)
	if err != nil {
		return 0, err
	}
	return float64(bytes) * float64(iters) / el.Seconds(), nil
}

// tempBuffer allocates a tracked storage buffer of size bytes for a
// measurement; release it with releaseGPU(sp.buf, sp.id).
func (d *Device) tempBuffer(label string, size uint64) (span, error) {
	buf, err := d.createBuffer(label, size, storageUsage)
	if err != nil {
		return span{}, err
	}
	return span{buf: buf, id: d.track(buf), size: size}, nil
}
