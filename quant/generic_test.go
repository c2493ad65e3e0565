package quant_test

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/tabshard/tabshard/quant"
)

// The scalar kernels (what wasm and non-amd64 run) agree with the vector
// ones and with float64.
func TestGenericKernels(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	for _, n := range []int{32, 64, 96, 4096, 32 * 37} {
		w, x := randomWeights(r, n), randomWeights(r, n)
		for _, c := range []struct {
			ty      quant.Type
			generic func([]byte, []float32) float32
		}{{quant.F16, quant.DotF16Generic}, {quant.Q8_0, quant.DotQ8_0Generic}} {
			row := make([]byte, mustRowBytes(c.ty, n))
			if err := quant.Quantize(c.ty, w, row); err != nil {
				t.Fatal(err)
			}
			deq := make([]float32, n)
			if err := quant.Dequantize(c.ty, row, deq); err != nil {
				t.Fatal(err)
			}
			want, scale := dot64(deq, x), absDot64(deq, x)
			for name, got := range map[string]float32{"generic": c.generic(row, x), "dispatch": quant.DotRow(c.ty, row, x)} {
				if math.Abs(float64(got)-want) > 2e-6*scale {
					t.Errorf("%s %s n=%d: %v, float64 %v", c.ty, name, n, got, want)
				}
			}
		}
		got, want := quant.DotF32Generic(w, x), dot64(w, x)
		if math.Abs(float64(got)-want) > 2e-6*absDot64(w, x) {
			t.Errorf("DotF32Generic n=%d: %v, float64 %v", n, got, want)
		}
	}
}
