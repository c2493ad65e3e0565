//go:build js && wasm

package main

import (
	"context"
	"syscall/js"
	"time"
)

// detection is what the tab found out about itself before choosing a
// device. Limits are the adapter's; the WebGPU device requests them up to
// these values (kernels/webgpu.New).
type detection struct {
	WebGPU       bool              `json:"webgpu"`        // navigator.gpu exists
	Adapter      bool              `json:"adapter"`       // and it returned an adapter
	Reason       string            `json:"reason"`        // why there is no adapter
	Vendor       string            `json:"vendor"`        // GPUAdapterInfo
	Architecture string            `json:"architecture"`  //
	Device       string            `json:"device"`        //
	Description  string            `json:"description"`   //
	Fallback     bool              `json:"fallback"`      // a software adapter (SwiftShader)
	Features     []string          `json:"features"`      // adapter features
	Limits       map[string]uint64 `json:"limits"`        // adapter limits that matter to us
	DeviceMemGiB float64           `json:"device_memory"` // navigator.deviceMemory (0: not exposed)
	Cores        int               `json:"cores"`         // navigator.hardwareConcurrency
	UserAgent    string            `json:"user_agent"`
}

// adapterTimeout bounds requestAdapter: a browser without a usable GPU
// answers null quickly, a broken one may never answer.
const adapterTimeout = 15 * time.Second

// limitNames are the adapter limits shown on the page and sent with the
// capabilities (the rest do not affect our kernels).
var limitNames = []string{
	"maxBufferSize", "maxStorageBufferBindingSize", "maxComputeWorkgroupStorageSize",
	"maxComputeInvocationsPerWorkgroup", "maxComputeWorkgroupSizeX", "maxStorageBuffersPerShaderStage",
	"maxComputeWorkgroupsPerDimension",
}

// detect queries navigator: hardware concurrency, device memory and the
// WebGPU adapter with its info and limits.
func detect(ctx context.Context) *detection {
	nav := js.Global().Get("navigator")
	d := &detection{Limits: map[string]uint64{}}
	if v := nav.Get("hardwareConcurrency"); v.Type() == js.TypeNumber {
		d.Cores = v.Int()
	}
	if v := nav.Get("deviceMemory"); v.Type() == js.TypeNumber {
		d.DeviceMemGiB = v.Float()
	}
	if v := nav.Get("userAgent"); v.Type() == js.TypeString {
		d.UserAgent = v.String()
	}
	gpu := nav.Get("gpu")
	if gpu.IsUndefined() || gpu.IsNull() {
		d.Reason = "navigator.gpu is undefined: this browser has WebGPU disabled or does not support it"
		return d
	}
	d.WebGPU = true
	actx, cancel := context.WithTimeout(ctx, adapterTimeout)
	defer cancel()
	opts := js.Global().Get("Object").New()
	opts.Set("powerPreference", "high-performance")
	adapter, err := await(actx, gpu.Call("requestAdapter", opts))
	if err != nil {
		d.Reason = "navigator.gpu.requestAdapter failed: " + err.Error()
		return d
	}
	if adapter.IsUndefined() || adapter.IsNull() {
		d.Reason = "navigator.gpu.requestAdapter returned no adapter (no usable GPU, or WebGPU blocklisted for it)"
		return d
	}
	d.Adapter = true
	if info := adapter.Get("info"); info.Type() == js.TypeObject {
		d.Vendor = jsString(info.Get("vendor"))
		d.Architecture = jsString(info.Get("architecture"))
		d.Device = jsString(info.Get("device"))
		d.Description = jsString(info.Get("description"))
		if fb := info.Get("isFallbackAdapter"); fb.Type() == js.TypeBoolean {
			d.Fallback = fb.Bool()
		}
	}
	if fb := adapter.Get("isFallbackAdapter"); fb.Type() == js.TypeBoolean && fb.Bool() {
		d.Fallback = true
	}
	if lim := adapter.Get("limits"); lim.Type() == js.TypeObject {
		for _, name := range limitNames {
			if v := lim.Get(name); v.Type() == js.TypeNumber {
				d.Limits[name] = uint64(v.Float())
			}
		}
	}
	if feats := adapter.Get("features"); feats.Type() == js.TypeObject {
		arr := js.Global().Get("Array").Call("from", feats)
		for i := 0; i < arr.Length(); i++ {
			d.Features = append(d.Features, jsString(arr.Index(i)))
		}
	}
	return d
}

func jsString(v js.Value) string {
	if v.Type() == js.TypeString {
		return v.String()
	}
	return ""
}
