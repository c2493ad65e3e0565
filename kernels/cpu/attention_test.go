package cpu_test

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/tabshard/tabshard/kernels"
	"github.com/tabshard/tabshard/kernels/cpu"
	"github.com/tabshard/tabshard/quant"
)

// TestAttentionBatchInvariant runs 45 positions of one slot as one batch
// (a prompt) and again one row per call (decode), for each cache format:
// every output must be bit-identical (pipeline batching relies on it), and
// the F32 cache's outputs must match a float64 softmax attention.
func TestAttentionBatchInvariant(t *testing.T) {
	const rows, heads, kvHeads, hd = 45, 4, 2, 64
	r := rand.New(rand.NewPCG(5, 6))
	randn := func(n int) []float32 {
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(r.NormFloat64())
		}
		return v
	}
	q, k, v := randn(rows*heads*hd), randn(rows*kvHeads*hd), randn(rows*kvHeads*hd)
	for _, ty := range []quant.Type{quant.F32, quant.F16, quant.Q8_0, quant.Q4_0} {
		dev, err := cpu.New(0)
		if err != nil {
			t.Fatal(err)
		}
		run := func(per int) []float32 {
			cache, err := dev.NewKVCache(kernels.KVConfig{Layers: 1, Slots: 2, Context: 64, KVHeads: kvHeads, HeadDim: hd, Type: ty})
			if err != nil {
				t.Fatal(err)
			}
			defer cache.Release()
			res := make([]float32, rows*heads*hd)
			for lo := 0; lo < rows; lo += per {
				n := min(per, rows-lo)
				seq := make([]kernels.Seq, n)
				for i := range seq {
					seq[i] = kernels.Seq{Slot: 1, Pos: int32(lo + i)}
				}
				bufs := make([]kernels.Buffer, 4)
				for i, src := range [][]float32{q[lo*heads*hd:], k[lo*kvHeads*hd:], v[lo*kvHeads*hd:], nil} {
					w := []int{heads, kvHeads, kvHeads, heads}[i] * hd * n
					if bufs[i], err = dev.NewBuffer(w); err != nil {
						t.Fatal(err)
					}
					if src != nil {
						_ = dev.Write(bufs[i], src[:w])
					}
				}
				if err := dev.Attention(bufs[3], bufs[0], bufs[1], bufs[2], cache, 0, heads, seq); err != nil {
					t.Fatal(err)
				}
				_ = dev.Read(bufs[3], res[lo*heads*hd:(lo+n)*heads*hd])
			}
			return res
		}
		batch, single, odd := run(rows), run(1), run(7)
		for i := range batch {
			if math.Float32bits(batch[i]) != math.Float32bits(single[i]) || math.Float32bits(batch[i]) != math.Float32bits(odd[i]) {
				t.Fatalf("%s: output %d is %v in one batch, %v one row at a time, %v in batches of 7", ty, i, batch[i], single[i], odd[i])
			}
		}
		if ty != quant.F32 {
			continue
		}
		for row := 0; row < rows; row++ {
			for h := 0; h < heads; h++ {
				kvh := h / (heads / kvHeads)
				qr := q[(row*heads+h)*hd:][:hd]
				s := make([]float64, row+1)
				mx := math.Inf(-1)
				for p := range s {
					kr := k[(p*kvHeads+kvh)*hd:][:hd]
					for i := range qr {
						s[p] += float64(qr[i]) * float64(kr[i])
					}
					s[p] /= math.Sqrt(hd)
					mx = math.Max(mx, s[p])
				}
				var sum float64
				for p := range s {
					s[p] = math.Exp(s[p] - mx)
					sum += s[p]
				}
				for i := 0; i < hd; i++ {
					var want float64
					for p := range s {
						want += s[p] / sum * float64(v[(p*kvHeads+kvh)*hd+i])
					}
					got := batch[(row*heads+h)*hd+i]
					if math.Abs(float64(got)-want) > 1e-5 {
						t.Fatalf("row %d head %d [%d]: %v, float64 %v", row, h, i, got, want)
					}
				}
			}
		}
	}
}
