package cpu

import (
	"strings"
	"testing"

	"github.com/tabshard/tabshard/kernels"
	"github.com/tabshard/tabshard/quant"
)

// TestFusedMatMulRefuses checks that CheckFused (every device calls it
// first) refuses malformed calls with a message naming the problem.
func TestFusedMatMulRefuses(t *testing.T) {
	d, err := New(1)
	if err != nil {
		t.Fatal(err)
	}
	w, err := d.UploadMatrix(quant.F32, 8, 4, make([]byte, 8*4*4))
	if err != nil {
		t.Fatal(err)
	}
	x, _ := d.NewBuffer(4)
	a, _ := d.NewBuffer(4)
	b, _ := d.NewBuffer(4)
	seq := []kernels.Seq{{Pos: 3}}
	rot := func(cols, hd int, theta float32, seq []kernels.Seq) kernels.Rotary {
		return kernels.Rotary{Cols: cols, HeadDim: hd, Theta: theta, Seq: seq}
	}
	split := []int{4, 4}
	for _, c := range []struct {
		name string
		dsts []kernels.Buffer
		f    kernels.Fused
		want string
	}{
		{"x as dst", []kernels.Buffer{x}, kernels.Fused{}, "aliases x"},
		{"dst twice", []kernels.Buffer{a, a}, kernels.Fused{Split: split}, "one buffer"},
		{"rope mid-destination", []kernels.Buffer{a, b}, kernels.Fused{Split: split, RoPE: rot(2, 2, 1e4, seq)}, "does not end"},
		{"rope odd head", []kernels.Buffer{a, b}, kernels.Fused{Split: split, RoPE: rot(4, 1, 1e4, seq)}, "head width"},
		{"rope theta", []kernels.Buffer{a, b}, kernels.Fused{Split: split, RoPE: rot(4, 2, 0, seq)}, "theta"},
		{"rope positions", []kernels.Buffer{a, b}, kernels.Fused{Split: split, RoPE: rot(4, 2, 1e4, nil)}, "positions for"},
		{"rope negative", []kernels.Buffer{a, b}, kernels.Fused{Split: split, RoPE: rot(4, 2, 1e4, []kernels.Seq{{Pos: -1}})}, "negative"},
		{"rope accumulate", []kernels.Buffer{a}, kernels.Fused{Out: kernels.Accumulate, RoPE: rot(8, 2, 1e4, seq)}, "Store"},
	} {
		err := d.FusedMatMul(c.dsts, w, x, 1, c.f)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want an error containing %q", c.name, err, c.want)
		}
	}
}
