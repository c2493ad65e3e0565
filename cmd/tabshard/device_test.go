package main

import (
	"errors"
	"strings"
	"testing"

	"github.com/tabshard/tabshard/kernels/webgpu"
)

// -device names the CPU device or WebGPU; anything else is refused with
// the choices, and webgpu never hands out a CPU adapter: on CI, whose only
// adapter is lavapipe, it is refused (before compiling anything) with
// ErrNoAdapter; on a machine with a GPU it opens that GPU.
func TestOpenDeviceNames(t *testing.T) {
	d, err := openDevice("cpu", 1)
	if err != nil {
		t.Fatalf("cpu: %v", err)
	}
	d.Close()
	if _, err := openDevice("gpu0", 1); err == nil || !strings.Contains(err.Error(), "want cpu or webgpu") {
		t.Errorf("gpu0: got %v, want a refusal naming the choices", err)
	}
	d, err = openDevice("webgpu", 1)
	switch {
	case err != nil && !errors.Is(err, webgpu.ErrNoAdapter):
		t.Errorf("webgpu: %v, want a device or ErrNoAdapter", err)
	case err != nil:
		t.Logf("webgpu refused: %v", err)
	default:
		defer d.Close()
		if strings.Contains(d.Name(), "(CPU)") {
			t.Errorf("webgpu opened %s, a CPU adapter", d.Name())
		}
	}
}
