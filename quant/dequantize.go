package quant

import "math"

// Dequantize converts len(dst) weights of type t, stored in src, to float32.
// len(src) must be exactly the size of len(dst) weights. The values are
// bit-identical to llama.cpp's dequantize_row_* for the same bytes (C
// compiled without FMA contraction, as ggml-base is by default), on every
// architecture and with or without the vector kernels.
func Dequantize(t Type, src []byte, dst []float32) error {
	if err := checkRow("dequantize", t, src, len(dst)); err != nil {
		return err
	}
	DequantizeRow(t, src, dst)
	return nil
}

// DequantizeRow is Dequantize without checks, for hot loops that validated
// the sizes once (CheckRow). With mismatched sizes it converts only the
// whole blocks both slices hold and leaves the rest of dst alone (it never
// panics); an unsupported t fills dst with NaN so a missed check cannot pass
// for real data.
func DequantizeRow(t Type, src []byte, dst []float32) {
	switch t {
	case F32:
		dequantF32(src, dst)
	case F16:
		dequantF16(src, dst)
	case BF16:
		dequantBF16(src, dst)
	case Q8_0:
		dequantQ8_0(src, dst)
	case Q4_0:
		dequantQ4_0(src, dst)
	case Q4_1:
		dequantQ4_1(src, dst)
	case Q5_0:
		dequantQ5_0(src, dst)
	case Q5_1:
		dequantQ5_1(src, dst)
	case Q2_K:
		dequantQ2K(src, dst)
	case Q3_K:
		dequantQ3K(src, dst)
	case Q4_K:
		dequantQ4K(src, dst)
	case Q5_K:
		dequantQ5K(src, dst)
	case Q6_K:
		dequantQ6K(src, dst)
	case Q8_K:
		dequantQ8K(src, dst)
	default:
		nan := float32(math.NaN())
		for i := range dst {
			dst[i] = nan
		}
	}
}
