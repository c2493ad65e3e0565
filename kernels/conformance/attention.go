package conformance

import (
	"fmt"
	"testing"

	"github.com/tabshard/tabshard/kernels"
	"github.com/tabshard/tabshard/quant"
)

// testAttention runs a prefill, a decode step and a mixed multi-slot batch
// through caches of every KV format, with grouped-query heads.
func testAttention(t *testing.T, p *pair, o Options) {
	types := o.KVTypes
	if types == nil {
		types = KVTypes
	}
	for _, ty := range types {
		for _, hd := range []int{64, 128} {
			t.Run(fmt.Sprintf("%s/hd%d", ty, hd), func(t *testing.T) {
				q := *p
				q.t = t
				cfg := kernels.KVConfig{Layers: 2, Slots: 3, Context: 320, KVHeads: 2, HeadDim: hd, Type: ty}
				heads := 4
				cr, err := q.ref.NewKVCache(cfg)
				if err != nil {
					t.Fatalf("ref NewKVCache: %v", err)
				}
				defer cr.Release()
				cd, err := q.dev.NewKVCache(cfg)
				if err != nil {
					t.Fatalf("dev NewKVCache: %v", err)
				}
				defer cd.Release()
				// Quantized caches: both sides quantize the same k and v,
				// but a value landing on a rounding boundary may round the
				// other way on a GPU (x·(1/d) in another precision), one
				// quantization step (~1/127 of a Q8_0 block's range, 1/8 of
				// Q4_0's) on rare elements, averaged over the softmax.
				tl := map[quant.Type]tol{
					quant.F32:  {Abs: 1e-5, Rel: 1e-4},
					quant.F16:  {Abs: 1e-4, Rel: 1e-3},
					quant.Q8_0: {Abs: 1e-3, Rel: 2e-2},
					quant.Q4_0: {Abs: 1e-2, Rel: 1e-1},
				}[ty]
				steps := [][]kernels.Seq{
					seqRange(1, 0, 17), // prefill of 17
					seqRange(1, 17, 1), // decode
					append(seqRange(0, 0, 3), seqRange(2, 0, 1)...), // two other slots
					seqRange(1, 18, 1),
					seqRange(2, 1, 299), // long prefill: past one 256-position tile
					seqRange(2, 300, 1), // decode over two tiles (split on GPUs)
					append(seqRange(1, 19, 1), seqRange(2, 301, 1)...), // one row's second split empty
					seqRange(0, 3, 140),
				}
				if o.Short {
					steps = steps[:7]
				}
				for i, seq := range steps {
					for layer := 0; layer < cfg.Layers; layer++ {
						rows := len(seq)
						qb := q.filled(q.randn(rows*heads*hd, 1))
						kb := q.filled(q.randn(rows*cfg.KVHeads*hd, 1))
						vb := q.filled(q.randn(rows*cfg.KVHeads*hd, 1))
						dst := q.buf(rows * heads * hd)
						q.both("Attention", func(d kernels.Device, b func(buffers) kernels.Buffer, _ func(matrices) kernels.Matrix) error {
							c := cr
							if d == q.dev {
								c = cd
							}
							return d.Attention(b(dst), b(qb), b(kb), b(vb), c, layer, heads, seq)
						})
						r, g := q.read(dst, rows*heads*hd)
						compare(t, fmt.Sprintf("step %d layer %d", i, layer), r, g, hd, tl)
					}
				}
			})
		}
	}
}
