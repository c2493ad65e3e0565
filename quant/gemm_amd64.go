//go:build !purego

package quant

import "golang.org/x/sys/cpu"

// gemm4x4AVX512 needs AVX-512F and VL (x/sys/cpu also checks that the OS
// saves the ZMM registers).
func init() {
	canAVX512 = hasAVX2FMA && cpu.X86.HasAVX512F && cpu.X86.HasAVX512VL
	gemmAVX512 = canAVX512
}

// The tile kernels in gemm_amd64.s write the sums of four weight rows
// (wstride bytes apart) against three or four activation rows over n
// values to out[j*4+i]. n is a positive multiple of 8 (AVX2) or 16
// (AVX-512).

//go:noescape
func gemm4x3AVX2(w *float32, wstride int, x0, x1, x2 *float32, n int, out *float32)

//go:noescape
func gemm4x4AVX512(w *float32, wstride int, x0, x1, x2, x3 *float32, n int, out *float32)

// matMulF32 tiles four weight rows by three (AVX2) or four (AVX-512)
// activation rows. A short last group of activation rows repeats its last
// row (the extra sums are dropped), so every output is computed by the same
// instruction sequence whatever its position in the batch. The kernel is
// chosen from the CPU and the width alone. Weight rows beyond a multiple of
// four take DotF32; a width that is not a multiple of the vector length
// adds its last few products after the vector part.
func matMulF32(w, x []float32, cols, nw, nx int, dst []float32, dstStride int) {
	if !hasAVX2FMA || cols < 8 {
		matMulF32Generic(w, x, cols, nw, nx, dst, dstStride)
		return
	}
	tx, nv := 3, cols&^7
	if gemmAVX512 && cols%16 == 0 {
		tx, nv = 4, cols
	}
	var out [16]float32
	var xp [4]*float32
	nw4 := nw &^ 3
	for j := 0; j < nx; j += tx {
		m := min(tx, nx-j)
		for jj := range tx {
			xp[jj] = &x[(j+min(jj, m-1))*cols]
		}
		for i := 0; i < nw4; i += 4 {
			if tx == 4 {
				gemm4x4AVX512(&w[i*cols], 4*cols, xp[0], xp[1], xp[2], xp[3], nv, &out[0])
			} else {
				gemm4x3AVX2(&w[i*cols], 4*cols, xp[0], xp[1], xp[2], nv, &out[0])
			}
			for jj := 0; jj < m; jj++ {
				o := out[jj*4 : jj*4+4]
				if nv < cols {
					xr := x[(j+jj)*cols : (j+jj+1)*cols]
					for ii := range 4 {
						wr := w[(i+ii)*cols : (i+ii+1)*cols]
						s := o[ii]
						for k := nv; k < cols; k++ {
							s += wr[k] * xr[k]
						}
						o[ii] = s
					}
				}
				copy(dst[(j+jj)*dstStride+i:(j+jj)*dstStride+i+4], o)
			}
		}
		for i := nw4; i < nw; i++ {
			wr := w[i*cols : (i+1)*cols]
			for jj := 0; jj < m; jj++ {
				dst[(j+jj)*dstStride+i] = DotF32(wr, x[(j+jj)*cols:(j+jj+1)*cols])
			}
		}
	}
}
