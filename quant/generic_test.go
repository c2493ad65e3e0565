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

// The vector dequantizers are bit-identical to the scalar ones, on random
// block bytes (any scale bit pattern, NaN and Inf included) and on real
// quantized data.
func TestDequantizeKernelsMatch(t *testing.T) {
	r := rand.New(rand.NewPCG(19, 20))
	for ty, generic := range quant.GenericDequant {
		n := 256 * 24
		raw := make([]byte, mustRowBytes(ty, n))
		for i := range raw {
			raw[i] = byte(r.Uint32())
		}
		quantized := make([]byte, len(raw))
		if err := quant.Quantize(ty, randomWeights(r, n), quantized); err != nil {
			t.Fatal(err)
		}
		for name, src := range map[string][]byte{"random bytes": raw, "quantized": quantized} {
			fast, slow := make([]float32, n), make([]float32, n)
			quant.DequantizeRow(ty, src, fast)
			generic(src, slow)
			for i := range fast {
				a, b := fast[i], slow[i]
				if math.Float32bits(a) != math.Float32bits(b) && !(a != a && b != b) {
					t.Fatalf("%s %s: value %d: vector %v (%#08x), scalar %v (%#08x)", ty, name, i, a, math.Float32bits(a), b, math.Float32bits(b))
				}
			}
		}
	}
}
