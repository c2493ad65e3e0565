//go:build js

package webgpu

import (
	"errors"
	"fmt"
	"time"

	"github.com/gogpu/wgpu"
)

// ErrNoAdapter reports that the browser offers no WebGPU adapter.
var ErrNoAdapter = errors.New("webgpu: no usable GPU adapter")

// New opens the browser's WebGPU adapter (navigator.gpu) and compiles every
// op's pipeline. It blocks on JavaScript promises: never call it from inside
// a js.FuncOf callback (start a goroutine there instead).
func New(opts Options) (*Device, error) {
	inst, err := wgpu.CreateInstance(nil)
	if err != nil {
		return nil, fmt.Errorf("%w: navigator.gpu is unavailable: %v (WebGPU disabled or unsupported in this browser)", ErrNoAdapter, err)
	}
	timeout := opts.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	adapter, err := withDeadline(timeout, "navigator.gpu.requestAdapter", func() (*wgpu.Adapter, error) {
		return inst.RequestAdapter(&wgpu.RequestAdapterOptions{PowerPreference: wgpu.PowerPreferenceHighPerformance})
	})
	if err != nil {
		inst.Release()
		return nil, fmt.Errorf("%w: %v", ErrNoAdapter, err)
	}
	al := adapter.Limits()
	var want wgpu.Limits // zero fields are not requested
	want.MaxStorageBufferBindingSize = min(al.MaxStorageBufferBindingSize, maxBinding)
	want.MaxBufferSize = al.MaxBufferSize
	want.MaxComputeWorkgroupStorageSize = al.MaxComputeWorkgroupStorageSize
	want.MaxComputeInvocationsPerWorkgroup = al.MaxComputeInvocationsPerWorkgroup
	want.MaxComputeWorkgroupSizeX = al.MaxComputeWorkgroupSizeX
	want.MaxStorageBuffersPerShaderStage = al.MaxStorageBuffersPerShaderStage
	dev, err := withDeadline(timeout, "adapter.requestDevice", func() (*wgpu.Device, error) {
		return adapter.RequestDevice(&wgpu.DeviceDescriptor{Label: "tabshard", RequiredLimits: want})
	})
	if err != nil {
		adapter.Release()
		inst.Release()
		return nil, fmt.Errorf("webgpu: opening browser device: %w", err)
	}
	d, err := newDevice(dev, "webgpu/browser", false, opts)
	if err != nil {
		dev.Release()
		adapter.Release()
		inst.Release()
		return nil, err
	}
	d.release = func() { dev.Release(); adapter.Release(); inst.Release() }
	return d, nil
}

// withDeadline runs a call that awaits a JavaScript promise and gives up
// after d. The goroutine it starts ends when the promise settles (a browser
// that never settles it leaks that one goroutine, which is all we can do).
func withDeadline[T any](d time.Duration, what string, call func() (T, error)) (T, error) {
	type result struct {
		v   T
		err error
	}
	ch := make(chan result, 1)
	go func() {
		v, err := call()
		ch <- result{v, err}
	}()
	select {
	case r := <-ch:
		return r.v, r.err
	case <-time.After(d):
		var zero T
		return zero, fmt.Errorf("webgpu: %s did not answer within %v", what, d)
	}
}

// isDeviceLost reports whether err means the GPU device is gone.
func isDeviceLost(err error) bool { return errors.Is(err, wgpu.ErrDeviceLost) }

// isOOM reports whether err is an allocation failure.
func isOOM(err error) bool { return errors.Is(err, wgpu.ErrOutOfMemory) }
