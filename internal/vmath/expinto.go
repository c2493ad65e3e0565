package vmath

// minExp is the smallest exponent ExpInto computes: e^-87 is near the
// smallest normal float32; anything below it is 0.
const minExp float32 = -87

// ExpInto sets dst[i] = exp(x[i]·scale − top) for the first len(dst)
// values of x, 0 where x[i]·scale − top is below −87 or NaN. top must be at
// least every x[i]·scale (the largest of them, for a softmax), so every
// value lies in [0, 1]; each has a relative error of about 2e-7. The
// result depends only on the inputs, not on the CPU. x must hold at least
// len(dst) values.
func ExpInto(dst, x []float32, scale, top float32) {
	x = x[:len(dst)]
	n := expIntoVectorised(dst, x, scale, top)
	expIntoGeneric(dst[n:], x[n:], scale, top)
}

// expIntoGeneric is the portable loop, the reference the assembly must match
// bit for bit.
func expIntoGeneric(dst, x []float32, scale, top float32) {
	for i, v := range x {
		d := float32(v*scale) - top
		if d >= minExp {
			dst[i] = expOf(d)
		} else {
			dst[i] = 0
		}
	}
}
