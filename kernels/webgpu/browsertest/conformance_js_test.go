//go:build js

package browsertest

import (
	"testing"

	"github.com/tabshard/tabshard/kernels/conformance"
	"github.com/tabshard/tabshard/kernels/cpu"
	"github.com/tabshard/tabshard/kernels/webgpu"
)

func TestConformance(t *testing.T) {
	// X: XInt8 so that the integer block dots run here too whenever the
	// start-up timing picks the tiled matvec (a browser's default is f32).
	dev, err := webgpu.New(webgpu.Options{X: webgpu.XInt8})
	if err != nil {
		t.Fatalf("webgpu.New: %v", err)
	}
	defer dev.Close()
	t.Logf("device: %s, matrix shape %+v, start-up timing %v", dev.Name(), dev.MatShape(), dev.TuneLog())
	ref, err := cpu.New(1)
	if err != nil {
		t.Fatal(err)
	}
	defer ref.Close()
	conformance.Run(t, ref, dev, conformance.Options{Short: true, QuantizedX: dev.QuantizesX})
	small, err := webgpu.New(webgpu.Options{MaxBinding: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer small.Close()
	conformance.RunWindowed(t, ref, small, conformance.Options{QuantizedX: small.QuantizesX})
}
