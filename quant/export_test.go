package quant

// The scalar kernels, exported to the tests so they are checked on amd64
// too, where the vector ones normally run.
var GenericDot = map[Type]func([]byte, []float32) float32{
	F32:  func(row []byte, x []float32) float32 { w, _ := bytesAsF32(row, len(x)); return dotF32Generic(w, x) },
	F16:  dotF16Generic,
	BF16: dotBF16Generic,
	Q8_0: dotQ8_0Generic,
	Q4_0: dotQ4_0Generic,
	Q4_1: dotQ4_1Generic,
	Q5_0: dotQ5_0Generic,
	Q5_1: dotQ5_1Generic,
	Q2_K: dotQ2KGeneric,
	Q3_K: dotQ3KGeneric,
	Q4_K: dotQ4KGeneric,
	Q5_K: dotQ5KGeneric,
	Q6_K: dotQ6KGeneric,
}

// DequantF16Generic is the table-driven f16 conversion non-F16C CPUs run.
var DequantF16Generic = dequantF16Generic

// GenericDequant holds the scalar dequantizers that have vector twins.
var GenericDequant = map[Type]func([]byte, []float32){
	F16:  dequantF16Generic,
	Q8_0: dequantQ8_0Generic,
	Q4_0: dequantQ4_0Generic,
	Q2_K: dequantQ2KGeneric,
	Q3_K: dequantQ3KGeneric,
	Q4_K: dequantQ4KGeneric,
	Q5_K: dequantQ5KGeneric,
	Q6_K: dequantQ6KGeneric,
}
