// Package cpu is the reference kernels.Device: pure Go, every op computed on
// the host, parallel over all cores. It also runs in wasm as the fallback
// when a tab has no WebGPU adapter.
package cpu

import (
	"errors"
	"fmt"
	"runtime"

	"github.com/tabshard/tabshard/kernels"
)

// Device computes on the CPU with a fixed number of worker goroutines per op.
type Device struct {
	threads int
	closed  bool
	rope    kernels.RoPETable
}

var _ kernels.Device = (*Device)(nil)

// New returns a CPU device using threads goroutines per op (0: one per core).
func New(threads int) (*Device, error) {
	if threads < 0 {
		return nil, fmt.Errorf("cpu: threads must be >= 0, got %d", threads)
	}
	if threads == 0 {
		threads = runtime.GOMAXPROCS(0)
	}
	return &Device{threads: threads}, nil
}

func (d *Device) Name() string { return fmt.Sprintf("cpu (%d threads)", d.threads) }

// Close marks the device closed; buffers are ordinary Go memory.
func (d *Device) Close() error { d.closed = true; return nil }

var errClosed = errors.New("cpu: device is closed")

// buffer is host memory.
type buffer struct{ data []float32 }

func (b *buffer) Len() int { return len(b.data) }
func (b *buffer) Release() { b.data = nil }

func (d *Device) NewBuffer(n int) (kernels.Buffer, error) {
	if d.closed {
		return nil, errClosed
	}
	if n <= 0 {
		return nil, fmt.Errorf("cpu: buffer length must be positive, got %d", n)
	}
	return &buffer{data: make([]float32, n)}, nil
}

func (d *Device) Write(dst kernels.Buffer, src []float32) error {
	b, err := d.buf(dst, len(src), "Write dst")
	if err != nil {
		return err
	}
	copy(b, src)
	return nil
}

func (d *Device) Read(src kernels.Buffer, dst []float32) error {
	b, err := d.buf(src, len(dst), "Read src")
	if err != nil {
		return err
	}
	copy(dst, b)
	return nil
}

// buf returns the host slice of b after checking it belongs to this device
// and holds at least n values.
func (d *Device) buf(b kernels.Buffer, n int, what string) ([]float32, error) {
	if d.closed {
		return nil, errClosed
	}
	hb, ok := b.(*buffer)
	if !ok || hb == nil {
		return nil, fmt.Errorf("cpu: %s is not a CPU buffer", what)
	}
	if n < 0 || len(hb.data) < n {
		return nil, fmt.Errorf("cpu: %s holds %d values, op needs %d", what, len(hb.data), n)
	}
	return hb.data, nil
}
