package quant

// Reference quantizers for the K super-block formats, transcribed from
// llama.cpp's quantize_row_q{2,3,4,5,6}_K_ref. Each works on one 256-weight
// block at a time with scratch on the stack, so quantizing allocates nothing.

func quantQ2K(x []float32, dst []byte) {
	var (
		L       [256]uint8
		Laux    [16]uint8
		weights [16]float32
		mins    [16]float32
		scales  [16]float32
	)
	const q4scale = float32(15)
	for len(x) >= 256 && len(dst) >= 84 {
		v, b := x[:256], dst[:84]
		var maxScale, maxMin float32
		for j := 0; j < 16; j++ {
			g := v[16*j : 16*j+16]
			for l := range weights {
				weights[l] = abs32(g[l])
			}
			scales[j], mins[j] = makeQkx2Quants(16, 3, g, weights[:], L[16*j:16*j+16], Laux[:], -0.5, 0.1, 15, true)
			if scales[j] > maxScale {
				maxScale = scales[j]
			}
			if mins[j] > maxMin {
				maxMin = mins[j]
			}
		}
		sc := b[q2kScales : q2kScales+16]
		if maxScale > 0 {
			iscale := q4scale / maxScale
			for j := range sc {
				sc[j] = uint8(nearestInt(float32(iscale * scales[j])))
			}
			putF16(b, q2kD, maxScale/q4scale)
		} else {
			clear(sc)
			putF16(b, q2kD, 0)
		}
		if maxMin > 0 {
			iscale := q4scale / maxMin
			for j := range sc {
				sc[j] |= uint8(nearestInt(float32(iscale*mins[j])) << 4)
			}
			putF16(b, q2kDmin, maxMin/q4scale)
		} else {
			putF16(b, q2kDmin, 0)
		}
		dAll, mAll := f16At(b, q2kD), f16At(b, q2kDmin)
		for j := 0; j < 16; j++ {
			d := dAll * float32(sc[j]&0xF)
			if d == 0 {
				continue
			}
			dm := float32(mAll * float32(sc[j]>>4))
			for ii := 0; ii < 16; ii++ {
				l := nearestInt((v[16*j+ii] + dm) / d)
				L[16*j+ii] = uint8(clampInt(l, 0, 3))
			}
		}
		qs := b[q2kQs : q2kQs+64]
		for j := 0; j < 256; j += 128 {
			for l := 0; l < 32; l++ {
				qs[j/4+l] = L[j+l] | L[j+l+32]<<2 | L[j+l+64]<<4 | L[j+l+96]<<6
			}
		}
		x, dst = x[256:], dst[84:]
	}
}

func quantQ3K(x []float32, dst []byte) {
	var (
		L      [256]int8
		scales [16]float32
	)
	for len(x) >= 256 && len(dst) >= 110 {
		v, b := x[:256], dst[:110]
		var maxScale, amax float32
		for j := 0; j < 16; j++ {
			scales[j] = makeQ3Quants(16, 4, v[16*j:16*j+16], L[16*j:16*j+16], true)
			if s := abs32(scales[j]); s > amax {
				amax, maxScale = s, scales[j]
			}
		}
		sc := b[q3kScales : q3kScales+12]
		clear(sc)
		if maxScale != 0 {
			iscale := -32 / maxScale
			for j := 0; j < 16; j++ {
				l := int(int8(nearestInt(float32(iscale * scales[j]))))
				l = clampInt(l, -32, 31) + 32
				if j < 8 {
					sc[j] = uint8(l & 0xF)
				} else {
					sc[j-8] |= uint8((l & 0xF) << 4)
				}
				l >>= 4
				sc[j%4+8] |= uint8(l << (2 * (j / 4)))
			}
			putF16(b, q3kD, 1/iscale)
		} else {
			putF16(b, q3kD, 0)
		}
		dAll := f16At(b, q3kD)
		for j := 0; j < 16; j++ {
			var s int8
			if j < 8 {
				s = int8(sc[j] & 0xF)
			} else {
				s = int8(sc[j-8] >> 4)
			}
			s = (s | int8(((sc[8+j%4]>>(2*(j/4)))&3)<<4)) - 32
			d := dAll * float32(s)
			if d == 0 {
				continue
			}
			for ii := 0; ii < 16; ii++ {
				l := clampInt(nearestInt(v[16*j+ii]/d), -4, 3)
				L[16*j+ii] = int8(l + 4)
			}
		}
		hmask := b[q3kHmask : q3kHmask+32]
		clear(hmask)
		m, hm := 0, uint8(1)
		for j := 0; j < 256; j++ {
			if L[j] > 3 {
				hmask[m] |= hm
				L[j] -= 4
			}
			if m++; m == 32 {
				m, hm = 0, hm<<1
			}
		}
		qs := b[q3kQs : q3kQs+64]
		for j := 0; j < 256; j += 128 {
			for l := 0; l < 32; l++ {
				qs[j/4+l] = uint8(L[j+l] | L[j+l+32]<<2 | L[j+l+64]<<4 | L[j+l+96]<<6)
			}
		}
		x, dst = x[256:], dst[110:]
	}
}

// packScalesK4 stores eight 6-bit scales and mins the way get_scale_min_k4
// reads them back.
func packScalesK4(s []byte, ls, lm *[8]uint8) {
	s = s[:12]
	for j := 0; j < 8; j++ {
		if j < 4 {
			s[j] = ls[j]
			s[j+4] = lm[j]
		} else {
			s[j+4] = ls[j]&0xF | (lm[j]&0xF)<<4
			s[j-4] |= (ls[j] >> 4) << 6
			s[j] |= (lm[j] >> 4) << 6
		}
	}
}

// quantKMinScale is the common body of quantize_row_q4_K_ref and
// quantize_row_q5_K_ref: per 32-weight group an asymmetric fit with
// make_qkx2_quants, then 6-bit scales/mins against f16 super-scales, then a
// final requantization against the rounded scales. It leaves the quants in L.
func quantKMinScale(v []float32, b []byte, L *[256]uint8, nmax int, rmin, rdelta float32, nstep int, offD, offDmin, offScales int) {
	var (
		Laux    [32]uint8
		weights [32]float32
		mins    [8]float32
		scales  [8]float32
	)
	var maxScale, maxMin float32
	for j := 0; j < 8; j++ {
		g := v[32*j : 32*j+32]
		var sumX2 float32
		for _, f := range g {
			sumX2 += float32(f * f)
		}
		avX := sqrt32(sumX2 / 32)
		for l, f := range g {
			weights[l] = avX + abs32(f)
		}
		scales[j], mins[j] = makeQkx2Quants(32, nmax, g, weights[:], L[32*j:32*j+32], Laux[:], rmin, rdelta, nstep, false)
		if scales[j] > maxScale {
			maxScale = scales[j]
		}
		if mins[j] > maxMin {
			maxMin = mins[j]
		}
	}
	var invScale, invMin float32
	if maxScale > 0 {
		invScale = 63 / maxScale
	}
	if maxMin > 0 {
		invMin = 63 / maxMin
	}
	var ls, lm [8]uint8
	for j := 0; j < 8; j++ {
		ls[j] = min(63, uint8(nearestInt(float32(invScale*scales[j]))))
		lm[j] = min(63, uint8(nearestInt(float32(invMin*mins[j]))))
	}
	sc := b[offScales : offScales+12]
	packScalesK4(sc, &ls, &lm)
	putF16(b, offD, maxScale/63)
	putF16(b, offDmin, maxMin/63)
	dAll, mAll := f16At(b, offD), f16At(b, offDmin)
	for j := 0; j < 8; j++ {
		s, m := scaleMinK4(j, sc)
		d := dAll * float32(s)
		if d == 0 {
			continue
		}
		dm := float32(mAll * float32(m))
		for ii := 0; ii < 32; ii++ {
			l := nearestInt((v[32*j+ii] + dm) / d)
			L[32*j+ii] = uint8(clampInt(l, 0, nmax))
		}
	}
}

func quantQ4K(x []float32, dst []byte) {
	var L [256]uint8
	for len(x) >= 256 && len(dst) >= 144 {
		v, b := x[:256], dst[:144]
		quantKMinScale(v, b, &L, 15, -1, 0.1, 20, q4kD, q4kDmin, q4kScales)
		q := b[q4kQs : q4kQs+128]
		for j := 0; j < 4; j++ {
			for l := 0; l < 32; l++ {
				q[32*j+l] = L[64*j+l] | L[64*j+l+32]<<4
			}
		}
		x, dst = x[256:], dst[144:]
	}
}

func quantQ5K(x []float32, dst []byte) {
	var L [256]uint8
	for len(x) >= 256 && len(dst) >= 176 {
		v, b := x[:256], dst[:176]
		quantKMinScale(v, b, &L, 31, -0.5, 0.1, 15, q5kD, q5kDmin, q5kScales)
		qh := b[q5kQh : q5kQh+32]
		clear(qh)
		m1, m2 := uint8(1), uint8(2)
		for n := 0; n < 4; n++ {
			ql := b[q5kQs+32*n : q5kQs+32*n+32]
			for j := 0; j < 32; j++ {
				l1, l2 := L[64*n+j], L[64*n+j+32]
				if l1 > 15 {
					l1 -= 16
					qh[j] |= m1
				}
				if l2 > 15 {
					l2 -= 16
					qh[j] |= m2
				}
				ql[j] = l1 | l2<<4
			}
			m1 <<= 2
			m2 <<= 2
		}
		x, dst = x[256:], dst[176:]
	}
}

func quantQ6K(x []float32, dst []byte) {
	var (
		L      [256]int8
		scales [16]float32
	)
	for len(x) >= 256 && len(dst) >= 210 {
		v, b := x[:256], dst[:210]
		var maxScale, maxAbsScale float32
		for ib := 0; ib < 16; ib++ {
			s := makeQxQuants(16, 32, v[16*ib:16*ib+16], L[16*ib:16*ib+16], 1)
			scales[ib] = s
			if a := abs32(s); a > maxAbsScale {
				maxAbsScale, maxScale = a, s
			}
		}
		if maxAbsScale < groupMaxEps {
			clear(b)
			putF16(b, q6kD, 0)
			x, dst = x[256:], dst[210:]
			continue
		}
		iscale := -128 / maxScale
		putF16(b, q6kD, 1/iscale)
		sc := b[q6kScales : q6kScales+16]
		for ib := range sc {
			sc[ib] = uint8(int8(min(127, nearestInt(float32(iscale*scales[ib])))))
		}
		dAll := f16At(b, q6kD)
		for j := 0; j < 16; j++ {
			d := dAll * float32(int8(sc[j]))
			if d == 0 {
				continue
			}
			for ii := 0; ii < 16; ii++ {
				l := clampInt(nearestInt(v[16*j+ii]/d), -32, 31)
				L[16*j+ii] = int8(l + 32)
			}
		}
		for n := 0; n < 2; n++ {
			ql := b[q6kQl+64*n : q6kQl+64*n+64]
			qh := b[q6kQh+32*n : q6kQh+32*n+32]
			Lb := L[128*n : 128*n+128]
			for l := 0; l < 32; l++ {
				q1, q2 := uint8(Lb[l])&0xF, uint8(Lb[l+32])&0xF
				q3, q4 := uint8(Lb[l+64])&0xF, uint8(Lb[l+96])&0xF
				ql[l] = q1 | q3<<4
				ql[l+32] = q2 | q4<<4
				qh[l] = uint8(Lb[l])>>4 | (uint8(Lb[l+32])>>4)<<2 | (uint8(Lb[l+64])>>4)<<4 | (uint8(Lb[l+96])>>4)<<6
			}
		}
		x, dst = x[256:], dst[210:]
	}
}
