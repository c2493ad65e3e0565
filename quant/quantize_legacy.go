package quant

import "math"

// Reference quantizers for the 32-weight block formats and the float types,
// transcribed from llama.cpp's quantize_row_*_ref (what llama-quantize uses
// without an importance matrix). Callers pass whole blocks.

func putF16(b []byte, i int, f float32) {
	h := F32ToF16(f)
	b[i], b[i+1] = byte(h), byte(h>>8)
}

// truncInt is C's float-to-integer conversion (toward zero) for values the
// algorithms keep in a small range.
func truncInt(f float32) int { return int(f) }

func quantF32(x []float32, dst []byte) {
	for i, v := range x {
		u := math.Float32bits(v)
		b := dst[4*i : 4*i+4]
		b[0], b[1], b[2], b[3] = byte(u), byte(u>>8), byte(u>>16), byte(u>>24)
	}
}

func quantF16(x []float32, dst []byte) {
	for i, v := range x {
		putF16(dst, 2*i, v)
	}
}

func quantBF16(x []float32, dst []byte) {
	for i, v := range x {
		h := F32ToBF16(v)
		dst[2*i], dst[2*i+1] = byte(h), byte(h>>8)
	}
}

// absMaxSigned returns the largest magnitude in x and the signed value that
// has it (the first one, on ties), as the Q4_0/Q5_0 loops find them.
func absMaxSigned(x []float32) (amax, max float32) {
	for _, v := range x {
		if a := abs32(v); amax < a {
			amax, max = a, v
		}
	}
	return amax, max
}

func minMax(x []float32) (min, max float32) {
	min, max = math.MaxFloat32, -math.MaxFloat32
	for _, v := range x {
		if v < min {
			min = v
		}
		if v > max {
			max = v
		}
	}
	return min, max
}

func quantQ4_0(x []float32, dst []byte) {
	for len(x) >= 32 && len(dst) >= 18 {
		v, b := x[:32], dst[:18]
		_, max := absMaxSigned(v)
		d := max / -8
		var id float32
		if d != 0 {
			id = 1 / d
		}
		putF16(b, 0, d)
		for j := 0; j < 16; j++ {
			x0 := float32(v[j] * id)
			x1 := float32(v[j+16] * id)
			xi0 := min(15, truncInt(x0+8.5))
			xi1 := min(15, truncInt(x1+8.5))
			b[2+j] = uint8(xi0) | uint8(xi1)<<4
		}
		x, dst = x[32:], dst[18:]
	}
}

func quantQ4_1(x []float32, dst []byte) {
	for len(x) >= 32 && len(dst) >= 20 {
		v, b := x[:32], dst[:20]
		mn, mx := minMax(v)
		d := (mx - mn) / 15
		var id float32
		if d != 0 {
			id = 1 / d
		}
		putF16(b, 0, d)
		putF16(b, 2, mn)
		for j := 0; j < 16; j++ {
			x0 := float32((v[j] - mn) * id)
			x1 := float32((v[j+16] - mn) * id)
			xi0 := min(15, truncInt(x0+0.5))
			xi1 := min(15, truncInt(x1+0.5))
			b[4+j] = uint8(xi0) | uint8(xi1)<<4
		}
		x, dst = x[32:], dst[20:]
	}
}

func quantQ5_0(x []float32, dst []byte) {
	for len(x) >= 32 && len(dst) >= 22 {
		v, b := x[:32], dst[:22]
		_, max := absMaxSigned(v)
		d := max / -16
		var id float32
		if d != 0 {
			id = 1 / d
		}
		putF16(b, 0, d)
		var qh uint32
		for j := 0; j < 16; j++ {
			x0 := float32(v[j] * id)
			x1 := float32(v[j+16] * id)
			xi0 := uint8(min(31, truncInt(x0+16.5)))
			xi1 := uint8(min(31, truncInt(x1+16.5)))
			b[6+j] = xi0&0x0F | (xi1&0x0F)<<4
			qh |= uint32(xi0&0x10) >> 4 << uint(j)
			qh |= uint32(xi1&0x10) >> 4 << uint(j+16)
		}
		b[2], b[3], b[4], b[5] = byte(qh), byte(qh>>8), byte(qh>>16), byte(qh>>24)
		x, dst = x[32:], dst[22:]
	}
}

func quantQ5_1(x []float32, dst []byte) {
	for len(x) >= 32 && len(dst) >= 24 {
		v, b := x[:32], dst[:24]
		mn, mx := minMax(v)
		d := (mx - mn) / 31
		var id float32
		if d != 0 {
			id = 1 / d
		}
		putF16(b, 0, d)
		putF16(b, 2, mn)
		var qh uint32
		for j := 0; j < 16; j++ {
			x0 := float32((v[j] - mn) * id)
			x1 := float32((v[j+16] - mn) * id)
			xi0 := uint8(truncInt(x0 + 0.5))
			xi1 := uint8(truncInt(x1 + 0.5))
			b[8+j] = xi0&0x0F | (xi1&0x0F)<<4
			qh |= uint32(xi0&0x10) >> 4 << uint(j)
			qh |= uint32(xi1&0x10) >> 4 << uint(j+16)
		}
		b[4], b[5], b[6], b[7] = byte(qh), byte(qh>>8), byte(qh>>16), byte(qh>>24)
		x, dst = x[32:], dst[24:]
	}
}

func quantQ8_0(x []float32, dst []byte) {
	for len(x) >= 32 && len(dst) >= 34 {
		v, b := x[:32], dst[:34]
		var amax float32
		for _, f := range v {
			amax = max(amax, abs32(f))
		}
		d := amax / 127
		var id float32
		if d != 0 {
			id = 1 / d
		}
		putF16(b, 0, d)
		for j, f := range v {
			// roundf: half away from zero, as math.Round; exact in float64.
			b[2+j] = byte(int8(math.Round(float64(f * id))))
		}
		x, dst = x[32:], dst[34:]
	}
}

// quantQ8K is quantize_row_q8_K_ref: the activation format of llama.cpp's
// K-quant dot products (f32 scale, int8 quants, per-16 sums).
func quantQ8K(x []float32, dst []byte) {
	for len(x) >= 256 && len(dst) >= 292 {
		v, b := x[:256], dst[:292]
		var max, amax float32
		for _, f := range v {
			if a := abs32(f); a > amax {
				amax, max = a, f
			}
		}
		if amax == 0 {
			clear(b)
			x, dst = x[256:], dst[292:]
			continue
		}
		iscale := -127 / max
		for j, f := range v {
			b[q8kQs+j] = byte(int8(min(127, nearestInt(float32(iscale*f)))))
		}
		for j := 0; j < 16; j++ {
			sum := 0
			for ii := 0; ii < 16; ii++ {
				sum += int(int8(b[q8kQs+16*j+ii]))
			}
			s := uint16(int16(sum))
			b[q8kBsums+2*j], b[q8kBsums+2*j+1] = byte(s), byte(s>>8)
		}
		u := math.Float32bits(1 / iscale)
		b[0], b[1], b[2], b[3] = byte(u), byte(u>>8), byte(u>>16), byte(u>>24)
		x, dst = x[256:], dst[292:]
	}
}
