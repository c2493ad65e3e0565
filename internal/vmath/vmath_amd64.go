//go:build !purego

package vmath

import "golang.org/x/sys/cpu"

var hasAVX2 = cpu.X86.HasAVX2

// sumExpAVX2 adds the terms of the first n values (n a positive multiple of
// Lanes) into lanes, as sumExpGeneric does.
//
//go:noescape
func sumExpAVX2(x *float32, n int, top, floor float32, lanes *[Lanes]float32)

// vectorised sums the longest prefix of x that is a multiple of Lanes and
// returns its length.
func vectorised(x []float32, top, floor float32, lanes *[Lanes]float32) int {
	n := len(x) &^ (Lanes - 1)
	if n == 0 {
		return 0
	}
	if hasAVX2 {
		sumExpAVX2(&x[0], n, top, floor, lanes)
	} else {
		sumExpGeneric(x, 0, n, top, floor, lanes)
	}
	return n
}

// expIntoAVX2 is expIntoGeneric over the first n values (n a positive
// multiple of 8).
//
//go:noescape
func expIntoAVX2(dst, x *float32, n int, scale, top float32)

// expIntoVectorised fills the longest prefix of dst that is a multiple of 8
// and returns its length.
func expIntoVectorised(dst, x []float32, scale, top float32) int {
	n := len(dst) &^ 7
	if n == 0 || !hasAVX2 {
		return 0
	}
	expIntoAVX2(&dst[0], &x[0], n, scale, top)
	return n
}

// maxAVX2 folds the first n values of x (n a positive multiple of 32) into
// the eight running maxima m, NaN skipped.
//
//go:noescape
func maxAVX2(x *float32, n int, m *[8]float32)

func maxVectorised(x []float32, m *[8]float32) int {
	n := len(x) &^ 31
	if n == 0 || !hasAVX2 {
		return 0
	}
	maxAVX2(&x[0], n, m)
	return n
}
