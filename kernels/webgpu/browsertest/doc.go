// Package browsertest holds the conformance suite built for GOOS=js: its
// test binary runs in a browser tab on navigator.gpu, against the CPU
// reference compiled to wasm. kernels/webgpu's TestBrowserConformance builds
// it and drives headless Chromium.
package browsertest
