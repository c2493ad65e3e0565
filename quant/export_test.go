package quant

// The scalar kernels, exported to the tests so they are checked on amd64
// too, where the vector ones normally run.
var GenericDot = map[Type]func([]byte, []float32) float32{
	F32:  func(row []byte, x []float32) float32 { w, _ := bytesAsF32(row, len(x)); return dotF32Generic(w, x) },
	F16:  dotF16Generic,
	Q8_0: dotQ8_0Generic,
	Q4_0: dotQ4_0Generic,
	Q2_K: dotQ2KGeneric,
	Q3_K: dotQ3KGeneric,
	Q4_K: dotQ4KGeneric,
	Q5_K: dotQ5KGeneric,
	Q6_K: dotQ6KGeneric,
}
