//go:build !js

package webgpu

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/tabshard/tabshard/kernels"
	"github.com/tabshard/tabshard/quant"
)

// TestQuantizedXExact checks the tiled matvec's integer block dots (x
// rounded to int8s per 32 values, matvec_tiled.wgsl's QX) against an
// emulation of that rounding: each weight split into the part multiplied
// by the rounded x and the offset multiplied by the exact x (Q4_0's −8d,
// Q4_K's mins). The conformance suite only bounds these products loosely.
func TestQuantizedXExact(t *testing.T) {
	dev := open(t, Options{TiledShape: gpuTiled, X: XInt8})
	rng := rand.New(rand.NewPCG(3, 4))
	for _, ty := range []quant.Type{quant.Q8_0, quant.Q4_0, quant.Q4_K} {
		if !dev.QuantizesX(ty) {
			t.Fatalf("%s: the tiled matvec does not round x", ty)
		}
		for _, cols := range []int{512, 4608} { // 4608: two x tiles
			for _, batch := range []int{1, 3} {
				for _, norm := range []bool{false, true} {
					t.Run(fmt.Sprintf("%s/%d/batch%d/norm%v", ty, cols, batch, norm), func(t *testing.T) {
						checkQuantizedX(t, dev, rng, ty, 40, cols, batch, norm)
					})
				}
			}
		}
	}
}

func checkQuantizedX(t *testing.T, dev *Device, rng *rand.Rand, ty quant.Type, rows, cols, batch int, norm bool) {
	rb, err := ty.RowBytes(cols)
	if err != nil {
		t.Fatal(err)
	}
	data := make([]byte, rows*rb)
	vals := make([]float32, cols)
	for r := 0; r < rows; r++ {
		for i := range vals {
			vals[i] = float32(rng.NormFloat64()) * 0.5
		}
		if err := quant.Quantize(ty, vals, data[r*rb:(r+1)*rb]); err != nil {
			t.Fatal(err)
		}
	}
	xs := make([]float32, batch*cols)
	for i := range xs {
		xs[i] = float32(rng.NormFloat64()) * 2
	}
	g := make([]float32, cols)
	for i := range g {
		g[i] = float32(rng.NormFloat64())
	}
	m, err := dev.UploadMatrix(ty, rows, cols, data)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Release()
	x, _ := dev.NewBuffer(len(xs))
	y, _ := dev.NewBuffer(batch * rows)
	defer x.Release()
	defer y.Release()
	if err := dev.Write(x, xs); err != nil {
		t.Fatal(err)
	}
	f := kernels.Fused{Out: kernels.Store, Eps: 1e-5}
	if norm {
		gb := make([]byte, 4*cols)
		if err := quant.Quantize(quant.F32, g, gb); err != nil {
			t.Fatal(err)
		}
		gm, err := dev.UploadMatrix(quant.F32, 1, cols, gb)
		if err != nil {
			t.Fatal(err)
		}
		defer gm.Release()
		f.Norm = gm
	}
	if err := dev.FusedMatMul([]kernels.Buffer{y}, m, x, batch, f); err != nil {
		t.Fatal(err)
	}
	got := make([]float32, batch*rows)
	if err := dev.Read(y, got); err != nil {
		t.Fatal(err)
	}
	wInt, wOff := splitWeights(t, ty, data, rows, cols)
	for b := 0; b < batch; b++ {
		xb := append([]float32(nil), xs[b*cols:(b+1)*cols]...)
		scale := 1.0
		if norm {
			var ss float64
			for i, v := range xb {
				ss += float64(v) * float64(v)
				xb[i] = v * g[i]
			}
			scale = 1 / math.Sqrt(ss/float64(cols)+1e-5)
		}
		xq := roundX8(xb)
		want := make([]float64, rows)
		var rms float64
		for r := range want {
			var s float64
			for i := 0; i < cols; i++ {
				s += float64(wInt[r*cols+i])*xq[i] + float64(wOff[r*cols+i])*float64(xb[i])
			}
			want[r] = s * scale
			rms += want[r] * want[r]
		}
		rms = math.Sqrt(rms / float64(rows))
		// f32 sums against float64 ones, and an x value whose rounding tie
		// the GPU's 127/m breaks the other way (one step of one x).
		lim := 2e-4 * rms
		for r, w := range want {
			if e := math.Abs(float64(got[b*rows+r]) - w); e > lim {
				t.Errorf("batch row %d, row %d: got %g, emulation %g (error %.3g of the row RMS %.3g)", b, r, got[b*rows+r], w, e/rms, rms)
			}
		}
	}
}

// roundX8 is matvec_tiled.wgsl's x staging: per 32 values, scale m/127
// for the largest magnitude m, each value rounded to the nearest step
// (ties to even), returned as the values the integer dot multiplies.
func roundX8(x []float32) []float64 {
	out := make([]float64, len(x))
	for b := 0; b < len(x); b += 32 {
		var m float32
		for _, v := range x[b : b+32] {
			m = max(m, float32(math.Abs(float64(v))))
		}
		if m == 0 {
			continue
		}
		inv, d := 127/m, m/127
		for i := b; i < b+32; i++ {
			out[i] = math.RoundToEven(float64(x[i]*inv)) * float64(d)
		}
	}
	return out
}

// splitWeights dequantizes rows of t into the part the integer dot
// multiplies (by the rounded x) and the offset multiplied by the exact x.
func splitWeights(t *testing.T, ty quant.Type, data []byte, rows, cols int) (wInt, wOff []float32) {
	rb, _ := ty.RowBytes(cols)
	w := make([]float32, rows*cols)
	wOff = make([]float32, rows*cols)
	if err := quant.Dequantize(ty, data, w); err != nil {
		t.Fatal(err)
	}
	bb := ty.BlockBytes()
	switch ty {
	case quant.Q4_0: // w = d·(n − 8): offset −8d
		for r := 0; r < rows; r++ {
			for b := 0; b < cols/32; b++ {
				d := quant.F16ToF32(binary.LittleEndian.Uint16(data[r*rb+b*bb:]))
				for i := 0; i < 32; i++ {
					wOff[r*cols+32*b+i] = -8 * d
				}
			}
		}
	case quant.Q4_K: // w = d·sc·n − dmin·m: the block with d = 0 is the offset
		mins := append([]byte(nil), data...)
		for o := 0; o < len(mins); o += bb {
			mins[o], mins[o+1] = 0, 0
		}
		if err := quant.Dequantize(ty, mins, wOff); err != nil {
			t.Fatal(err)
		}
	}
	wInt = make([]float32, len(w))
	for i := range w {
		wInt[i] = w[i] - wOff[i]
	}
	return wInt, wOff
}
