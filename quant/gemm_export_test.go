package quant

// SetGemmAVX512 switches the AVX-512 tile kernel off or back on (where the
// CPU has it) so tests and benchmarks can compare both paths; it returns the
// previous setting.
func SetGemmAVX512(on bool) bool {
	old := gemmAVX512
	gemmAVX512 = on && canAVX512
	return old
}
