//go:build !amd64 || purego

package quant

func matMulF32(w, x []float32, cols, nw, nx int, dst []float32, dstStride int) {
	matMulF32Generic(w, x, cols, nw, nx, dst, dstStride)
}
