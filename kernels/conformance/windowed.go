package conformance

import (
	"testing"

	"github.com/tabshard/tabshard/kernels"
	"github.com/tabshard/tabshard/quant"
)

// RunWindowed checks tensors meant to exceed a device's binding window
// (run it on a device configured with small bindings): a 2.3 MiB F32 matrix
// and embedding table, and a KV cache whose slots span several windows.
// Of opts only QuantizedX applies.
func RunWindowed(t *testing.T, ref, dev kernels.Device, opts Options) {
	p := &pair{t: t, ref: ref, dev: dev}
	t.Run("matmul", func(t *testing.T) {
		q := *p
		q.t = t
		q.rng = newRand()
		rows, cols := 300, 2048 // 2.3 MiB of F32, 0.6 MiB of Q8_0
		for _, ty := range []quant.Type{quant.F32, quant.Q8_0, quant.Q6_K} {
			m := q.matrix(ty, rows, cols, q.randn(rows*cols, 0.5))
			for _, batch := range []int{1, 17} {
				x := q.filled(q.randn(batch*cols, 1))
				dst := q.buf(batch * rows)
				q.both("MatMul", func(d kernels.Device, b func(buffers) kernels.Buffer, mm func(matrices) kernels.Matrix) error {
					return d.MatMul(b(dst), mm(m), b(x), batch)
				})
				r, g := q.read(dst, batch*rows)
				compare(t, "windowed MatMul "+ty.String(), r, g, rows, opts.productTol(ty, tol{Abs: 1e-5, Rel: 2e-4}))
			}
			ids := []int32{0, 299, 150, 151, 7}
			dst := q.buf(len(ids) * cols)
			q.both("Embed", func(d kernels.Device, b func(buffers) kernels.Buffer, mm func(matrices) kernels.Matrix) error {
				return d.Embed(b(dst), mm(m), ids)
			})
			r, g := q.read(dst, len(ids)*cols)
			compare(t, "windowed Embed "+ty.String(), r, g, cols, tol{Abs: 1e-6, Rel: 1e-6})
		}
	})
	t.Run("attention", func(t *testing.T) {
		q := *p
		q.t = t
		q.rng = newRand()
		// One slot of one layer: 512·2·128·4 = 512 KiB in F32, so a 1 MiB
		// window holds two of the five slots.
		cfg := kernels.KVConfig{Layers: 1, Slots: 5, Context: 512, KVHeads: 2, HeadDim: 128, Type: quant.F32}
		cr, err := ref.NewKVCache(cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer cr.Release()
		cd, err := dev.NewKVCache(cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer cd.Release()
		heads := 4
		for i, seq := range [][]kernels.Seq{
			append(append(seqRange(0, 0, 3), seqRange(4, 0, 2)...), seqRange(2, 0, 4)...),
			{{Slot: 4, Pos: 2}, {Slot: 0, Pos: 3}, {Slot: 2, Pos: 4}, {Slot: 3, Pos: 0}},
		} {
			rows := len(seq)
			qb := q.filled(q.randn(rows*heads*cfg.HeadDim, 1))
			kb := q.filled(q.randn(rows*cfg.KVHeads*cfg.HeadDim, 1))
			vb := q.filled(q.randn(rows*cfg.KVHeads*cfg.HeadDim, 1))
			dst := q.buf(rows * heads * cfg.HeadDim)
			q.both("Attention", func(d kernels.Device, b func(buffers) kernels.Buffer, _ func(matrices) kernels.Matrix) error {
				c := cr
				if d == dev {
					c = cd
				}
				return d.Attention(b(dst), b(qb), b(kb), b(vb), c, 0, heads, seq)
			})
			r, g := q.read(dst, rows*heads*cfg.HeadDim)
			compare(t, "windowed Attention step "+string(rune('0'+i)), r, g, cfg.HeadDim, tol{Abs: 1e-5, Rel: 1e-4})
		}
	})
}
