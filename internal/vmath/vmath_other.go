//go:build !amd64 || purego

package vmath

func vectorised(x []float32, top, floor float32, lanes *[Lanes]float32) int {
	n := len(x) &^ (Lanes - 1)
	sumExpGeneric(x, 0, n, top, floor, lanes)
	return n
}

func expIntoVectorised(dst, x []float32, scale, top float32) int { return 0 }

func maxVectorised(x []float32, m *[8]float32) int { return 0 }
