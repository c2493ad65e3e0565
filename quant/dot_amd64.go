package quant

import "golang.org/x/sys/cpu"

// Vector kernels in dot_amd64.s (float types, Q8_0) and dotq_amd64.s (the
// other block formats). They need AVX2 and FMA (x/sys/cpu also checks that
// the OS saves the YMM registers) and F16C for the half-precision scales,
// which x/sys/cpu does not report, so cpuid leaf 1 is read directly. Every
// kernel has a scalar twin in Go (the *Generic functions) that other
// architectures, wasm and older x86 CPUs run.
var (
	hasAVX2FMA = cpu.X86.HasAVX2 && cpu.X86.HasFMA
	hasF16C    = hasAVX2FMA && cpuidECX1()&(1<<29) != 0
)

func cpuidECX1() uint32

//go:noescape
func dotF32AVX2(a, b *float32, n int) float32

//go:noescape
func dotF16AVX2(h *byte, x *float32, n int) float32

// The block kernels take whole blocks: row holds blocks·BlockBytes bytes and
// x blocks·BlockElems values.

//go:noescape
func dotQ8_0AVX2(row *byte, x *float32, blocks int) float32

//go:noescape
func dotQ4_0AVX2(row *byte, x *float32, blocks int) float32

//go:noescape
func dotQ2KAVX2(row *byte, x *float32, blocks int) float32

//go:noescape
func dotQ3KAVX2(row *byte, x *float32, blocks int) float32

//go:noescape
func dotQ4KAVX2(row *byte, x *float32, blocks int) float32

//go:noescape
func dotQ5KAVX2(row *byte, x *float32, blocks int) float32

//go:noescape
func dotQ6KAVX2(row *byte, x *float32, blocks int) float32

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

// blockKernel runs an assembly block kernel over row·x when the CPU has
// it and the sizes hold whole blocks, else the scalar loop.
func blockKernel(row []byte, x []float32, elems, bytes int,
	asm func(*byte, *float32, int) float32, generic func([]byte, []float32) float32) float32 {
	nb := len(x) / elems
	if hasF16C && nb > 0 && len(row) >= bytes*nb {
		return asm(&row[0], &x[0], nb)
	}
	return generic(row, x)
}

func dotQ8_0(row []byte, x []float32) float32 {
	return blockKernel(row, x, 32, 34, dotQ8_0AVX2, dotQ8_0Generic)
}

func dotQ4_0(row []byte, x []float32) float32 {
	return blockKernel(row, x, 32, 18, dotQ4_0AVX2, dotQ4_0Generic)
}

func dotQ2K(row []byte, x []float32) float32 {
	return blockKernel(row, x, 256, 84, dotQ2KAVX2, dotQ2KGeneric)
}

func dotQ3K(row []byte, x []float32) float32 {
	return blockKernel(row, x, 256, 110, dotQ3KAVX2, dotQ3KGeneric)
}

func dotQ4K(row []byte, x []float32) float32 {
	return blockKernel(row, x, 256, 144, dotQ4KAVX2, dotQ4KGeneric)
}

func dotQ5K(row []byte, x []float32) float32 {
	return blockKernel(row, x, 256, 176, dotQ5KAVX2, dotQ5KGeneric)
}

func dotQ6K(row []byte, x []float32) float32 {
	return blockKernel(row, x, 256, 210, dotQ6KAVX2, dotQ6KGeneric)
}
