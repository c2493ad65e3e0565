package webgpu

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/gogpu/wgpu"
	"github.com/tabshard/tabshard/kernels"
	"github.com/tabshard/tabshard/quant"
)

// maxBinding is the largest storage binding we ever create: what browsers
// commonly grant, and the default native limit. Larger tensors are windowed.
const maxBinding = 128 << 20

// Options configures a Device.
type Options struct {
	// Timeout bounds every wait on the GPU (a Read, TopK or Close). Zero means
	// DefaultTimeout. When it expires the device is marked unusable: queued
	// work may still be running and its results cannot be trusted.
	Timeout time.Duration
	// MaxBinding, when non-zero, caps storage bindings below the device's
	// limit (at least 1 MiB). Tests use it to exercise windowed tensors.
	MaxBinding uint64
	// MatShape, when non-zero, fixes the matrix kernels' workgroup shape
	// (benchmarks sweep it); zero picks one for the adapter.
	MatShape MatShape
	// SubmitEvery is how many recorded commands one submit carries (zero:
	// DefaultSubmitEvery).
	SubmitEvery int
	// TiledShape, when non-zero, fixes the tiled matvec's shape (benchmarks
	// sweep it); zero picks the default.
	TiledShape TiledShape
	// X chooses how the tiled matvec takes x for Q8_0, Q4_0 and Q4_K:
	// rounded to int8s per 32 values and multiplied in integers (XInt8:
	// about 0.4% of each x value; 1.5× faster 7B Q4_K decode on an
	// H100), or in f32 (XFloat). XAuto is XInt8 on native GPU adapters and
	// XFloat on CPU adapters (lavapipe) and in browsers, where gogpu does
	// not say what the adapter is: a tab that knows it has a GPU (not a
	// fallback adapter such as SwiftShader) passes XInt8, as cmd/wasmnode
	// does. f32 keeps the output equal to the CPU engine's. QuantizesX
	// says when int8 applies.
	X XPrecision
	// GPUOnly refuses a CPU adapter (lavapipe) with ErrNoAdapter before
	// anything is compiled: it computes correctly but slower than the CPU
	// device. Native only: a browser does not say what its adapter is.
	GPUOnly bool
}

// XPrecision is Options.X.
type XPrecision int

const (
	XAuto XPrecision = iota
	XFloat
	XInt8
)

// DefaultTimeout is generous because lavapipe runs big matmuls at ~1 GB/s.
const DefaultTimeout = 2 * time.Minute

// Device is a kernels.Device on one WebGPU device. Its methods are safe for
// concurrent use (they serialise on one lock); ops are queued and run in call
// order.
type Device struct {
	mu      sync.Mutex
	dev     *wgpu.Device
	queue   *wgpu.Queue
	name    string
	cpuLike bool // lavapipe or another CPU adapter: prefer narrow workgroups
	int8X   bool // Options.X resolved: the tiled matvec rounds x to int8s
	shape   MatShape
	tshape  TiledShape
	tuneLog []string

	submitEvery int
	timeout     time.Duration
	release     func()

	limits     wgpu.Limits
	bindLimit  uint64 // largest storage binding, ≤ maxBinding
	paramAlign uint64

	rec       recorder
	kern      opKernels
	ropeFreqs kernels.RoPETable // RoPE tables, shared with FusedMatMul
	staging   *wgpu.Buffer
	nextID    uint64
	broken    error // set on device loss or a timed-out wait; every later call fails
	// unfenced: work or buffer writes went to the queue since the last
	// fence (a completed readBytes), so a buffer may still be in use.
	unfenced bool
	closed   bool
	kvKernel map[kvKey]*attnKernels
	// live holds every buffer handed out (activations, weight windows, KV
	// windows) so Close can free what callers did not: a wgpu buffer that
	// outlives its device crashes the driver later.
	live map[uint64]*wgpu.Buffer
}

// track registers buf under a fresh id and returns the id.
func (d *Device) track(buf *wgpu.Buffer) uint64 {
	id := d.newID()
	d.live[id] = buf
	return id
}

var _ kernels.Device = (*Device)(nil)

func newDevice(dev *wgpu.Device, name string, cpuLike bool, opts Options) (*Device, error) {
	d := &Device{dev: dev, queue: dev.Queue(), name: name, cpuLike: cpuLike, int8X: opts.X == XInt8, timeout: opts.Timeout, shape: opts.MatShape, tshape: opts.TiledShape}
	if d.timeout <= 0 {
		d.timeout = DefaultTimeout
	}
	d.submitEvery = opts.SubmitEvery
	if d.submitEvery <= 0 {
		d.submitEvery = DefaultSubmitEvery
	}
	d.limits = dev.Limits()
	d.bindLimit = min(d.limits.MaxStorageBufferBindingSize, maxBinding)
	if d.limits.MaxBufferSize > 0 {
		d.bindLimit = min(d.bindLimit, d.limits.MaxBufferSize)
	}
	if opts.MaxBinding > 0 {
		d.bindLimit = min(d.bindLimit, max(opts.MaxBinding, 1<<20))
	}
	d.bindLimit &^= 255
	if d.bindLimit < 1<<20 {
		return nil, fmt.Errorf("webgpu: %s allows storage bindings of only %d bytes", name, d.bindLimit)
	}
	d.paramAlign = uint64(max(d.limits.MinStorageBufferOffsetAlignment, 256))
	d.kvKernel = map[kvKey]*attnKernels{}
	d.live = map[uint64]*wgpu.Buffer{}
	if err := d.rec.init(d); err != nil {
		return nil, err
	}
	if err := d.buildKernels(); err != nil {
		d.rec.destroy()
		return nil, err
	}
	return d, nil
}

// Name describes the backend and adapter.
func (d *Device) Name() string { return d.name }

// usable fails when the device is closed or lost. Call with d.mu held.
func (d *Device) usable() error {
	if d.closed {
		return errors.New("webgpu: device is closed")
	}
	return d.broken
}

// fail records a fatal error (device loss, hung wait) and returns it wrapped.
func (d *Device) fail(op string, err error) error {
	if isDeviceLost(err) {
		d.broken = fmt.Errorf("webgpu: device lost during %s: %w", op, err)
		return d.broken
	}
	return fmt.Errorf("webgpu: %s: %w", op, err)
}

// Close releases every pipeline and the device. Buffers, matrices and caches
// made by this device must not be used afterwards.
func (d *Device) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil
	}
	var err error
	if d.broken == nil {
		// Wait (with the deadline) for submitted work: releasing the device
		// under in-flight work crashes lavapipe.
		_, err = d.readBytes(d.rec.dummy, 0, 4)
	}
	d.closed = true
	for id, b := range d.live {
		b.Release()
		delete(d.live, id)
	}
	for _, ak := range d.kvKernel {
		ak.destroy()
	}
	d.kern.destroy()
	d.rec.destroy()
	if d.staging != nil {
		d.staging.Release()
	}
	if d.release != nil {
		d.release()
	}
	return err
}

// createBuffer allocates a storage buffer with a clear error on exhaustion.
func (d *Device) createBuffer(label string, size uint64, usage wgpu.BufferUsage) (*wgpu.Buffer, error) {
	if size == 0 {
		size = 4
	}
	size = (size + 3) &^ 3
	if d.limits.MaxBufferSize > 0 && size > d.limits.MaxBufferSize {
		return nil, fmt.Errorf("webgpu: buffer %s of %d bytes exceeds the device's maximum buffer size %d", label, size, d.limits.MaxBufferSize)
	}
	b, err := d.dev.CreateBuffer(&wgpu.BufferDescriptor{Label: label, Size: size, Usage: usage})
	if err != nil {
		if isOOM(err) {
			return nil, fmt.Errorf("webgpu: out of GPU memory allocating %s (%d bytes): %w", label, size, err)
		}
		return nil, d.fail("allocating "+label, err)
	}
	if b == nil {
		return nil, fmt.Errorf("webgpu: allocating %s (%d bytes) failed", label, size)
	}
	return b, nil
}

// kvTypes are the KV-cache formats NewKVCache accepts.
var kvTypes = []quant.Type{quant.F32, quant.F16, quant.Q8_0, quant.Q4_0}

const storageUsage = wgpu.BufferUsageStorage | wgpu.BufferUsageCopyDst | wgpu.BufferUsageCopySrc

func (d *Device) newID() uint64 { d.nextID++; return d.nextID }
