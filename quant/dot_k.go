package quant

import "math"

// Fused dequantize-and-dot loops for the K super-block formats. Per group
// (16 or 32 weights) they accumulate Σq·x (and Σx where the format has a
// min), then apply the group's scale once.

func dotQ2KGeneric(row []byte, x []float32) float32 {
	var acc float32
	for len(x) >= 256 && len(row) >= 84 {
		b, xx := row[:84], x[:256]
		d, dmin := f16At(b, q2kD), f16At(b, q2kDmin)
		scales := b[q2kScales : q2kScales+16]
		var sumD, sumM float32
		for n := 0; n < 2; n++ {
			q := b[q2kQs+32*n : q2kQs+32*n+32]
			for j := 0; j < 4; j++ {
				shift := uint(2 * j)
				for half := 0; half < 2; half++ {
					sc := scales[8*n+2*j+half]
					qq := q[16*half : 16*half+16]
					v := xx[128*n+32*j+16*half : 128*n+32*j+16*half+16]
					var s0, s1, t0, t1 float32
					for l := 0; l < 16; l += 2 {
						s0 += float32((qq[l]>>shift)&3) * v[l]
						s1 += float32((qq[l+1]>>shift)&3) * v[l+1]
						t0 += v[l]
						t1 += v[l+1]
					}
					sumD += float32(sc&0xF) * (s0 + s1)
					sumM += float32(sc>>4) * (t0 + t1)
				}
			}
		}
		acc += d*sumD - dmin*sumM
		row, x = row[84:], x[256:]
	}
	return acc
}

func dotQ3KGeneric(row []byte, x []float32) float32 {
	var acc float32
	var scales [16]int8
	for len(x) >= 256 && len(row) >= 110 {
		b, xx := row[:110], x[:256]
		hm := b[q3kHmask : q3kHmask+32]
		q3kUnpackScales(b[q3kScales:q3kScales+12], &scales)
		var sum float32
		m := uint8(1)
		for n := 0; n < 2; n++ {
			q := b[q3kQs+32*n : q3kQs+32*n+32]
			for j := 0; j < 4; j++ {
				shift := uint(2 * j)
				for half := 0; half < 2; half++ {
					qq, hh := q[16*half:16*half+16], hm[16*half:16*half+16]
					v := xx[128*n+32*j+16*half : 128*n+32*j+16*half+16]
					var s0, s1 float32
					for l := 0; l < 16; l += 2 {
						q0 := int((qq[l] >> shift) & 3)
						q1 := int((qq[l+1] >> shift) & 3)
						if hh[l]&m == 0 {
							q0 -= 4
						}
						if hh[l+1]&m == 0 {
							q1 -= 4
						}
						s0 += float32(q0) * v[l]
						s1 += float32(q1) * v[l+1]
					}
					sum += float32(int(scales[8*n+2*j+half])-32) * (s0 + s1)
				}
				m <<= 1
			}
		}
		acc += f16At(b, q3kD) * sum
		row, x = row[110:], x[256:]
	}
	return acc
}

func dotQ4KGeneric(row []byte, x []float32) float32 {
	var acc float32
	for len(x) >= 256 && len(row) >= 144 {
		b, xx := row[:144], x[:256]
		scales := b[q4kScales : q4kScales+12]
		var sumD, sumM float32
		for j := 0; j < 4; j++ {
			q := b[q4kQs+32*j : q4kQs+32*j+32]
			lo, hi := xx[64*j:64*j+32], xx[64*j+32:64*j+64]
			var s0, s1, s2, s3, t0, t1 float32
			for l := 0; l < 32; l += 2 {
				q0, q1 := q[l], q[l+1]
				s0 += float32(q0&0xF) * lo[l]
				s1 += float32(q0>>4) * hi[l]
				s2 += float32(q1&0xF) * lo[l+1]
				s3 += float32(q1>>4) * hi[l+1]
				t0 += lo[l] + lo[l+1]
				t1 += hi[l] + hi[l+1]
			}
			sc1, m1 := scaleMinK4(2*j, scales)
			sc2, m2 := scaleMinK4(2*j+1, scales)
			sumD += float32(sc1)*(s0+s2) + float32(sc2)*(s1+s3)
			sumM += float32(m1)*t0 + float32(m2)*t1
		}
		acc += f16At(b, q4kD)*sumD - f16At(b, q4kDmin)*sumM
		row, x = row[144:], x[256:]
	}
	return acc
}

func dotQ5KGeneric(row []byte, x []float32) float32 {
	var acc float32
	for len(x) >= 256 && len(row) >= 176 {
		b, xx := row[:176], x[:256]
		scales := b[q5kScales : q5kScales+12]
		qh := b[q5kQh : q5kQh+32]
		var sumD, sumM float32
		for j := 0; j < 4; j++ {
			ql := b[q5kQs+32*j : q5kQs+32*j+32]
			lo, hi := xx[64*j:64*j+32], xx[64*j+32:64*j+64]
			s1, s2 := uint(2*j), uint(2*j+1)
			var a0, a1, t0, t1 float32
			for l := 0; l < 32; l++ {
				q, h := ql[l], qh[l]
				a0 += float32(q&0xF|(h>>s1&1)<<4) * lo[l]
				a1 += float32(q>>4|(h>>s2&1)<<4) * hi[l]
				t0 += lo[l]
				t1 += hi[l]
			}
			sc1, m1 := scaleMinK4(2*j, scales)
			sc2, m2 := scaleMinK4(2*j+1, scales)
			sumD += float32(sc1)*a0 + float32(sc2)*a1
			sumM += float32(m1)*t0 + float32(m2)*t1
		}
		acc += f16At(b, q5kD)*sumD - f16At(b, q5kDmin)*sumM
		row, x = row[176:], x[256:]
	}
	return acc
}

func dotQ6KGeneric(row []byte, x []float32) float32 {
	var acc float32
	for len(x) >= 256 && len(row) >= 210 {
		b, xx := row[:210], x[:256]
		var sum float32
		for n := 0; n < 2; n++ {
			ql := b[q6kQl+64*n : q6kQl+64*n+64]
			qh := b[q6kQh+32*n : q6kQh+32*n+32]
			sc := b[q6kScales+8*n : q6kScales+8*n+8]
			v := xx[128*n : 128*n+128]
			for half := 0; half < 2; half++ {
				o := 16 * half
				var s1, s2, s3, s4 float32
				for l := o; l < o+16; l++ {
					h := qh[l]
					s1 += float32(int(ql[l]&0xF|(h&3)<<4)-32) * v[l]
					s2 += float32(int(ql[l+32]&0xF|(h>>2&3)<<4)-32) * v[l+32]
					s3 += float32(int(ql[l]>>4|(h>>4&3)<<4)-32) * v[l+64]
					s4 += float32(int(ql[l+32]>>4|(h>>6&3)<<4)-32) * v[l+96]
				}
				sum += float32(int8(sc[half]))*s1 + float32(int8(sc[half+2]))*s2 +
					float32(int8(sc[half+4]))*s3 + float32(int8(sc[half+6]))*s4
			}
		}
		acc += f16At(b, q6kD) * sum
		row, x = row[210:], x[256:]
	}
	return acc
}

func dotQ8K(row []byte, x []float32) float32 {
	var acc float32
	for len(x) >= 256 && len(row) >= 292 {
		b, xx := row[:292], x[:256]
		qs := b[q8kQs : q8kQs+256]
		var s0, s1, s2, s3 float32
		for j := 0; j < 256; j += 4 {
			q, v := qs[j:j+4], xx[j:j+4]
			s0 += float32(int8(q[0])) * v[0]
			s1 += float32(int8(q[1])) * v[1]
			s2 += float32(int8(q[2])) * v[2]
			s3 += float32(int8(q[3])) * v[3]
		}
		d := math.Float32frombits(uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24)
		acc += d * ((s0 + s1) + (s2 + s3))
		row, x = row[292:], x[256:]
	}
	return acc
}
