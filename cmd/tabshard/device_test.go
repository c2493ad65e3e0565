package main

import (
	"strings"
	"testing"
)

// -device names the CPU device or WebGPU; anything else is refused with
// the choices. (webgpu on lavapipe, CI's only adapter, is refused too, but
// opening it compiles every pipeline: the webgpu package tests that path.)
func TestOpenDeviceNames(t *testing.T) {
	d, err := openDevice("cpu", 1)
	if err != nil {
		t.Fatalf("cpu: %v", err)
	}
	d.Close()
	if _, err := openDevice("gpu0", 1); err == nil || !strings.Contains(err.Error(), "want cpu or webgpu") {
		t.Errorf("gpu0: got %v, want a refusal naming the choices", err)
	}
}
