package quant

import (
	"fmt"
	"math"
)

// Dot returns Σ w[i]·x[i] over the len(x) weights of type t stored in row,
// checking that the sizes agree and the format is supported.
func Dot(t Type, row []byte, x []float32) (float32, error) {
	if err := checkRow("dot", t, row, len(x)); err != nil {
		return 0, err
	}
	return DotRow(t, row, x), nil
}

// MatVec computes dst[r] = Σ_i W[r][i]·x[i] for the len(dst) rows of
// len(x) weights of type t stored back to back in w.
func MatVec(t Type, w []byte, x, dst []float32) error {
	if !Supported(t) {
		return errUnsupported("matvec", t)
	}
	rb, err := t.RowBytes(len(x))
	if err != nil {
		return fmt.Errorf("quant: matvec: %w", err)
	}
	if len(w) != rb*len(dst) {
		return fmt.Errorf("quant: matvec: %d rows of %d %s weights need %d bytes, got %d", len(dst), len(x), t, rb*len(dst), len(w))
	}
	for r := range dst {
		dst[r] = DotRow(t, w[r*rb:(r+1)*rb], x)
	}
	return nil
}

// DotRow is Dot without checks: the hot path a CPU matmul calls once per
// weight row. The caller guarantees (for example with CheckRow, once per
// matrix) that row holds exactly len(x) weights of a supported type t. It
// does not allocate. With mismatched sizes it sums over the whole blocks
// both slices hold (it never panics); an unsupported t returns NaN rather
// than a number that could pass for a result. Like everything in this
// package it keeps no state and is safe for concurrent use.
//
// The result is the dot product of the dequantized row with x, accumulated
// in float32 per block (scales applied once per group), so it differs from
// a float64 dot of Dequantize(row) by rounding only.
func DotRow(t Type, row []byte, x []float32) float32 {
	switch t {
	case F32:
		return dotF32Bytes(row, x)
	case F16:
		return dotF16(row, x)
	case BF16:
		return dotBF16(row, x)
	case Q8_0:
		return dotQ8_0(row, x)
	case Q4_0:
		return dotQ4_0(row, x)
	case Q4_1:
		return dotQ4_1(row, x)
	case Q5_0:
		return dotQ5_0(row, x)
	case Q5_1:
		return dotQ5_1(row, x)
	case Q2_K:
		return dotQ2K(row, x)
	case Q3_K:
		return dotQ3K(row, x)
	case Q4_K:
		return dotQ4K(row, x)
	case Q5_K:
		return dotQ5K(row, x)
	case Q6_K:
		return dotQ6K(row, x)
	case Q8_K:
		return dotQ8K(row, x)
	}
	return float32(math.NaN())
}
