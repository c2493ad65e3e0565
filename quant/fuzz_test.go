package quant_test

import (
	"math"
	"testing"

	"github.com/tabshard/tabshard/quant"
)

// FuzzKernels feeds arbitrary block bytes to every format: the dispatching
// kernels (vector on amd64) must agree with the scalar ones — bit for bit
// when dequantizing, within rounding for dot products whose result is
// finite — and nothing may panic.
func FuzzKernels(f *testing.F) {
	f.Add([]byte{0x00, 0x3c, 1, 2, 3}, uint8(0))
	f.Add(make([]byte, 600), uint8(3))
	f.Add([]byte("\xff\x7b\x01\x80\x00\x3c\xff\xff\x00\x00\x12\x34\x56\x78"), uint8(7))
	f.Fuzz(func(t *testing.T, seed []byte, pick uint8) {
		if len(seed) == 0 {
			return
		}
		ty := computeTypes[int(pick)%len(computeTypes)]
		be := ty.BlockElems()
		n := be * (1 + int(pick)/len(computeTypes)%3)
		if be == 1 {
			n = 1 + int(pick)%67
		}
		row := make([]byte, mustRowBytes(ty, n))
		for i := range row {
			row[i] = seed[i%len(seed)] ^ byte(i*7)
		}
		x := make([]float32, n)
		for i := range x {
			x[i] = float32(i%13-6) * 0.25
		}
		deq := make([]float32, n)
		if err := quant.Dequantize(ty, row, deq); err != nil {
			t.Fatal(err)
		}
		if g, ok := quant.GenericDequant[ty]; ok {
			slow := make([]float32, n)
			g(row, slow)
			for i := range deq {
				a, b := deq[i], slow[i]
				if math.Float32bits(a) != math.Float32bits(b) && !(a != a && b != b) {
					t.Fatalf("%s dequantize %d: %v vs scalar %v", ty, i, a, b)
				}
			}
		}
		got, err := quant.Dot(ty, row, x)
		if err != nil {
			t.Fatal(err)
		}
		want, scale := dot64(deq, x), absDot64(deq, x)
		if math.IsInf(scale, 0) || math.IsNaN(scale) || scale > 1e30 {
			return // overflow territory: orders of summation legitimately differ
		}
		if math.Abs(float64(got)-want) > 4e-6*scale+1e-30 {
			t.Fatalf("%s n=%d: DotRow %v, float64 %v", ty, n, got, want)
		}
		if g, ok := quant.GenericDot[ty]; ok {
			if s := g(row, x); math.Abs(float64(s)-want) > 4e-6*scale+1e-30 {
				t.Fatalf("%s n=%d: scalar %v, float64 %v", ty, n, s, want)
			}
		}
	})
}

// FuzzQuantize quantizes arbitrary float32 bit patterns to every format:
// no panics, and rows within f16 range (|x| ≤ 60000, so no block scale can
// overflow its f16 field) come back without NaNs.
func FuzzQuantize(f *testing.F) {
	f.Add([]byte{0, 0, 0x80, 0x3f, 0, 0, 0x80, 0xbf})
	f.Add([]byte{0xff, 0xff, 0x7f, 0x7f, 1, 0, 0, 0})
	f.Fuzz(func(t *testing.T, seed []byte) {
		if len(seed) < 4 {
			return
		}
		x := make([]float32, 512)
		inRange := true
		for i := range x {
			o := (4 * i) % (len(seed) - 3)
			x[i] = math.Float32frombits(uint32(seed[o]) | uint32(seed[o+1])<<8 | uint32(seed[o+2])<<16 | uint32(seed[o+3])<<24)
			if math.IsNaN(float64(x[i])) || math.IsInf(float64(x[i]), 0) || math.Abs(float64(x[i])) > 60000 {
				inRange = false
			}
		}
		for _, ty := range computeTypes {
			buf := make([]byte, mustRowBytes(ty, len(x)))
			if err := quant.Quantize(ty, x, buf); err != nil {
				t.Fatal(err)
			}
			y := make([]float32, len(x))
			if err := quant.Dequantize(ty, buf, y); err != nil {
				t.Fatal(err)
			}
			if !inRange {
				continue
			}
			for i, v := range y {
				if math.IsNaN(float64(v)) {
					t.Fatalf("%s: finite input %v dequantized to NaN at %d", ty, x[i], i)
				}
			}
		}
	})
}
