package quant_test

import (
	"math"
	"math/rand/v2"

	"github.com/tabshard/tabshard/quant"
)

// computeTypes are the formats with full support.
var computeTypes = []quant.Type{
	quant.F32, quant.F16, quant.BF16, quant.Q8_0, quant.Q4_0, quant.Q4_1, quant.Q5_0, quant.Q5_1,
	quant.Q2_K, quant.Q3_K, quant.Q4_K, quant.Q5_K, quant.Q6_K, quant.Q8_K,
}

// randomWeights draws n weights shaped like a trained layer: mostly
// gaussian, with a few outliers and some exact zeros.
func randomWeights(r *rand.Rand, n int) []float32 {
	x := make([]float32, n)
	for i := range x {
		switch v := r.Float64(); {
		case v < 0.01:
			x[i] = float32(r.NormFloat64() * 8)
		case v < 0.02:
			x[i] = 0
		default:
			x[i] = float32(r.NormFloat64())
		}
	}
	return x
}

// relRMS is ‖a−b‖/‖b‖ in float64.
func relRMS(a, b []float32) float64 {
	var num, den float64
	for i := range b {
		d := float64(a[i]) - float64(b[i])
		num += d * d
		den += float64(b[i]) * float64(b[i])
	}
	if den == 0 {
		return math.Sqrt(num)
	}
	return math.Sqrt(num / den)
}

func mustRowBytes(t quant.Type, n int) int {
	b, err := t.RowBytes(n)
	if err != nil {
		panic(err)
	}
	return b
}
