package quant

import "math"

// The scale searches of llama.cpp's K-quant reference quantizers
// (ggml-quants.c: nearest_int, make_qx_quants, make_q3_quants,
// make_qkx2_quants), transcribed so that the float32 operations happen in the
// same order with the same roundings. Every product that C computes and then
// adds is wrapped in an explicit float32() conversion, also when the sum is in
// a later statement: the Go spec lets the compiler fuse x*y+z into one FMA
// otherwise (it does on arm64, ppc64, s390x, riscv64, loong64), which would
// change the last bit and so, sometimes, a chosen quant. Checked with
// `GOARCH=arm64 go build -gcflags=-S ./quant`: no FMADD/FMSUB outside the dot
// products (whose results are not meant to be bit-exact).

// groupMaxEps is GROUP_MAX_EPS: groups whose largest magnitude is below it
// are treated as all zero.
const groupMaxEps = float32(1e-15)

// nearestInt rounds to nearest (ties to even) with llama.cpp's float trick,
// kept bit-for-bit so out-of-range inputs also map to the same integers.
func nearestInt(f float32) int {
	val := f + 12582912
	i := int32(math.Float32bits(val))
	return int((i & 0x007fffff) - 0x00400000)
}

func clampInt(v, lo, hi int) int {
	if v < lo {
		return lo
	}
	if v > hi {
		return hi
	}
	return v
}

// makeQxQuants is make_qx_quants without importance weights (qw == NULL):
// symmetric quants L[i] in [0, 2*nmax) with a scale chosen among 19
// candidates by weighted least squares.
func makeQxQuants(n, nmax int, x []float32, L []int8, rmseType int) float32 {
	x, L = x[:n], L[:n]
	var max, amax float32
	for _, v := range x {
		if ax := abs32(v); ax > amax {
			amax, max = ax, v
		}
	}
	if amax < groupMaxEps {
		for i := range L {
			L[i] = 0
		}
		return 0
	}
	fnmax := float32(nmax)
	iscale := float32(-nmax) / max
	if rmseType == 0 {
		for i, v := range x {
			l := nearestInt(float32(iscale * v))
			L[i] = int8(nmax + clampInt(l, -nmax, nmax-1))
		}
		return 1 / iscale
	}
	returnEarly := false
	if rmseType < 0 {
		rmseType = -rmseType
		returnEarly = true
	}
	weight := func(v float32) float32 {
		switch rmseType {
		case 1:
			return float32(v * v)
		case 2:
			return 1
		case 3:
			return abs32(v)
		}
		return float32(math.Sqrt(float64(abs32(v))))
	}
	var sumlx, suml2 float32
	for i, v := range x {
		l := clampInt(nearestInt(float32(iscale*v)), -nmax, nmax-1)
		L[i] = int8(l + nmax)
		w := weight(v)
		fl := float32(l)
		sumlx += float32(float32(w*v) * fl)
		suml2 += float32(float32(w*fl) * fl)
	}
	var scale float32
	if suml2 != 0 {
		scale = sumlx / suml2
	}
	if returnEarly {
		if suml2 > 0 {
			return float32(0.5) * (scale + 1/iscale)
		}
		return 1 / iscale
	}
	best := float32(scale * sumlx)
	for is := -9; is <= 9; is++ {
		if is == 0 {
			continue
		}
		iscale = -(fnmax + float32(float32(0.1)*float32(is))) / max
		sumlx, suml2 = 0, 0
		for _, v := range x {
			l := clampInt(nearestInt(float32(iscale*v)), -nmax, nmax-1)
			w := weight(v)
			fl := float32(l)
			sumlx += float32(float32(w*v) * fl)
			suml2 += float32(float32(w*fl) * fl)
		}
		if suml2 > 0 && float32(sumlx*sumlx) > float32(best*suml2) {
			for i, v := range x {
				l := nearestInt(float32(iscale * v))
				L[i] = int8(nmax + clampInt(l, -nmax, nmax-1))
			}
			scale = sumlx / suml2
			best = float32(scale * sumlx)
		}
	}
	return scale
}

// makeQ3Quants is make_q3_quants: symmetric quants with an iterative
// per-element refinement of the least-squares fit (do_rmse), weights x².
func makeQ3Quants(n, nmax int, x []float32, L []int8, doRmse bool) float32 {
	x, L = x[:n], L[:n]
	var max, amax float32
	for _, v := range x {
		if ax := abs32(v); ax > amax {
			amax, max = ax, v
		}
	}
	if amax < groupMaxEps {
		for i := range L {
			L[i] = 0
		}
		return 0
	}
	iscale := float32(-nmax) / max
	if doRmse {
		var sumlx, suml2 float32
		for i, v := range x {
			l := clampInt(nearestInt(float32(iscale*v)), -nmax, nmax-1)
			L[i] = int8(l)
			w := float32(v * v)
			fl := float32(l)
			sumlx += float32(float32(w*v) * fl)
			suml2 += float32(float32(w*fl) * fl)
		}
		for itry := 0; itry < 5; itry++ {
			nChanged := 0
			for i, v := range x {
				w := float32(v * v)
				li := float32(L[i])
				slx := sumlx - float32(float32(w*v)*li)
				if slx > 0 {
					sl2 := suml2 - float32(float32(w*li)*li)
					newL := clampInt(nearestInt(float32(v*sl2)/slx), -nmax, nmax-1)
					if newL != int(L[i]) {
						fn := float32(newL)
						slx += float32(float32(w*v) * fn)
						sl2 += float32(float32(w*fn) * fn)
						if sl2 > 0 && float32(float32(slx*slx)*suml2) > float32(float32(sumlx*sumlx)*sl2) {
							L[i] = int8(newL)
							sumlx, suml2 = slx, sl2
							nChanged++
						}
					}
				}
			}
			if nChanged == 0 {
				break
			}
		}
		for i := range L {
			L[i] += int8(nmax)
		}
		if suml2 > 0 {
			return sumlx / suml2
		}
		return 0
	}
	for i, v := range x {
		l := clampInt(nearestInt(float32(iscale*v)), -nmax, nmax-1)
		L[i] = int8(l + nmax)
	}
	return 1 / iscale
}

// makeQkx2Quants is make_qkx2_quants: asymmetric quants L[i] in [0, nmax]
// with scale and min fitted by weighted least squares over nstep+1 candidate
// scales. It returns the scale and the (positive) min to subtract.
func makeQkx2Quants(n, nmax int, x, weights []float32, L, Laux []uint8,
	rmin, rdelta float32, nstep int, useMad bool) (scale, theMin float32) {
	x, weights, L, Laux = x[:n], weights[:n], L[:n], Laux[:n]
	min, max := x[0], x[0]
	sumW := weights[0]
	sumX := float32(sumW * x[0])
	for i := 1; i < n; i++ {
		if x[i] < min {
			min = x[i]
		}
		if x[i] > max {
			max = x[i]
		}
		w := weights[i]
		sumW += w
		sumX += float32(w * x[i])
	}
	if min > 0 {
		min = 0
	}
	if max == min {
		for i := range L {
			L[i] = 0
		}
		return 0, -min
	}
	fnmax := float32(nmax)
	iscale := fnmax / (max - min)
	scale = 1 / iscale
	var bestError float32
	for i, v := range x {
		l := clampInt(nearestInt(float32(iscale*(v-min))), 0, nmax)
		L[i] = uint8(l)
		diff := float32(scale*float32(l)) + min - v
		if useMad {
			diff = abs32(diff)
		} else {
			diff = float32(diff * diff)
		}
		bestError += float32(weights[i] * diff)
	}
	if nstep < 1 {
		return scale, -min
	}
	for is := 0; is <= nstep; is++ {
		iscale = (rmin + float32(rdelta*float32(is)) + fnmax) / (max - min)
		var sumL, sumL2, sumXL float32
		for i, v := range x {
			l := clampInt(nearestInt(float32(iscale*(v-min))), 0, nmax)
			Laux[i] = uint8(l)
			w := weights[i]
			fl := float32(l)
			wl := float32(w * fl)
			sumL += wl
			sumL2 += float32(wl * fl)
			sumXL += float32(wl * v)
		}
		D := float32(sumW*sumL2) - float32(sumL*sumL)
		if D > 0 {
			thisScale := (float32(sumW*sumXL) - float32(sumX*sumL)) / D
			thisMin := (float32(sumL2*sumX) - float32(sumL*sumXL)) / D
			if thisMin > 0 {
				thisMin = 0
				thisScale = sumXL / sumL2
			}
			var curError float32
			for i, v := range x {
				diff := float32(thisScale*float32(Laux[i])) + thisMin - v
				if useMad {
					diff = abs32(diff)
				} else {
					diff = float32(diff * diff)
				}
				curError += float32(weights[i] * diff)
			}
			if curError < bestError {
				copy(L, Laux)
				bestError = curError
				scale = thisScale
				min = thisMin
			}
		}
	}
	return scale, -min
}

// sqrt32 is C's sqrtf: the float64 square root rounded to float32 is
// correctly rounded (53 ≥ 2·24+2 bits), so no double-rounding error arises.
func sqrt32(f float32) float32 { return float32(math.Sqrt(float64(f))) }
