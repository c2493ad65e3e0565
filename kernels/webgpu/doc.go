// Package webgpu implements kernels.Device on WebGPU through
// github.com/gogpu/wgpu: natively on Vulkan (open_native.go; a GPU, or
// lavapipe on machines without one) and in a browser tab on navigator.gpu
// (open_js.go). Everything else is shared by both builds.
//
// Use:
//
//	dev, err := webgpu.New(webgpu.Options{})   // errors.Is(err, ErrNoAdapter) without WebGPU
//	defer dev.Close()
//
// Execution model: every op records compute dispatches into a pending command
// encoder; work is submitted every Options.SubmitEvery commands (so the GPU
// runs while the CPU records) and before Write, Read and TopK. Read (and
// TopK, which reads) maps a staging buffer and is the only fence; every wait
// has a deadline (Options.Timeout), after which the device refuses work.
// Device loss and failed allocations return errors naming the cause.
//
// Per-dispatch parameters (sizes, row lists, positions) are packed into one
// parameter arena between fences, each distinct block once (params.go); a
// submit writes only bytes the buffer does not already hold, because
// gogpu's native WriteBuffer waits for all submitted work. Bind groups
// (buffers plus parameter offset) are cached, and decoding repeats the same
// sequence every token, so they hit.
//
// WGSL sources live in shaders/*.wgsl and are instantiated with text/template
// (naga has no `override`; browsers' Tint is stricter than naga, so shaders
// avoid constant infinities and reserved words). Every pipeline is compiled
// by New (all ops, with the matrix workgroup shape timed once per adapter,
// see tune.go) or NewKVCache (attention, per head width and cache format),
// never lazily while decoding. Weight layouts on the device are documented in
// shaders/formats.wgsl, KV-cache layouts in shaders/kvformats.wgsl. Tensors
// over one storage binding (128 MiB) are split into windows of whole rows
// (weights) or whole slots (KV caches).
//
// Ordering: gogpu's Vulkan backend puts a barrier after every dispatch and
// at the end of a pass, none after copy or clear commands, so data that a
// later dispatch reads is copied or zeroed by a dispatch (copywords.wgsl);
// copy commands serve only read-back, after a pass has ended.
//
// Decode is a few fused dispatches per layer (fused.go): FusedMatMul
// compiles RMSNorm, a split store with RoPE on the q and k rows, a residual
// add or the SiLU gate into the tiled matvec, and attention splits a long
// history over several workgroups per head when few rows are decoding
// (attncombine.wgsl merges the parts).
//
// Precision: products run in f32, except that on native GPU adapters the
// tiled matvec of Q8_0, Q4_0 and Q4_K rounds x to int8s per 32 values and
// multiplies in integers (dot4I8Packed), as llama.cpp's GPU backends do;
// Options.X chooses, QuantizesX reports it, and TestQuantizedXExact checks
// those kernels against an emulation of the rounding. CPU adapters keep
// f32, so their greedy output equals the CPU engine's; in a browser f32 is
// the default and cmd/wasmnode asks for int8 on adapters that are not
// fallback (software) ones.
//
// Measurements: BENCH.md. The conformance suite (kernels/conformance) runs
// natively in TestConformance* and in headless Chromium in
// TestBrowserConformance.
package webgpu
