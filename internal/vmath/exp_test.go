package vmath

import (
	"math"
	"math/rand/v2"
	"testing"
)

// ExpInto against math.Exp, its assembly against the portable loop bit for
// bit, and its zeros: below e^-87, NaN and -Inf.
func TestExpInto(t *testing.T) {
	inf, nan := float32(math.Inf(1)), float32(math.NaN())
	r := rand.New(rand.NewPCG(7, 8))
	for _, n := range []int{0, 1, 7, 8, 9, 1000, 32000 + 5} {
		x := normals(r, n, 10)
		if n > 8 {
			x[3], x[5], x[8] = nan, -inf, -1e30
		}
		for _, scale := range []float32{1, 0.5, 1.7} {
			top := float32(math.Inf(-1))
			for _, v := range x {
				if p := v * scale; p > top {
					top = p
				}
			}
			got := make([]float32, n)
			ExpInto(got, x, scale, top)
			want := make([]float32, n)
			expIntoGeneric(want, x, scale, top)
			for i := range got {
				if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
					t.Fatalf("%d values, scale %v: [%d] %v (vectorised) != %v (portable)", n, scale, i, got[i], want[i])
				}
				d := float64(float32(x[i]*scale) - top)
				ref := 0.0
				if d >= -87 {
					ref = math.Exp(d)
				}
				if math.Abs(float64(got[i])-ref) > 3e-7*ref {
					t.Fatalf("exp(%v) = %v, want %v", d, got[i], ref)
				}
			}
		}
	}
}

func BenchmarkExpInto(b *testing.B) {
	x := normals(rand.New(rand.NewPCG(3, 4)), 32000, 3)
	top := maxOf(x)
	dst := make([]float32, len(x))
	b.Run("vectorised", func(b *testing.B) {
		for b.Loop() {
			ExpInto(dst, x, 1, top)
		}
	})
	w := make([]float64, len(x))
	b.Run("float64 math.Exp (baseline)", func(b *testing.B) {
		for b.Loop() {
			for i, v := range x {
				w[i] = math.Exp(float64(v) - float64(top))
			}
		}
	})
}

// Max skips NaN, keeps ±Inf, and agrees with a plain loop at every length.
func TestMax(t *testing.T) {
	inf, nan := float32(math.Inf(1)), float32(math.NaN())
	r := rand.New(rand.NewPCG(9, 10))
	for n := 0; n < 300; n++ {
		x := normals(r, n, 5)
		for i := 0; i < n; i += 7 {
			x[i] = nan
		}
		want := float32(math.Inf(-1))
		for _, v := range x {
			if v > want {
				want = v
			}
		}
		if got := Max(x); got != want {
			t.Fatalf("%d values: %v, want %v", n, got, want)
		}
	}
	big := normals(r, 32000, 3)
	big[31999] = inf
	if got := Max(big); got != inf {
		t.Errorf("+Inf last: %v", got)
	}
	if got := Max([]float32{nan, nan, -inf}); !math.IsInf(float64(got), -1) {
		t.Errorf("no number: %v", got)
	}
}
