package quant

import "math"

// Dequantizers for the 256-weight "K" super-block formats, mirroring
// llama.cpp's dequantize_row_q*_K operation for operation.

// Byte offsets inside the K blocks (ggml-common.h).
const (
	q2kScales, q2kQs, q2kD, q2kDmin  = 0, 16, 80, 82
	q3kHmask, q3kQs, q3kScales, q3kD = 0, 32, 96, 108
	q4kD, q4kDmin, q4kScales, q4kQs  = 0, 2, 4, 16
	q5kD, q5kDmin, q5kScales, q5kQh  = 0, 2, 4, 16
	q5kQs                            = 48
	q6kQl, q6kQh, q6kScales, q6kD    = 0, 128, 192, 208
	q8kD, q8kQs, q8kBsums            = 0, 4, 260
)

// scaleMinK4 unpacks the j-th 6-bit scale and min of a Q4_K/Q5_K block
// (get_scale_min_k4).
func scaleMinK4(j int, q []byte) (sc, m uint8) {
	if j < 4 {
		return q[j] & 63, q[j+4] & 63
	}
	return (q[j+4] & 0xF) | ((q[j-4] >> 6) << 4), (q[j+4] >> 4) | ((q[j] >> 6) << 4)
}

// q3kScales unpacks the sixteen 6-bit signed scales of a Q3_K block, still
// biased by 32, exactly as dequantize_row_q3_K's kmask shuffle does.
func q3kUnpackScales(s []byte, out *[16]int8) {
	s = s[:12]
	a0 := uint32(s[0]) | uint32(s[1])<<8 | uint32(s[2])<<16 | uint32(s[3])<<24
	a1 := uint32(s[4]) | uint32(s[5])<<8 | uint32(s[6])<<16 | uint32(s[7])<<24
	tmp := uint32(s[8]) | uint32(s[9])<<8 | uint32(s[10])<<16 | uint32(s[11])<<24
	const kmask1, kmask2 = 0x03030303, 0x0f0f0f0f
	aux := [4]uint32{
		(a0 & kmask2) | (((tmp >> 0) & kmask1) << 4),
		(a1 & kmask2) | (((tmp >> 2) & kmask1) << 4),
		((a0 >> 4) & kmask2) | (((tmp >> 4) & kmask1) << 4),
		((a1 >> 4) & kmask2) | (((tmp >> 6) & kmask1) << 4),
	}
	for i, a := range aux {
		out[4*i] = int8(a)
		out[4*i+1] = int8(a >> 8)
		out[4*i+2] = int8(a >> 16)
		out[4*i+3] = int8(a >> 24)
	}
}

func dequantQ2KGeneric(src []byte, dst []float32) {
	for len(dst) >= 256 && len(src) >= 84 {
		b, y := src[:84], dst[:256]
		d, min := f16At(b, q2kD), f16At(b, q2kDmin)
		scales := b[q2kScales : q2kScales+16]
		is := 0
		for n := 0; n < 2; n++ {
			q := b[q2kQs+32*n : q2kQs+32*n+32]
			for j := 0; j < 4; j++ {
				shift := uint(2 * j)
				for half := 0; half < 2; half++ {
					sc := scales[is]
					is++
					dl := float32(d * float32(sc&0xF))
					ml := float32(min * float32(sc>>4))
					out := y[:16]
					qq := q[16*half : 16*half+16]
					for l := range out {
						out[l] = float32(dl*float32((qq[l]>>shift)&3)) - ml
					}
					y = y[16:]
				}
			}
		}
		src, dst = src[84:], dst[256:]
	}
}

func dequantQ3KGeneric(src []byte, dst []float32) {
	var scales [16]int8
	for len(dst) >= 256 && len(src) >= 110 {
		b, y := src[:110], dst[:256]
		dAll := f16At(b, q3kD)
		hm := b[q3kHmask : q3kHmask+32]
		q3kUnpackScales(b[q3kScales:q3kScales+12], &scales)
		is := 0
		m := uint8(1)
		for n := 0; n < 2; n++ {
			q := b[q3kQs+32*n : q3kQs+32*n+32]
			for j := 0; j < 4; j++ {
				shift := uint(2 * j)
				for half := 0; half < 2; half++ {
					dl := dAll * float32(int(scales[is])-32)
					is++
					out := y[:16]
					qq, hh := q[16*half:16*half+16], hm[16*half:16*half+16]
					for l := range out {
						v := int((qq[l] >> shift) & 3)
						if hh[l]&m == 0 {
							v -= 4
						}
						out[l] = dl * float32(v)
					}
					y = y[16:]
				}
				m <<= 1
			}
		}
		src, dst = src[110:], dst[256:]
	}
}

func dequantQ4KGeneric(src []byte, dst []float32) {
	for len(dst) >= 256 && len(src) >= 144 {
		b, y := src[:144], dst[:256]
		d, min := f16At(b, q4kD), f16At(b, q4kDmin)
		scales := b[q4kScales : q4kScales+12]
		for j := 0; j < 4; j++ {
			sc, m := scaleMinK4(2*j, scales)
			d1, m1 := float32(d*float32(sc)), float32(min*float32(m))
			sc, m = scaleMinK4(2*j+1, scales)
			d2, m2 := float32(d*float32(sc)), float32(min*float32(m))
			q := b[q4kQs+32*j : q4kQs+32*j+32]
			lo, hi := y[64*j:64*j+32], y[64*j+32:64*j+64]
			for l := range q {
				lo[l] = float32(d1*float32(q[l]&0xF)) - m1
				hi[l] = float32(d2*float32(q[l]>>4)) - m2
			}
		}
		src, dst = src[144:], dst[256:]
	}
}

func dequantQ5KGeneric(src []byte, dst []float32) {
	for len(dst) >= 256 && len(src) >= 176 {
		b, y := src[:176], dst[:256]
		d, min := f16At(b, q5kD), f16At(b, q5kDmin)
		scales := b[q5kScales : q5kScales+12]
		qh := b[q5kQh : q5kQh+32]
		u1, u2 := uint8(1), uint8(2)
		for j := 0; j < 4; j++ {
			sc, m := scaleMinK4(2*j, scales)
			d1, m1 := float32(d*float32(sc)), float32(min*float32(m))
			sc, m = scaleMinK4(2*j+1, scales)
			d2, m2 := float32(d*float32(sc)), float32(min*float32(m))
			ql := b[q5kQs+32*j : q5kQs+32*j+32]
			lo, hi := y[64*j:64*j+32], y[64*j+32:64*j+64]
			for l := range ql {
				v1, v2 := ql[l]&0xF, ql[l]>>4
				if qh[l]&u1 != 0 {
					v1 += 16
				}
				if qh[l]&u2 != 0 {
					v2 += 16
				}
				lo[l] = float32(d1*float32(v1)) - m1
				hi[l] = float32(d2*float32(v2)) - m2
			}
			u1 <<= 2
			u2 <<= 2
		}
		src, dst = src[176:], dst[256:]
	}
}

func dequantQ6KGeneric(src []byte, dst []float32) {
	for len(dst) >= 256 && len(src) >= 210 {
		b, y := src[:210], dst[:256]
		d := f16At(b, q6kD)
		for n := 0; n < 2; n++ {
			ql := b[q6kQl+64*n : q6kQl+64*n+64]
			qh := b[q6kQh+32*n : q6kQh+32*n+32]
			sc := b[q6kScales+8*n : q6kScales+8*n+8]
			out := y[128*n : 128*n+128]
			for l := 0; l < 32; l++ {
				is := l / 16
				q1 := int(ql[l]&0xF|((qh[l]>>0)&3)<<4) - 32
				q2 := int(ql[l+32]&0xF|((qh[l]>>2)&3)<<4) - 32
				q3 := int(ql[l]>>4|((qh[l]>>4)&3)<<4) - 32
				q4 := int(ql[l+32]>>4|((qh[l]>>6)&3)<<4) - 32
				out[l] = float32(d*float32(int8(sc[is]))) * float32(q1)
				out[l+32] = float32(d*float32(int8(sc[is+2]))) * float32(q2)
				out[l+64] = float32(d*float32(int8(sc[is+4]))) * float32(q3)
				out[l+96] = float32(d*float32(int8(sc[is+6]))) * float32(q4)
			}
		}
		src, dst = src[210:], dst[256:]
	}
}

func dequantQ8K(src []byte, dst []float32) {
	for len(dst) >= 256 && len(src) >= 292 {
		b, y := src[:292], dst[:256]
		d := math.Float32frombits(uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24)
		qs := b[q8kQs : q8kQs+256]
		for j := range y {
			y[j] = d * float32(int8(qs[j]))
		}
		src, dst = src[292:], dst[256:]
	}
}
