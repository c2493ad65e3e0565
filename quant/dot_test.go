package quant_test

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/tabshard/tabshard/quant"
)

// dot64 is the float64 dot product of a and b.
func dot64(a, b []float32) float64 {
	var s float64
	for i := range a {
		s += float64(a[i]) * float64(b[i])
	}
	return s
}

// absDot64 is Σ|a·b|, the scale float32 rounding errors are relative to.
func absDot64(a, b []float32) float64 {
	var s float64
	for i := range a {
		s += math.Abs(float64(a[i]) * float64(b[i]))
	}
	return s
}

// TestDotRow checks DotRow against a float64 dot of the dequantized row, for
// several lengths (odd ones where the format allows). The tolerance is
// relative to Σ|w·x|: float32 accumulation over n terms errs by about
// n·2⁻²⁴ of that in the worst case and far less in practice.
func TestDotRow(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, ty := range computeTypes {
		be := ty.BlockElems()
		for _, n := range []int{be, 3 * be, 4096, 11008 / be * be, be * 37, 1, 7, 33, 1001} {
			if n%be != 0 {
				continue
			}
			w := randomWeights(r, n)
			x := randomWeights(r, n)
			row := make([]byte, mustRowBytes(ty, n))
			if err := quant.Quantize(ty, w, row); err != nil {
				t.Fatal(err)
			}
			deq := make([]float32, n)
			if err := quant.Dequantize(ty, row, deq); err != nil {
				t.Fatal(err)
			}
			want := dot64(deq, x)
			scale := absDot64(deq, x)
			got := quant.DotRow(ty, row, x)
			checked, err := quant.Dot(ty, row, x)
			if err != nil {
				t.Fatalf("%s n=%d: %v", ty, n, err)
			}
			if checked != got {
				t.Errorf("%s n=%d: Dot %v != DotRow %v", ty, n, checked, got)
			}
			if diff := math.Abs(float64(got) - want); diff > 2e-6*scale+1e-30 {
				t.Errorf("%s n=%d: DotRow %v, float64 dot %v (diff %.3g, %.3g of Σ|w·x|)", ty, n, got, want, diff, diff/scale)
			}
		}
	}
}

// TestDotF32 covers every length up to a few vector widths (the vector
// loop's tails) and misaligned starts.
func TestDotF32(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	a := randomWeights(r, 300)
	b := randomWeights(r, 300)
	for off := 0; off < 3; off++ {
		for n := 0; n+off <= len(a); n++ {
			aa, bb := a[off:off+n], b[off:off+n]
			got := quant.DotF32(aa, bb)
			want := dot64(aa, bb)
			if diff := math.Abs(float64(got) - want); diff > 1e-6*absDot64(aa, bb)+1e-30 {
				t.Fatalf("n=%d off=%d: DotF32 %v, float64 %v", n, off, got, want)
			}
		}
	}
	if got := quant.DotF32(a[:10], b[:4]); float64(got) != float64(quant.DotF32(a[:4], b[:4])) {
		t.Errorf("unequal lengths: got %v", got)
	}
}

func TestMatVec(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	const rows, cols = 5, 512
	w := randomWeights(r, rows*cols)
	x := randomWeights(r, cols)
	for _, ty := range computeTypes {
		rb := mustRowBytes(ty, cols)
		buf := make([]byte, rows*rb)
		if err := quant.Quantize(ty, w, buf); err != nil {
			t.Fatal(err)
		}
		dst := make([]float32, rows)
		if err := quant.MatVec(ty, buf, x, dst); err != nil {
			t.Fatal(err)
		}
		for i := range dst {
			if want := quant.DotRow(ty, buf[i*rb:(i+1)*rb], x); dst[i] != want {
				t.Errorf("%s row %d: %v != %v", ty, i, dst[i], want)
			}
		}
		if err := quant.MatVec(ty, buf[:len(buf)-1], x, dst); err == nil {
			t.Errorf("%s: short matrix accepted", ty)
		}
	}
}

func TestAxpyF32(t *testing.T) {
	r := rand.New(rand.NewPCG(21, 22))
	x := randomWeights(r, 300)
	base := randomWeights(r, 300)
	for off := 0; off < 3; off++ {
		for n := 0; n+off <= len(x); n += 1 + n/16 {
			y := append([]float32(nil), base[off:off+n]...)
			quant.AxpyF32(y, 0.375, x[off:off+n])
			for i := range y {
				want := float64(base[off+i]) + 0.375*float64(x[off+i])
				if math.Abs(float64(y[i])-want) > 1e-6*(math.Abs(want)+1) {
					t.Fatalf("n=%d off=%d i=%d: %v, want %v", n, off, i, y[i], want)
				}
			}
		}
	}
	y := []float32{1, 1}
	quant.AxpyF32(y, 2, []float32{3})
	if y[0] != 7 || y[1] != 1 {
		t.Errorf("unequal lengths: %v", y)
	}
}
