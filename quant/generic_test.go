package quant_test

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/tabshard/tabshard/quant"
)

// The scalar kernels (what wasm, non-amd64 and pre-AVX2 CPUs run) agree with
// the vector ones and with float64, on rows that are 4-aligned for F32.
func TestGenericKernels(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	for _, n := range []int{256, 512, 4096, 256 * 7} {
		w, x := randomWeights(r, n), randomWeights(r, n)
		for ty, generic := range quant.GenericDot {
			row := make([]byte, mustRowBytes(ty, n))
			if err := quant.Quantize(ty, w, row); err != nil {
				t.Fatal(err)
			}
			deq := make([]float32, n)
			if err := quant.Dequantize(ty, row, deq); err != nil {
				t.Fatal(err)
			}
			want, scale := dot64(deq, x), absDot64(deq, x)
			for name, got := range map[string]float32{"generic": generic(row, x), "dispatch": quant.DotRow(ty, row, x)} {
				if diff := math.Abs(float64(got) - want); diff > 2e-6*scale {
					t.Errorf("%s %s n=%d: %v, float64 %v (%.3g of Σ|w·x|)", ty, name, n, got, want, diff/scale)
				}
			}
		}
	}
}
