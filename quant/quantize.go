package quant

// Quantize encodes len(src) float32 weights as type t into dst, which must be
// exactly the size of that many weights. For every supported format the
// bytes equal llama.cpp's reference quantizer (quantize_row_*_ref, i.e.
// llama-quantize without an importance matrix).
func Quantize(t Type, src []float32, dst []byte) error {
	if err := checkRow("quantize", t, dst, len(src)); err != nil {
		return err
	}
	switch t {
	case F32:
		quantF32(src, dst)
	case F16:
		quantF16(src, dst)
	case BF16:
		quantBF16(src, dst)
	case Q8_0:
		quantQ8_0(src, dst)
	case Q4_0:
		quantQ4_0(src, dst)
	case Q4_1:
		quantQ4_1(src, dst)
	case Q5_0:
		quantQ5_0(src, dst)
	case Q5_1:
		quantQ5_1(src, dst)
	case Q2_K:
		quantQ2K(src, dst)
	case Q3_K:
		quantQ3K(src, dst)
	case Q4_K:
		quantQ4K(src, dst)
	case Q5_K:
		quantQ5K(src, dst)
	case Q6_K:
		quantQ6K(src, dst)
	case Q8_K:
		quantQ8K(src, dst)
	default:
		return errUnsupported("quantize", t)
	}
	return nil
}
