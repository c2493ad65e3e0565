// Package vmath holds vectorised float32 math for the hot loops outside the
// kernels: the sampler's normaliser over a whole vocabulary.
package vmath

import "math"

// Lanes is how many partial sums SumExp keeps: value i goes to lane i%Lanes.
// The assembly runs four vectors of eight lanes; the portable code keeps the
// same lanes and the same order of additions, so both give the same bits.
const Lanes = 32

// The exponential's constants (Cephes' expf): ln 2 split in two so that
// n·ln2Hi is exact, and the minimax polynomial for e^r − 1 − r on
// |r| ≤ ln2/2. sumexp_amd64.s holds the same values as bit patterns.
const (
	log2e float32 = 1.44269504088896341
	ln2Hi float32 = 0.693359375
	ln2Lo float32 = -2.12194440e-4
	p0    float32 = 1.9875691500e-4
	p1    float32 = 1.3981999507e-3
	p2    float32 = 8.3334519073e-3
	p3    float32 = 4.1665795894e-2
	p4    float32 = 1.6666665459e-1
	p5    float32 = 5.0000001201e-1
)

// SumExp returns Σ exp(min(v, MaxFloat32) − top) over the values v ≥ floor
// (NaN never is). It is meant for a normaliser: top is the largest value
// (capped at MaxFloat32) and floor at most a few dozen below it, so every
// term lies in [e^(floor−top), 1]; outside that range the result is
// meaningless. Each term has a relative error of about 2e-7 and each lane
// sums at most len(x)/32 of them in float32, so the sum is good to about
// 1e-6 relative for a vocabulary; the lanes are added in float64. The
// result depends only on the values and their order, not on the CPU.
func SumExp(x []float32, top, floor float32) float64 {
	var lanes [Lanes]float32
	n := vectorised(x, top, floor, &lanes)
	return finishSum(x, n, top, floor, &lanes)
}

// finishSum adds the terms of x[n:] to their lanes and the lanes together.
func finishSum(x []float32, n int, top, floor float32, lanes *[Lanes]float32) float64 {
	sumExpGeneric(x, n, len(x), top, floor, lanes)
	var sum float64
	for _, l := range lanes {
		sum += float64(l)
	}
	return sum
}

// sumExpGeneric is the portable lane loop over values [from, to), value i
// into lane i%Lanes, the reference the assembly must match bit for bit.
func sumExpGeneric(x []float32, from, to int, top, floor float32, lanes *[Lanes]float32) {
	for i := from; i < to; i++ {
		if x[i] >= floor {
			lanes[i%Lanes] += expShifted(x[i], top)
		}
	}
}

// expShifted is exp(min(v, MaxFloat32) − top), see expOf.
func expShifted(v, top float32) float32 { return expOf(min(v, math.MaxFloat32) - top) }

// expOf is e^d for d in [minExp, 0]: 2^n·e^r with n = round(d·log2 e) and
// r = d − n·ln 2. Every product is rounded before the following sum (the
// conversions forbid the compiler to fuse them), as the assembly, which
// uses no FMA, does.
func expOf(d float32) float32 {
	n := float32(math.RoundToEven(float64(float32(d * log2e))))
	r := d - float32(n*ln2Hi)
	r -= float32(n * ln2Lo)
	y := float32(p0*r) + p1
	y = float32(y*r) + p2
	y = float32(y*r) + p3
	y = float32(y*r) + p4
	y = float32(y*r) + p5
	y = float32(y*float32(r*r)) + r
	y++
	return math.Float32frombits(math.Float32bits(y) + uint32(int32(n))<<23)
}
