//go:build !js

package webgpu

import (
	"errors"
	"fmt"

	"github.com/gogpu/gputypes"
	"github.com/gogpu/wgpu"
	_ "github.com/gogpu/wgpu/hal/allbackends" // registers the native Vulkan backend
)

// ErrNoAdapter reports that no usable WebGPU adapter exists on this machine.
var ErrNoAdapter = errors.New("webgpu: no usable GPU adapter")

// New opens the first Vulkan adapter (a real GPU, or lavapipe on machines
// without one) and compiles every op's pipeline. The pure-Go Software and GL
// backends are refused: Software computes wrong results (no barriers) and GL
// compute does not compile.
func New(opts Options) (*Device, error) {
	inst, err := wgpu.CreateInstance(&wgpu.InstanceDescriptor{Backends: wgpu.BackendsVulkan})
	if err != nil {
		return nil, fmt.Errorf("%w: creating a Vulkan instance: %v (is libvulkan1 and a Vulkan driver installed?)", ErrNoAdapter, err)
	}
	adapter, err := inst.RequestAdapter(&wgpu.RequestAdapterOptions{PowerPreference: wgpu.PowerPreferenceHighPerformance})
	if err != nil {
		inst.Release()
		return nil, fmt.Errorf("%w: %v (install mesa-vulkan-drivers for lavapipe, or a GPU driver)", ErrNoAdapter, err)
	}
	info := adapter.Info()
	if info.Backend != wgpu.BackendVulkan {
		adapter.Release()
		inst.Release()
		return nil, fmt.Errorf("%w: adapter %q uses backend %v; only Vulkan computes correctly here (Software and GL are refused)", ErrNoAdapter, info.Name, info.Backend)
	}
	cpuLike := info.DeviceType == gputypes.DeviceTypeCPU
	if cpuLike && opts.GPUOnly {
		adapter.Release()
		inst.Release()
		return nil, fmt.Errorf("%w: the only Vulkan adapter is %q, a CPU one (GPUOnly)", ErrNoAdapter, info.Name)
	}
	dev, err := adapter.RequestDevice(nil) // nil: the adapter's full limits
	if err != nil {
		adapter.Release()
		inst.Release()
		return nil, fmt.Errorf("webgpu: opening device on %q: %w", info.Name, err)
	}
	name := fmt.Sprintf("webgpu/vulkan %s (%s)", info.Name, info.DeviceType)
	if opts.X == XAuto && !cpuLike {
		opts.X = XInt8
	}
	d, err := newDevice(dev, name, cpuLike, opts)
	if err != nil {
		dev.Release()
		adapter.Release()
		inst.Release()
		return nil, err
	}
	d.release = func() { dev.Release(); adapter.Release(); inst.Release() }
	return d, nil
}

// isDeviceLost reports whether err means the GPU device is gone.
func isDeviceLost(err error) bool { return errors.Is(err, wgpu.ErrDeviceLost) }

// isOOM reports whether err is an allocation failure.
func isOOM(err error) bool { return errors.Is(err, wgpu.ErrOutOfMemory) }
