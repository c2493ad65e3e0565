package quant

import (
	"encoding/binary"
	"math"
)

// Dequantizers for the 32-weight block formats. Each mirrors llama.cpp's
// dequantize_row_* operation for operation (float32 throughout, products
// kept unfused), so the values are bit-identical. Callers pass whole blocks:
// len(dst) = blocks*32 and len(src) = blocks*BlockBytes.

func f16At(b []byte, i int) float32 { return f16Table[uint16(b[i])|uint16(b[i+1])<<8] }

func dequantQ4_0Generic(src []byte, dst []float32) {
	for len(dst) >= 32 && len(src) >= 18 {
		b, y := src[:18], dst[:32]
		d := f16At(b, 0)
		qs := b[2:18]
		for j := 0; j < 16; j++ {
			y[j] = float32(int(qs[j]&0x0F)-8) * d
			y[j+16] = float32(int(qs[j]>>4)-8) * d
		}
		src, dst = src[18:], dst[32:]
	}
}

func dequantQ4_1(src []byte, dst []float32) {
	for len(dst) >= 32 && len(src) >= 20 {
		b, y := src[:20], dst[:32]
		d, m := f16At(b, 0), f16At(b, 2)
		qs := b[4:20]
		for j := 0; j < 16; j++ {
			y[j] = float32(float32(qs[j]&0x0F)*d) + m
			y[j+16] = float32(float32(qs[j]>>4)*d) + m
		}
		src, dst = src[20:], dst[32:]
	}
}

func dequantQ5_0(src []byte, dst []float32) {
	for len(dst) >= 32 && len(src) >= 22 {
		b, y := src[:22], dst[:32]
		d := f16At(b, 0)
		qh := uint32(b[2]) | uint32(b[3])<<8 | uint32(b[4])<<16 | uint32(b[5])<<24
		qs := b[6:22]
		for j := 0; j < 16; j++ {
			xh0 := byte((qh>>uint(j))<<4) & 0x10
			xh1 := byte(qh>>uint(j+12)) & 0x10
			y[j] = float32(int32(qs[j]&0x0F|xh0)-16) * d
			y[j+16] = float32(int32(qs[j]>>4|xh1)-16) * d
		}
		src, dst = src[22:], dst[32:]
	}
}

func dequantQ5_1(src []byte, dst []float32) {
	for len(dst) >= 32 && len(src) >= 24 {
		b, y := src[:24], dst[:32]
		d, m := f16At(b, 0), f16At(b, 2)
		qh := uint32(b[4]) | uint32(b[5])<<8 | uint32(b[6])<<16 | uint32(b[7])<<24
		qs := b[8:24]
		for j := 0; j < 16; j++ {
			xh0 := byte((qh>>uint(j))<<4) & 0x10
			xh1 := byte(qh>>uint(j+12)) & 0x10
			y[j] = float32(float32(qs[j]&0x0F|xh0)*d) + m
			y[j+16] = float32(float32(qs[j]>>4|xh1)*d) + m
		}
		src, dst = src[24:], dst[32:]
	}
}

func dequantQ8_0Generic(src []byte, dst []float32) {
	for len(dst) >= 32 && len(src) >= 34 {
		b, y := src[:34], dst[:32]
		d := f16At(b, 0)
		qs := b[2:34]
		for j := range y {
			y[j] = float32(int8(qs[j])) * d
		}
		src, dst = src[34:], dst[32:]
	}
}

func dequantF32(src []byte, dst []float32) {
	if w, ok := bytesAsF32(src, len(dst)); ok {
		copy(dst, w)
		return
	}
	dst = dst[:min(len(dst), len(src)/4)]
	src = src[:4*len(dst)]
	for i := range dst {
		dst[i] = math.Float32frombits(binary.LittleEndian.Uint32(src[4*i:]))
	}
}

func dequantF16Generic(src []byte, dst []float32) {
	dst = dst[:min(len(dst), len(src)/2)]
	src = src[:2*len(dst)]
	tab := f16Table
	for i := range dst {
		dst[i] = tab[binary.LittleEndian.Uint16(src[2*i:])]
	}
}

func dequantBF16(src []byte, dst []float32) {
	dst = dst[:min(len(dst), len(src)/2)]
	src = src[:2*len(dst)]
	for i := range dst {
		dst[i] = math.Float32frombits(uint32(binary.LittleEndian.Uint16(src[2*i:])) << 16)
	}
}
