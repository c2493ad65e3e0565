package quant

import "fmt"

// MatMulQ is the batched matmul on stored weights: for the weight rows of
// type t held back to back in w (each cols weights), it sets
// dst[j·dstStride+i] = Σ_k W[i][k]·x[j·cols+k] for every weight row i and
// activation row j < len(x)/cols. It dequantizes the rows into scratch
// (which must hold rows·cols values; F32 rows are read in place) with
// values bit-identical to DequantizeRow (AVX-512 kernels for F16, Q8_0,
// Q2_K, Q4_K and Q6_K where the CPU has them), then multiplies them with
// MatMulF32, so each weight is decoded once however many activation rows
// there are. A caller bounds rows·cols so scratch stays in cache and calls
// it once per panel of rows. It returns an error, without writing dst, when
// the sizes do not fit or t is not supported.
func MatMulQ(t Type, w []byte, x []float32, cols int, dst []float32, dstStride int, scratch []float32) error {
	if !Supported(t) {
		return errUnsupported("matmul", t)
	}
	if cols <= 0 {
		return fmt.Errorf("quant: matmul: row width %d is not positive", cols)
	}
	rb, err := t.RowBytes(cols)
	if err != nil {
		return fmt.Errorf("quant: matmul: %w", err)
	}
	if rb == 0 || len(w)%rb != 0 {
		return fmt.Errorf("quant: matmul: %d bytes are not whole %s rows of %d weights (%d bytes each)", len(w), t, cols, rb)
	}
	rows := len(w) / rb
	var wf []float32
	if t == F32 {
		if v, ok := bytesAsF32(w, rows*cols); ok {
			wf = v
		}
	}
	if wf == nil {
		if len(scratch) < rows*cols {
			return fmt.Errorf("quant: matmul: scratch holds %d values, %d rows of %d need %d", len(scratch), rows, cols, rows*cols)
		}
		wf = scratch[:rows*cols]
		dequantRows(t, w, wf)
	}
	return MatMulF32(wf, x, cols, dst, dstStride)
}
