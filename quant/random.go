package quant

import "math/rand/v2"

// RandomRows is a rows×cols matrix of format t for benchmarks: N(0, 0.02²)
// values quantized row by row. Only 64 distinct rows are drawn and then
// repeated, because quantizing a 7B model's worth of random rows would
// take longer than the benchmark; the kernels read every byte either way.
func RandomRows(t Type, rows, cols int, rng *rand.Rand) ([]byte, error) {
	rb, err := t.RowBytes(cols)
	if err != nil {
		return nil, err
	}
	const distinct = 64
	base := make([]byte, rb*distinct)
	f := make([]float32, cols)
	for r := 0; r < distinct; r++ {
		for i := range f {
			f[i] = float32(rng.NormFloat64()) * 0.02
		}
		if err := Quantize(t, f, base[r*rb:(r+1)*rb]); err != nil {
			return nil, err
		}
	}
	out := make([]byte, rb*rows)
	for r := 0; r < rows; r++ {
		k := r % distinct
		copy(out[r*rb:], base[k*rb:(k+1)*rb])
	}
	return out, nil
}
