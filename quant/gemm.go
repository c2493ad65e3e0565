package quant

import "fmt"

// canAVX512 is set on amd64 CPUs with AVX-512F/VL; gemmAVX512 selects the
// AVX-512 tile kernel there (tests clear it to check the AVX2 kernel).
var canAVX512, gemmAVX512 bool

// MatMulF32 computes dst[j·dstStride+i] = Σ_k w[i·cols+k]·x[j·cols+k] for
// every weight row i < len(w)/cols and activation row j < len(x)/cols: the
// batched matmul's inner kernel, run on weight rows a caller has
// dequantized once (DequantizeRow) and reuses for every activation row.
//
// On amd64 with AVX2 and FMA it works on tiles of four weight rows by three
// activation rows, so each loaded vector feeds three or four fused
// multiply-adds; elsewhere (wasm, -tags purego) a scalar loop with the same
// tiling. Each output is accumulated in float32 the same way whichever tile
// or batch it falls in, so a row's result does not depend on the rows
// batched with it. It allocates nothing and returns an error, without
// writing, when the sizes do not fit.
func MatMulF32(w, x []float32, cols int, dst []float32, dstStride int) error {
	if cols <= 0 {
		return fmt.Errorf("quant: matmul: row width %d is not positive", cols)
	}
	if len(w)%cols != 0 || len(x)%cols != 0 {
		return fmt.Errorf("quant: matmul: %d weights and %d activations are not whole rows of %d", len(w), len(x), cols)
	}
	nw, nx := len(w)/cols, len(x)/cols
	if nw == 0 || nx == 0 {
		return nil
	}
	if dstStride < nw {
		return fmt.Errorf("quant: matmul: destination stride %d is narrower than %d weight rows", dstStride, nw)
	}
	if need := (nx-1)*dstStride + nw; len(dst) < need {
		return fmt.Errorf("quant: matmul: destination holds %d values, %d rows need %d", len(dst), nx, need)
	}
	matMulF32(w, x, cols, nw, nx, dst, dstStride)
	return nil
}

// matMulF32Generic is the portable kernel: tiles of two weight rows by two
// activation rows, each output summed in four interleaved lanes exactly as
// dotF32Generic sums it (which handles the remainders), so the grouping
// never changes a result.
func matMulF32Generic(w, x []float32, cols, nw, nx int, dst []float32, dstStride int) {
	j := 0
	for ; j+1 < nx; j += 2 {
		xa, xb := x[j*cols:(j+1)*cols], x[(j+1)*cols:(j+2)*cols]
		i := 0
		for ; i+1 < nw; i += 2 {
			wa, wb := w[i*cols:(i+1)*cols], w[(i+1)*cols:(i+2)*cols]
			aa, ab, ba, bb := dot2x2Generic(wa, wb, xa, xb)
			dst[j*dstStride+i], dst[j*dstStride+i+1] = aa, ba
			dst[(j+1)*dstStride+i], dst[(j+1)*dstStride+i+1] = ab, bb
		}
		if i < nw {
			wr := w[i*cols : (i+1)*cols]
			dst[j*dstStride+i] = dotF32Generic(wr, xa)
			dst[(j+1)*dstStride+i] = dotF32Generic(wr, xb)
		}
	}
	if j < nx {
		xr := x[j*cols : (j+1)*cols]
		for i := 0; i < nw; i++ {
			dst[j*dstStride+i] = dotF32Generic(w[i*cols:(i+1)*cols], xr)
		}
	}
}

// dot2x2Generic returns wa·xa, wa·xb, wb·xa, wb·xb, each with
// dotF32Generic's four lanes and order.
func dot2x2Generic(wa, wb, xa, xb []float32) (aa, ab, ba, bb float32) {
	n := len(wa)
	wb, xa, xb = wb[:n], xa[:n], xb[:n]
	var aa0, aa1, aa2, aa3, ab0, ab1, ab2, ab3 float32
	var ba0, ba1, ba2, ba3, bb0, bb1, bb2, bb3 float32
	k := 0
	for ; k+3 < n; k += 4 {
		p, q, r, s := wa[k:k+4], wb[k:k+4], xa[k:k+4], xb[k:k+4]
		aa0 += p[0] * r[0]
		aa1 += p[1] * r[1]
		aa2 += p[2] * r[2]
		aa3 += p[3] * r[3]
		ab0 += p[0] * s[0]
		ab1 += p[1] * s[1]
		ab2 += p[2] * s[2]
		ab3 += p[3] * s[3]
		ba0 += q[0] * r[0]
		ba1 += q[1] * r[1]
		ba2 += q[2] * r[2]
		ba3 += q[3] * r[3]
		bb0 += q[0] * s[0]
		bb1 += q[1] * s[1]
		bb2 += q[2] * s[2]
		bb3 += q[3] * s[3]
	}
	for ; k < n; k++ {
		aa0 += wa[k] * xa[k]
		ab0 += wa[k] * xb[k]
		ba0 += wb[k] * xa[k]
		bb0 += wb[k] * xb[k]
	}
	return (aa0 + aa1) + (aa2 + aa3), (ab0 + ab1) + (ab2 + ab3), (ba0 + ba1) + (ba2 + ba3), (bb0 + bb1) + (bb2 + bb3)
}
