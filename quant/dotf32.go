package quant

import "unsafe"

// DotF32 returns Σ a[i]·b[i] over min(len(a), len(b)) elements. On amd64
// with AVX2 and FMA it runs a vector loop (fused multiply-adds, eight
// lanes, so rounding differs from the scalar loop in the last bits);
// elsewhere, including wasm, a scalar loop with four accumulators.
func DotF32(a, b []float32) float32 {
	n := min(len(a), len(b))
	if n == 0 {
		return 0
	}
	return dotF32(a[:n], b[:n])
}

func dotF32Generic(a, b []float32) float32 {
	n := min(len(a), len(b))
	a, b = a[:n], b[:n]
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+3 < n; i += 4 {
		aa, bb := a[i:i+4], b[i:i+4]
		s0 += aa[0] * bb[0]
		s1 += aa[1] * bb[1]
		s2 += aa[2] * bb[2]
		s3 += aa[3] * bb[3]
	}
	for ; i < n; i++ {
		s0 += a[i] * b[i]
	}
	return (s0 + s1) + (s2 + s3)
}

// littleEndian is true where float32 bytes in memory are in GGUF's order,
// so an F32 row can be read in place.
var littleEndian = func() bool {
	v := uint16(1)
	return *(*byte)(unsafe.Pointer(&v)) == 1
}()

// bytesAsF32 views an F32 row as []float32 without copying when the
// platform is little-endian and the bytes are 4-aligned.
func bytesAsF32(row []byte, n int) ([]float32, bool) {
	if !littleEndian || n == 0 || len(row) < 4*n || uintptr(unsafe.Pointer(&row[0]))%4 != 0 {
		return nil, false
	}
	return unsafe.Slice((*float32)(unsafe.Pointer(&row[0])), n), true
}

// AxpyF32 adds a·x[i] to y[i] for i < min(len(x), len(y)) (attention's
// probability-weighted sum of value rows). On amd64 with AVX2 and FMA the
// multiply-add is fused.
func AxpyF32(y []float32, a float32, x []float32) {
	n := min(len(x), len(y))
	if n == 0 {
		return
	}
	axpy(y[:n], a, x[:n])
}

func axpyGeneric(y []float32, a float32, x []float32) {
	x = x[:len(y)]
	for i := range y {
		y[i] += a * x[i]
	}
}
