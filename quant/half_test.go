package quant_test

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/tabshard/tabshard/quant"
)

// Every non-NaN half converts to float32 and back unchanged, and the
// conversion to float32 agrees with the IEEE definition.
func TestF16Exhaustive(t *testing.T) {
	for i := 0; i < 1<<16; i++ {
		h := uint16(i)
		f := quant.F16ToF32(h)
		exp, man := int(h>>10&0x1f), float64(h&0x3ff)
		var want float64
		switch exp {
		case 0:
			want = man * math.Ldexp(1, -24)
		case 31:
			if man != 0 {
				if !math.IsNaN(float64(f)) {
					t.Fatalf("%#04x: %v, want NaN", h, f)
				}
				if got := quant.F32ToF16(f); got != h&0x8000|0x7e00 {
					t.Fatalf("NaN %#04x -> %#04x", h, got)
				}
				continue
			}
			want = math.Inf(1)
		default:
			want = (1 + man/1024) * math.Ldexp(1, exp-15)
		}
		if h&0x8000 != 0 {
			want = -want
		}
		if float64(f) != want || math.Signbit(float64(f)) != (h&0x8000 != 0) {
			t.Fatalf("F16ToF32(%#04x) = %v, want %v", h, f, want)
		}
		if back := quant.F32ToF16(f); back != h {
			t.Fatalf("F32ToF16(F16ToF32(%#04x)) = %#04x", h, back)
		}
	}
}

// F32ToF16 rounds to nearest, ties to even, overflowing to infinity.
func TestF32ToF16Rounding(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	for i := 0; i < 200000; i++ {
		f := math.Float32frombits(r.Uint32())
		if f != f {
			continue
		}
		h := quant.F32ToF16(f)
		got := float64(quant.F16ToF32(h))
		want := nearestHalf(float64(f))
		if got != want {
			t.Fatalf("F32ToF16(%g) = %#04x (%g), want %g", f, h, got, want)
		}
	}
}

// nearestHalf rounds v to binary16 by exhaustive neighbour search.
func nearestHalf(v float64) float64 {
	const maxHalf = 65504.0
	av := math.Abs(v)
	if av >= maxHalf+16 { // halfway to 2^16 and beyond round to infinity
		return math.Copysign(math.Inf(1), v)
	}
	ulp := math.Ldexp(1, -24)
	if av >= math.Ldexp(1, -14) {
		_, e := math.Frexp(av)
		ulp = math.Ldexp(1, e-11)
	}
	lo := math.Floor(av/ulp) * ulp
	hi := lo + ulp
	var r float64
	switch {
	case av-lo < hi-av:
		r = lo
	case av-lo > hi-av:
		r = hi
	case math.Mod(lo/ulp, 2) == 0:
		r = lo
	default:
		r = hi
	}
	return math.Copysign(r, v)
}

func TestBF16(t *testing.T) {
	cases := []struct {
		f    float32
		want uint16
	}{
		{1, 0x3f80}, {-2, 0xc000}, {0, 0}, {float32(math.Inf(-1)), 0xff80},
		{math.Float32frombits(0x3f808000), 0x3f80}, // tie, even stays
		{math.Float32frombits(0x3f818000), 0x3f82}, // tie, odd rounds up
		{math.Float32frombits(0x3f808001), 0x3f81},
		{math.Float32frombits(0x7f800001), 0x7fc0}, // signalling NaN made quiet
		{math.Float32frombits(0x00000001), 0x0000}, // subnormal kept, rounds to 0
		{math.Float32frombits(0x00018000), 0x0002},
	}
	for _, c := range cases {
		if got := quant.F32ToBF16(c.f); got != c.want {
			t.Errorf("F32ToBF16(%#08x) = %#04x, want %#04x", math.Float32bits(c.f), got, c.want)
		}
	}
	for i := 0; i < 1<<16; i++ {
		f := quant.BF16ToF32(uint16(i))
		if f == f && quant.F32ToBF16(f) != uint16(i) {
			t.Fatalf("bf16 %#04x does not round-trip", i)
		}
	}
}

// The F16C row conversion and the table agree on every half, NaNs aside
// (both are NaN; payload quieting may differ).
func TestDequantizeF16AllValues(t *testing.T) {
	src := make([]byte, 2<<16+2) // plus one odd tail value
	for i := 0; i <= 1<<16; i++ {
		src[2*i], src[2*i+1] = byte(i), byte(i>>8)
	}
	fast := make([]float32, 1<<16+1)
	if err := quant.Dequantize(quant.F16, src, fast); err != nil {
		t.Fatal(err)
	}
	slow := make([]float32, len(fast))
	quant.DequantF16Generic(src, slow)
	for i := range fast {
		a, b := fast[i], slow[i]
		if math.Float32bits(a) != math.Float32bits(b) && !(a != a && b != b) {
			t.Fatalf("half %#04x: %v vs %v", uint16(i), a, b)
		}
	}
}
