package vmath

import (
	"math"
	"math/rand/v2"
	"testing"
)

// reference is the float64 sum SumExp approximates.
func reference(x []float32, top, floor float32) float64 {
	var s float64
	for _, v := range x {
		if v >= floor {
			s += math.Exp(float64(min(v, math.MaxFloat32)) - float64(top))
		}
	}
	return s
}

func normals(r *rand.Rand, n int, scale float64) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(r.NormFloat64() * scale)
	}
	return x
}

func maxOf(x []float32) float32 {
	top := float32(math.Inf(-1))
	for _, v := range x {
		if v := min(v, math.MaxFloat32); v > top {
			top = v
		}
	}
	return top
}

// Each term against math.Exp over the whole range a normaliser uses, and
// the sums of vocabulary-sized vectors against a float64 sum.
func TestSumExpAccuracy(t *testing.T) {
	for d := float32(-87); d <= 0; d += 0.001 {
		got, want := float64(expShifted(d, 0)), math.Exp(float64(d))
		if rel := math.Abs(got-want) / want; rel > 3e-7 {
			t.Fatalf("exp(%v) = %v, want %v (relative error %.2g)", d, got, want, rel)
		}
	}
	r := rand.New(rand.NewPCG(1, 2))
	for _, scale := range []float64{0.1, 3, 30, 1000} {
		for _, n := range []int{1, 31, 32, 33, 1000, 32000, 152064} {
			x := normals(r, n, scale)
			top := maxOf(x)
			floor := top - 40
			got, want := SumExp(x, top, floor), reference(x, top, floor)
			if rel := math.Abs(got-want) / want; rel > 2e-6 {
				t.Errorf("scale %v, %d values: %v, want %v (relative error %.2g)", scale, n, got, want, rel)
			}
		}
	}
}

// The assembly and the portable loop agree bit for bit, so a logprob does
// not depend on the node's CPU; NaN, ±Inf and values below the floor add
// nothing, +Inf counts as MaxFloat32.
func TestSumExpPortable(t *testing.T) {
	inf, nan := float32(math.Inf(1)), float32(math.NaN())
	r := rand.New(rand.NewPCG(5, 6))
	cases := [][]float32{
		normals(r, 32000, 3),
		normals(r, 4096+17, 20),
		append(normals(r, 61, 2), nan, -inf, inf, 5, math.MaxFloat32, nan, -inf, 0),
	}
	for ci, x := range cases {
		top := maxOf(x)
		floor := top - 40
		got := SumExp(x, top, floor)
		var lanes [Lanes]float32
		n := len(x) &^ (Lanes - 1)
		sumExpGeneric(x, 0, n, top, floor, &lanes)
		want := finishSum(x, n, top, floor, &lanes)
		if math.Float64bits(got) != math.Float64bits(want) {
			t.Errorf("case %d: %v (vectorised) != %v (portable)", ci, got, want)
		}
		if ref := reference(x, top, floor); math.Abs(got-ref)/ref > 2e-6 {
			t.Errorf("case %d: %v, want %v", ci, got, ref)
		}
	}
	if got := SumExp([]float32{nan, -inf, 1, 2}, 2, 1.5); got != 1 {
		t.Errorf("only the top value counts: %v", got)
	}
	if got := SumExp(nil, 0, 0); got != 0 {
		t.Errorf("empty: %v", got)
	}
}

func BenchmarkSumExp(b *testing.B) {
	x := normals(rand.New(rand.NewPCG(3, 4)), 32000, 3)
	top := maxOf(x)
	b.Run("vectorised", func(b *testing.B) {
		for b.Loop() {
			SumExp(x, top, top-40)
		}
	})
	b.Run("float64 math.Exp (baseline)", func(b *testing.B) {
		for b.Loop() {
			reference(x, top, top-40)
		}
	})
}
