package quant

// DotRows sets dst[r] to the dot product of weight row r with x for the
// len(dst) rows of len(x) weights of type t stored back to back in w: a
// matrix-vector product (the decode matmul) in one call, so the format is
// dispatched once per call rather than once per row. Like DotRow it does not
// check: the caller guarantees (CheckRow, once per matrix) that each row
// holds exactly len(x) weights of a supported t. With sizes that do not fit
// it computes only the rows w holds whole and leaves the rest of dst alone;
// an unsupported t gives NaN. It never panics and does not allocate.
//
// On amd64 CPUs with AVX-512 the formats that dominate decode (F16, Q8_0,
// Q2_K, Q4_K, Q6_K) use sixteen-lane kernels, whose sums may differ from
// DotRow's in the last bits; every call on one machine computes a row the
// same way, and results stay within DotRow's rounding of the float64 dot.
func DotRows(t Type, w []byte, x, dst []float32) {
	rb, err := t.RowBytes(len(x))
	if err != nil || rb == 0 || len(x) == 0 {
		for r := range dst {
			dst[r] = DotRow(t, nil, x)
		}
		return
	}
	n := min(len(dst), len(w)/rb)
	dotRows(t, w[:n*rb], rb, x, dst[:n])
}

func dotRowsGeneric(t Type, w []byte, rb int, x, dst []float32) {
	for r := range dst {
		dst[r] = DotRow(t, w[r*rb:(r+1)*rb], x)
	}
}
