// Package webgpu implements kernels.Device on WebGPU through
// github.com/gogpu/wgpu: natively on Vulkan (open_native.go) and in a browser
// tab on navigator.gpu (open_js.go). Everything else is shared.
//
// Execution model: every op records one or more compute dispatches into a
// pending command encoder; nothing is submitted until Read, TopK, Write (which
// must order after earlier work) or a full parameter arena forces a flush.
// Read maps a staging buffer and is the only fence; every wait has a deadline
// (Options.Timeout).
//
// Per-dispatch parameters (sizes, row lists, positions) are packed into one
// parameter arena per submit; bind groups (buffers plus parameter offset) are
// cached, and decoding repeats the same sequence every token, so they hit.
//
// WGSL sources live in shaders/*.wgsl and are instantiated with text/template
// (naga has no `override`); every pipeline is compiled by New (the ops) or
// NewKVCache (attention, which depends on head width and cache type), never
// lazily while decoding. Weight layouts on the device are documented in
// shaders/formats.wgsl next to the code that decodes them.
package webgpu
