package quant

import "golang.org/x/sys/cpu"

// Vector kernels in dot_amd64.s. They need AVX2 and FMA (x/sys/cpu also
// checks that the OS saves the YMM registers) and, for half floats, F16C,
// which x/sys/cpu does not report, so cpuid leaf 1 is read directly.
var (
	hasAVX2FMA = cpu.X86.HasAVX2 && cpu.X86.HasFMA
	hasF16C    = hasAVX2FMA && cpuidECX1()&(1<<29) != 0
)

//go:noescape
func dotF32AVX2(a, b *float32, n int) float32

//go:noescape
func dotF16AVX2(h *byte, x *float32, n int) float32

//go:noescape
func dotQ8_0AVX2(row *byte, x *float32, blocks int) float32

func cpuidECX1() uint32

func dotF32(a, b []float32) float32 {
	if hasAVX2FMA {
		return dotF32AVX2(&a[0], &b[0], len(a))
	}
	return dotF32Generic(a, b)
}

func dotF16(row []byte, x []float32) float32 {
	n := len(x)
	if hasF16C && n > 0 && len(row) >= 2*n {
		return dotF16AVX2(&row[0], &x[0], n)
	}
	return dotF16Generic(row, x)
}

func dotQ8_0(row []byte, x []float32) float32 {
	nb := len(x) / 32
	if hasF16C && nb > 0 && len(row) >= 34*nb {
		return dotQ8_0AVX2(&row[0], &x[0], nb)
	}
	return dotQ8_0Generic(row, x)
}
