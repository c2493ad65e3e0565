package vmath

import "math"

// Max returns the largest value of x that is not NaN (+Inf included), -Inf
// when there is none. When the largest values are zeros of both signs it
// may return either.
func Max(x []float32) float32 {
	m := [8]float32{}
	for i := range m {
		m[i] = float32(math.Inf(-1))
	}
	n := maxVectorised(x, &m)
	top := float32(math.Inf(-1))
	for _, v := range m {
		if v > top {
			top = v
		}
	}
	for _, v := range x[n:] {
		if v > top { // never NaN
			top = v
		}
	}
	return top
}
