package quant_test

import (
	"math"
	"strings"
	"testing"

	"github.com/tabshard/tabshard/quant"
)

// Bad sizes and unsupported or unknown types are errors that name the
// problem, never panics.
func TestErrors(t *testing.T) {
	x := make([]float32, 256)
	for _, ty := range computeTypes {
		good := make([]byte, mustRowBytes(ty, 256))
		for _, bad := range [][]byte{nil, good[:len(good)-1], append(good, 0)} {
			if err := quant.Dequantize(ty, bad, x); err == nil {
				t.Errorf("%s: Dequantize accepted %d bytes", ty, len(bad))
			}
			if err := quant.Quantize(ty, x, bad); err == nil {
				t.Errorf("%s: Quantize accepted %d bytes", ty, len(bad))
			}
			if _, err := quant.Dot(ty, bad, x); err == nil {
				t.Errorf("%s: Dot accepted %d bytes", ty, len(bad))
			}
		}
		if ty.BlockElems() > 1 {
			odd := make([]float32, ty.BlockElems()+1)
			if err := quant.Quantize(ty, odd, good); err == nil || !strings.Contains(err.Error(), ty.String()) {
				t.Errorf("%s: partial block: %v", ty, err)
			}
		}
		if err := quant.CheckRow(ty, good, 256); err != nil {
			t.Errorf("%s: CheckRow: %v", ty, err)
		}
	}
	for _, ty := range []quant.Type{quant.IQ2_XXS, quant.Q8_1, quant.I32, quant.MXFP4, quant.Type(4), quant.Type(99)} {
		buf := make([]byte, 4096)
		err := quant.Dequantize(ty, buf, x)
		if err == nil {
			t.Errorf("%s: Dequantize succeeded", ty)
			continue
		}
		if ty.Known() && !strings.Contains(err.Error(), ty.String()) {
			t.Errorf("%s: error %q does not name the format", ty, err)
		}
		if err := quant.Quantize(ty, x, buf); err == nil {
			t.Errorf("%s: Quantize succeeded", ty)
		}
		if _, err := quant.Dot(ty, buf, x); err == nil {
			t.Errorf("%s: Dot succeeded", ty)
		}
		if err := quant.MatVec(ty, buf, x, make([]float32, 1)); err == nil {
			t.Errorf("%s: MatVec succeeded", ty)
		}
		if quant.Supported(ty) {
			t.Errorf("%s: Supported", ty)
		}
		if v := quant.DotRow(ty, buf, x); !math.IsNaN(float64(v)) {
			t.Errorf("%s: DotRow = %v, want NaN", ty, v)
		}
	}
}

// The unchecked hot-path functions never panic on sizes that disagree.
func TestUncheckedSizesDoNotPanic(t *testing.T) {
	x := make([]float32, 600)
	for i := range x {
		x[i] = 1
	}
	for _, ty := range computeTypes {
		full := make([]byte, mustRowBytes(ty, 512))
		for _, row := range [][]byte{nil, full[:1], full[:len(full)-1], full, append(full, make([]byte, 999)...)} {
			for _, xs := range [][]float32{nil, x[:1], x[:255], x[:512], x} {
				quant.DotRow(ty, row, xs)
				quant.DequantizeRow(ty, row, make([]float32, len(xs)))
			}
		}
	}
}

// Non-finite and extreme weights are garbage in, garbage out, but never a
// panic (the C reference has undefined behaviour here; we only promise
// safety).
func TestQuantizeNonFinite(t *testing.T) {
	specials := []float32{float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1)), math.MaxFloat32, -math.MaxFloat32, math.SmallestNonzeroFloat32, 0}
	x := make([]float32, 512)
	for i := range x {
		x[i] = specials[i%len(specials)] * float32(1+i%3)
	}
	for _, ty := range computeTypes {
		buf := make([]byte, mustRowBytes(ty, len(x)))
		if err := quant.Quantize(ty, x, buf); err != nil {
			t.Fatalf("%s: %v", ty, err)
		}
		if err := quant.Dequantize(ty, buf, make([]float32, len(x))); err != nil {
			t.Fatalf("%s: %v", ty, err)
		}
		quant.DotRow(ty, buf, x)
	}
}
