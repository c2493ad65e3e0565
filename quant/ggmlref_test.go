package quant_test

import (
	"bytes"
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/tabshard/tabshard/quant"
)

// TestGGMLReference compares with vectors that ggml's own C code produced
// (testdata/ggmlref/gen.go says how): quantizing weights from eleven
// distributions, including random bit patterns, must give the same bytes,
// and dequantizing random block bytes (NaN and Inf scales included) the
// same float32 bits.
func TestGGMLReference(t *testing.T) {
	dir := filepath.Join("testdata", "ggmlref")
	in, err := os.ReadFile(filepath.Join(dir, "input.f32"))
	if err != nil {
		t.Fatal(err)
	}
	x := make([]float32, len(in)/4)
	for i := range x {
		x[i] = math.Float32frombits(binary.LittleEndian.Uint32(in[4*i:]))
	}
	raw, err := os.ReadFile(filepath.Join(dir, "random.bin"))
	if err != nil {
		t.Fatal(err)
	}
	for _, ty := range computeTypes {
		if ty == quant.F32 {
			continue
		}
		want, err := os.ReadFile(filepath.Join(dir, "quantize_"+ty.String()+".bin"))
		if err != nil {
			t.Fatal(err)
		}
		got := make([]byte, len(want))
		if err := quant.Quantize(ty, x, got); err != nil {
			t.Fatalf("%s: %v", ty, err)
		}
		bb := ty.BlockBytes()
		bad := 0
		for i := 0; i < len(want); i += bb {
			if !bytes.Equal(got[i:i+bb], want[i:i+bb]) {
				if bad == 0 {
					t.Errorf("%s: block %d: got %x, ggml %x", ty, i/bb, got[i:i+bb], want[i:i+bb])
				}
				bad++
			}
		}
		if bad > 0 {
			t.Errorf("%s: %d of %d quantized blocks differ from ggml", ty, bad, len(want)/bb)
		}

		wantF, err := os.ReadFile(filepath.Join(dir, "dequantize_"+ty.String()+".f32"))
		if err != nil {
			t.Fatal(err)
		}
		src := raw[:len(raw)/bb*bb]
		deq := make([]float32, len(wantF)/4)
		if err := quant.Dequantize(ty, src, deq); err != nil {
			t.Fatalf("%s: %v", ty, err)
		}
		bad = 0
		for i, v := range deq {
			w := math.Float32frombits(binary.LittleEndian.Uint32(wantF[4*i:]))
			same := math.Float32bits(v) == math.Float32bits(w) || (v != v && w != w)
			if !same {
				if bad == 0 {
					t.Errorf("%s: value %d: got %g (%#08x), ggml %g (%#08x)", ty, i, v, math.Float32bits(v), w, math.Float32bits(w))
				}
				bad++
			}
		}
		if bad > 0 {
			t.Errorf("%s: %d of %d dequantized values differ from ggml", ty, bad, len(deq))
		}
	}
}
