//go:build !amd64 || purego

package quant

// Without vector kernels (wasm, arm64 and every other non-amd64 target, or
// amd64 built with -tags purego) the hot paths are the scalar loops.

func axpy(y []float32, a float32, x []float32) { axpyGeneric(y, a, x) }
func dotF32(a, b []float32) float32            { return dotF32Generic(a, b) }
func dotF16(row []byte, x []float32) float32   { return dotF16Generic(row, x) }
func dotBF16(row []byte, x []float32) float32  { return dotBF16Generic(row, x) }
func dotQ8_0(row []byte, x []float32) float32  { return dotQ8_0Generic(row, x) }
func dotQ4_0(row []byte, x []float32) float32  { return dotQ4_0Generic(row, x) }
func dotQ4_1(row []byte, x []float32) float32  { return dotQ4_1Generic(row, x) }
func dotQ5_0(row []byte, x []float32) float32  { return dotQ5_0Generic(row, x) }
func dotQ5_1(row []byte, x []float32) float32  { return dotQ5_1Generic(row, x) }
func dotQ2K(row []byte, x []float32) float32   { return dotQ2KGeneric(row, x) }
func dotQ3K(row []byte, x []float32) float32   { return dotQ3KGeneric(row, x) }
func dotQ4K(row []byte, x []float32) float32   { return dotQ4KGeneric(row, x) }
func dotQ5K(row []byte, x []float32) float32   { return dotQ5KGeneric(row, x) }
func dotQ6K(row []byte, x []float32) float32   { return dotQ6KGeneric(row, x) }

func dequantF16(src []byte, dst []float32)  { dequantF16Generic(src, dst) }
func dequantQ8_0(src []byte, dst []float32) { dequantQ8_0Generic(src, dst) }
func dequantQ4_0(src []byte, dst []float32) { dequantQ4_0Generic(src, dst) }
func dequantQ2K(src []byte, dst []float32)  { dequantQ2KGeneric(src, dst) }
func dequantQ3K(src []byte, dst []float32)  { dequantQ3KGeneric(src, dst) }
func dequantQ4K(src []byte, dst []float32)  { dequantQ4KGeneric(src, dst) }
func dequantQ5K(src []byte, dst []float32)  { dequantQ5KGeneric(src, dst) }
func dequantQ6K(src []byte, dst []float32)  { dequantQ6KGeneric(src, dst) }
