package quant

import "math"

// The f16 conversions mirror ggml-base's software routines
// (ggml_compute_fp16_to_fp32 / ggml_compute_fp32_to_fp16, from the FP16
// library) rather than the F16C instructions, because llama.cpp's quantizers
// live in ggml-base and call those: the scale bytes we write must equal theirs.
// Both round to nearest even; they differ only for NaN, which the software
// path turns into the canonical quiet NaN 0x7e00 (sign kept).

// f16Table holds F16ToF32 for every half-precision bit pattern, so the hot
// loops convert a scale with one load.
var f16Table = func() *[1 << 16]float32 {
	var t [1 << 16]float32
	for i := range t {
		t[i] = f16ToF32Slow(uint16(i))
	}
	return &t
}()

// F16ToF32 converts IEEE binary16 bits to float32 (exact, NaN payload kept).
func F16ToF32(h uint16) float32 { return f16Table[h] }

func f16ToF32Slow(h uint16) float32 {
	w := uint32(h) << 16
	sign := w & 0x80000000
	twoW := w + w
	const expOffset = uint32(0xE0) << 23
	const expScale = float32(0x1.0p-112)
	normalized := math.Float32frombits((twoW>>4)+expOffset) * expScale
	const magicMask = uint32(126) << 23
	const magicBias = float32(0.5)
	denormalized := math.Float32frombits((twoW>>17)|magicMask) - magicBias
	const denormCutoff = uint32(1) << 27
	var bits uint32
	if twoW < denormCutoff {
		bits = math.Float32bits(denormalized)
	} else {
		bits = math.Float32bits(normalized)
	}
	return math.Float32frombits(sign | bits)
}

// F32ToF16 converts float32 to IEEE binary16 bits, rounding to nearest even
// exactly as ggml does (overflow gives ±Inf, NaN gives ±0x7e00).
func F32ToF16(f float32) uint16 {
	const scaleToInf = float32(0x1.0p+112)
	const scaleToZero = float32(0x1.0p-110)
	// Two separate float32 products, as in C (the intermediate may overflow
	// to Inf, which is the point).
	base := float32(abs32(f) * scaleToInf)
	base = float32(base * scaleToZero)

	w := math.Float32bits(f)
	shl1W := w + w
	sign := w & 0x80000000
	bias := shl1W & 0xFF000000
	if bias < 0x71000000 {
		bias = 0x71000000
	}
	base = math.Float32frombits((bias>>1)+0x07800000) + base
	bits := math.Float32bits(base)
	expBits := (bits >> 13) & 0x00007C00
	mantissaBits := bits & 0x00000FFF
	nonsign := expBits + mantissaBits
	if shl1W > 0xFF000000 {
		nonsign = 0x7E00
	}
	return uint16(sign>>16) | uint16(nonsign)
}

// BF16ToF32 converts bfloat16 bits to float32 (exact).
func BF16ToF32(h uint16) float32 { return math.Float32frombits(uint32(h) << 16) }

// F32ToBF16 converts float32 to bfloat16 bits the way ggml does: round to
// nearest even, NaNs truncated and forced quiet, subnormals kept.
func F32ToBF16(f float32) uint16 {
	u := math.Float32bits(f)
	if u&0x7fffffff > 0x7f800000 {
		return uint16(u>>16) | 64
	}
	return uint16((u + (0x7fff + ((u >> 16) & 1))) >> 16)
}

func abs32(f float32) float32 { return math.Float32frombits(math.Float32bits(f) &^ (1 << 31)) }
