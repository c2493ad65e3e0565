//go:build !amd64

package quant

// Without a vector path these are the scalar loops.

func dotF32(a, b []float32) float32           { return dotF32Generic(a, b) }
func dotF16(row []byte, x []float32) float32  { return dotF16Generic(row, x) }
func dotQ8_0(row []byte, x []float32) float32 { return dotQ8_0Generic(row, x) }
