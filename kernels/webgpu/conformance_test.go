//go:build !js

package webgpu

import (
	"errors"
	"fmt"
	"testing"

	"github.com/tabshard/tabshard/kernels/conformance"
	"github.com/tabshard/tabshard/kernels/cpu"
	"github.com/tabshard/tabshard/quant"
)

// open returns a native device or skips when this machine has no Vulkan
// adapter (CI installs mesa-vulkan-drivers, so it runs there).
func open(t *testing.T, opts Options) *Device {
	t.Helper()
	d, err := New(opts)
	if errors.Is(err, ErrNoAdapter) {
		t.Skipf("no Vulkan adapter (install mesa-vulkan-drivers for lavapipe): %v", err)
	}
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() {
		if err := d.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	t.Logf("device: %s", d.Name())
	return d
}

func TestConformance(t *testing.T) {
	dev := open(t, Options{})
	ref, err := cpu.New(0)
	if err != nil {
		t.Fatal(err)
	}
	defer ref.Close()
	conformance.Run(t, ref, dev, conformance.Options{Short: testing.Short(), KVTypes: kvTypes, QuantizedX: dev.QuantizesX})
}

// TestConformanceWindows forces 1 MiB bindings so that weight matrices,
// embedding tables and KV caches are split into several windows.
func TestConformanceWindows(t *testing.T) {
	dev := open(t, Options{MaxBinding: 1 << 20})
	ref, err := cpu.New(0)
	if err != nil {
		t.Fatal(err)
	}
	defer ref.Close()
	conformance.Run(t, ref, dev, conformance.Options{Short: true, KVTypes: kvTypes, Only: []string{"matmul", "embed"}, QuantizedX: dev.QuantizesX})
	conformance.RunWindowed(t, ref, dev, conformance.Options{QuantizedX: dev.QuantizesX})
}

// TestConformanceShapes runs the matrix kernels with several rows per
// thread, as GPUs do (lavapipe's own default has one), with a row count per
// thread that does not divide the test matrices. Wider GPU shapes (32–128
// threads per row) are correct too but take minutes on lavapipe.
func TestConformanceShapes(t *testing.T) {
	ref, err := cpu.New(0)
	if err != nil {
		t.Fatal(err)
	}
	defer ref.Close()
	for _, sh := range []MatShape{{TPR: 16, RPW: 1, RPT: 3}} {
		t.Run(fmt.Sprintf("%dx%dx%d", sh.TPR, sh.RPW, sh.RPT), func(t *testing.T) {
			dev := open(t, Options{MatShape: sh})
			conformance.Run(t, ref, dev, conformance.Options{Short: true, Only: []string{"matmul"}, QuantizedX: dev.QuantizesX})
		})
	}
}

// TestConformanceTiledShapes runs the matrix ops with the tiled matvec
// (lavapipe's own choice is the classic kernel): with 8 slices and 3 blocks
// per step (an unrolled loop with a tail), and with the shape GPUs pick,
// gpuTiled, under which these small matrices take shortShape's kernel.
// The first takes x in f32 (lavapipe's and browsers' default), the second
// rounds it to int8s (XInt8, GPUs' default) for Q8_0, Q4_0 and Q4_K.
func TestConformanceTiledShapes(t *testing.T) {
	ref, err := cpu.New(0)
	if err != nil {
		t.Fatal(err)
	}
	defer ref.Close()
	for _, sh := range []TiledShape{{S: 8, U: 3}, gpuTiled} {
		x := XFloat
		if sh == gpuTiled {
			x = XInt8
		}
		t.Run(fmt.Sprintf("S%dU%dR%d", sh.S, sh.U, sh.R), func(t *testing.T) {
			dev := open(t, Options{TiledShape: sh, X: x})
			if short := dev.kern.tiled[tiledKey{quant.Q4_K, variant{}, true}] != nil; short != (sh == gpuTiled) {
				t.Fatalf("shape %+v: short-window kernels built: %v", sh, short)
			}
			conformance.Run(t, ref, dev, conformance.Options{Short: true, Only: []string{"matmul", "fused"}, QuantizedX: dev.QuantizesX})
		})
	}
}
