// Command wasmnode is the tabshard node that runs in a browser tab. It is
// built for GOOS=js GOARCH=wasm by `go generate ./web` into
// web/dist/node.wasm and started by the node page (web/node.html), which
// passes nothing but its URL: ?swarm=NAME&token=TOKEN[&server=ORIGIN].
//
// In the tab it detects the WebGPU adapter (navigator.gpu: adapter info and
// limits; the device asks for limits up to the adapter's), reads
// navigator.deviceMemory and hardwareConcurrency, runs node.Measure's short
// kernel benchmark, and joins the swarm with node.Run: a WebGPU device when
// an adapter exists, else the CPU (Go-wasm) device. Blobs stream from the
// server into the browser's Cache Storage (a reload downloads nothing) and
// from there into device buffers one blob at a time. Everything the page
// shows (adapter, measured speed, assigned layers, per-blob progress, Go
// heap from runtime.MemStats, refusals) arrives as JSON events through the
// page's tabshardEvent function.
package main
