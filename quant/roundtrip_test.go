package quant_test

import (
	"math/rand/v2"
	"testing"

	"github.com/tabshard/tabshard/quant"
)

// roundTripBound is the largest relative RMS error Dequantize(Quantize(x))
// may show on randomWeights data (1% outliers at 8σ make block scales coarse);
// each is about 1.3× what the format gives.
var roundTripBound = map[quant.Type]float64{
	quant.F32: 0, quant.F16: 3e-4, quant.BF16: 2.5e-3,
	quant.Q8_0: 0.010, quant.Q8_K: 0.020, quant.Q6_K: 0.030,
	quant.Q5_0: 0.080, quant.Q5_1: 0.060, quant.Q5_K: 0.060,
	quant.Q4_0: 0.160, quant.Q4_1: 0.125, quant.Q4_K: 0.110,
	quant.Q3_K: 0.250, quant.Q2_K: 0.420,
}

func TestRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	const n = 4096
	x := randomWeights(r, n)
	for _, ty := range computeTypes {
		buf := make([]byte, mustRowBytes(ty, n))
		if err := quant.Quantize(ty, x, buf); err != nil {
			t.Fatalf("%s: %v", ty, err)
		}
		y := make([]float32, n)
		if err := quant.Dequantize(ty, buf, y); err != nil {
			t.Fatalf("%s: %v", ty, err)
		}
		e := relRMS(y, x)
		t.Logf("%-5s %.2f bits/weight, relative RMS error %.5f", ty, ty.BitsPerWeight(), e)
		if e > roundTripBound[ty] {
			t.Errorf("%s: relative RMS error %.5f above %.5f", ty, e, roundTripBound[ty])
		}
	}
}

// Degenerate blocks (all zero, constant, one spike, tiny values) must
// quantize without NaNs and come back close.
func TestRoundTripDegenerate(t *testing.T) {
	cases := map[string]func(i int) float32{
		"zero":     func(int) float32 { return 0 },
		"constant": func(int) float32 { return 0.75 },
		"negconst": func(int) float32 { return -2 },
		"spike": func(i int) float32 {
			if i%256 == 17 {
				return 100
			}
			return 0
		},
		"tiny": func(i int) float32 { return float32(i%7-3) * 1e-20 },
	}
	for name, f := range cases {
		x := make([]float32, 512)
		for i := range x {
			x[i] = f(i)
		}
		for _, ty := range computeTypes {
			buf := make([]byte, mustRowBytes(ty, len(x)))
			if err := quant.Quantize(ty, x, buf); err != nil {
				t.Fatal(err)
			}
			y := make([]float32, len(x))
			if err := quant.Dequantize(ty, buf, y); err != nil {
				t.Fatal(err)
			}
			for i := range y {
				if y[i] != y[i] {
					t.Fatalf("%s %s: NaN at %d", name, ty, i)
				}
			}
			if e := relRMS(y, x); e > 0.5 && name != "tiny" {
				t.Errorf("%s %s: relative RMS error %.4f", name, ty, e)
			}
		}
	}
}
