//go:build !js

package main

import (
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/tabshard/tabshard/kernels"
	"github.com/tabshard/tabshard/kernels/webgpu"
	"github.com/tabshard/tabshard/quant"
)

// 7B LLaMA shape.
const (
	dim    = 4096
	ffn    = 11008
	heads  = 32
	hd     = 128
	vocab  = 32000
	ctxLen = 4096 // room for -pos
)

type layer struct{ wq, wk, wv, wo, w1, w2, w3, an, fn kernels.Matrix }

// decode7B runs greedy-shaped decode steps (one position, argmax on the
// device, one fence per token) through a 7B-shaped model of type t, op by
// op without fusion: sixteen dispatches a layer, the baseline decodeModel
// is compared with.
func decode7B(d kernels.Device, t quant.Type, tokens, nl int, copyBW float64) error {
	rng := rand.New(rand.NewPCG(7, 7))
	var mats []kernels.Matrix
	defer func() {
		for _, m := range mats {
			m.Release()
		}
	}()
	var weightBytes int64
	cache := map[[2]int][]byte{}
	up := func(rows, cols int, ty quant.Type, count bool) (kernels.Matrix, error) {
		key := [2]int{rows, cols}
		data := cache[key]
		if ty == quant.F32 {
			f := make([]byte, rows*cols*4)
			for i := 0; i < rows*cols; i++ {
				f[4*i+2], f[4*i+3] = 0x80, 0x3f // 1.0
			}
			data = f
		} else if data == nil {
			var err error
			if data, err = quant.RandomRows(ty, rows, cols, rng); err != nil {
				return nil, err
			}
			cache[key] = data
		}
		m, err := d.UploadMatrix(ty, rows, cols, data)
		if err != nil {
			return nil, err
		}
		mats = append(mats, m)
		if count {
			weightBytes += int64(len(data))
		}
		return m, nil
	}
	start := time.Now()
	emb, err := up(vocab, dim, t, false)
	if err != nil {
		return err
	}
	ls := make([]layer, nl)
	for i := range ls {
		l := &ls[i]
		for _, w := range []struct {
			dst        *kernels.Matrix
			rows, cols int
			ty         quant.Type
		}{
			{&l.wq, dim, dim, t}, {&l.wk, dim, dim, t}, {&l.wv, dim, dim, t}, {&l.wo, dim, dim, t},
			{&l.w1, ffn, dim, t}, {&l.w3, ffn, dim, t}, {&l.w2, dim, ffn, t},
			{&l.an, 1, dim, quant.F32}, {&l.fn, 1, dim, quant.F32},
		} {
			if *w.dst, err = up(w.rows, w.cols, w.ty, true); err != nil {
				return err
			}
		}
	}
	outNorm, err := up(1, dim, quant.F32, true)
	if err != nil {
		return err
	}
	out, err := up(vocab, dim, t, true)
	if err != nil {
		return err
	}
	kv, err := d.NewKVCache(kernels.KVConfig{Layers: nl, Slots: 1, Context: ctxLen, KVHeads: heads, HeadDim: hd, Type: quant.F16})
	if err != nil {
		return err
	}
	defer kv.Release()
	fmt.Printf("decode %s (unfused ops): %d layers uploaded in %.1f s, %.2f GB of weights read per token\n", t, nl, time.Since(start).Seconds(), float64(weightBytes)/1e9)

	var bufs []kernels.Buffer
	nb := func(n int) kernels.Buffer {
		b, e := d.NewBuffer(n)
		if e != nil && err == nil {
			err = e
		}
		bufs = append(bufs, b)
		return b
	}
	x, h, q, k, v, att, o, g, u, s, logits := nb(dim), nb(dim), nb(dim), nb(dim), nb(dim), nb(dim), nb(dim), nb(ffn), nb(ffn), nb(ffn), nb(vocab)
	defer func() {
		for _, b := range bufs {
			if b != nil {
				b.Release()
			}
		}
	}()
	if err != nil {
		return err
	}
	layerOps := func(li int, l layer, seq []kernels.Seq) []namedOp {
		return []namedOp{
			{"rmsnorm", func() error { return d.RMSNorm(h, x, l.an, 1, 1e-5) }},
			{"matvec q", func() error { return d.MatMul(q, l.wq, h, 1) }},
			{"matvec k", func() error { return d.MatMul(k, l.wk, h, 1) }},
			{"matvec v", func() error { return d.MatMul(v, l.wv, h, 1) }},
			{"rope q", func() error { return d.RoPE(q, heads, hd, seq, 10000) }},
			{"rope k", func() error { return d.RoPE(k, heads, hd, seq, 10000) }},
			{"attention", func() error { return d.Attention(att, q, k, v, kv, li, heads, seq) }},
			{"matvec o", func() error { return d.MatMul(o, l.wo, att, 1) }},
			{"add", func() error { return d.Add(x, x, o, dim) }},
			{"rmsnorm", func() error { return d.RMSNorm(h, x, l.fn, 1, 1e-5) }},
			{"matvec gate", func() error { return d.MatMul(g, l.w1, h, 1) }},
			{"matvec up", func() error { return d.MatMul(u, l.w3, h, 1) }},
			{"silu·mul", func() error { return d.SiLUMul(s, g, u, ffn) }},
			{"matvec down", func() error { return d.MatMul(o, l.w2, s, 1) }},
			{"add", func() error { return d.Add(x, x, o, dim) }},
		}
	}
	record := func(pos int, id int32) error {
		seq := []kernels.Seq{{Slot: 0, Pos: int32(pos)}}
		if err := d.Embed(x, emb, []int32{id}); err != nil {
			return err
		}
		for li, l := range ls {
			for _, op := range layerOps(li, l, seq) {
				if err := op.run(); err != nil {
					return err
				}
			}
		}
		if err := d.RMSNorm(h, x, outNorm, 1, 1e-5); err != nil {
			return err
		}
		return d.MatMul(logits, out, h, 1)
	}
	pos, err := timeDecode(d, fmt.Sprintf("%s (unfused ops)", t), tokens, weightBytes, copyBW, record, logits)
	if err != nil {
		return err
	}
	if !opProfile {
		return nil
	}
	// Each op of one layer alone, repeated back to back (each depends on the
	// last through the device's barriers): what it costs inside a token.
	seq := []kernels.Seq{{Slot: 0, Pos: int32(pos)}}
	var sum time.Duration
	for _, op := range layerOps(0, ls[0], seq) {
		per, _, err := timeOp(d, op, x)
		if err != nil {
			return err
		}
		sum += per
		fmt.Printf("decode %s op %-12s %7.1f µs\n", t, op.name, per.Seconds()*1e6)
	}
	fmt.Printf("decode %s ops of one layer: %.1f µs, × %d layers = %.2f ms\n", t, sum.Seconds()*1e6, nl, sum.Seconds()*1e3*float64(nl))
	return fusedProfile(d, t, ls[0], cache, x, att, s, seq)
}

// fusedProfile times the fused products of one layer (stacked as
// model.Layers stacks them) and the same stacks without the fused
// prologue and epilogues, each alone and back to back as in opProfile.
func fusedProfile(d kernels.Device, t quant.Type, l layer, cache map[[2]int][]byte, x, att, s kernels.Buffer, seq []kernels.Seq) error {
	sq, sf := cache[[2]int{dim, dim}], cache[[2]int{ffn, dim}]
	qkvM, err := d.UploadMatrix(t, 3*dim, dim, append(append(append([]byte(nil), sq...), sq...), sq...))
	if err != nil {
		return err
	}
	defer qkvM.Release()
	guM, err := d.UploadMatrix(t, 2*ffn, dim, append(append([]byte(nil), sf...), sf...))
	if err != nil {
		return err
	}
	defer guM.Release()
	var bufs []kernels.Buffer
	defer func() {
		for _, b := range bufs {
			b.Release()
		}
	}()
	for _, n := range []int{dim, dim, dim, 3 * dim, 2 * ffn} {
		b, err := d.NewBuffer(n)
		if err != nil {
			return err
		}
		bufs = append(bufs, b)
	}
	q, k, v, wide, wider := bufs[0], bufs[1], bufs[2], bufs[3], bufs[4]
	one := func(b kernels.Buffer) []kernels.Buffer { return []kernels.Buffer{b} }
	acc := kernels.Fused{Out: kernels.Accumulate}
	ops := []namedOp{
		{"q|k|v 12288 rows, plain", func() error { return d.FusedMatMul(one(wide), qkvM, x, 1, kernels.Fused{}) }},
		{"q|k|v + norm, split", func() error {
			return d.FusedMatMul([]kernels.Buffer{q, k, v}, qkvM, x, 1, kernels.Fused{Norm: l.an, Eps: 1e-5, Split: []int{dim, dim, dim}})
		}},
		{"q|k|v + norm + RoPE, split", func() error {
			return d.FusedMatMul([]kernels.Buffer{q, k, v}, qkvM, x, 1, kernels.Fused{Norm: l.an, Eps: 1e-5, Split: []int{dim, dim, dim},
				RoPE: kernels.Rotary{Cols: 2 * dim, HeadDim: hd, Theta: 10000, Seq: seq}})
		}},
		{"o + residual", func() error { return d.FusedMatMul(one(x), l.wo, att, 1, acc) }},
		{"gate|up 22016 rows, plain", func() error { return d.FusedMatMul(one(wider), guM, x, 1, kernels.Fused{}) }},
		{"gate|up + norm + SiLU", func() error {
			return d.FusedMatMul(one(s), guM, x, 1, kernels.Fused{Norm: l.fn, Eps: 1e-5, Out: kernels.SiLUGate})
		}},
		{"down + residual", func() error { return d.FusedMatMul(one(x), l.w2, s, 1, acc) }},
	}
	for _, op := range ops {
		per, rec, err := timeOp(d, op, x)
		if err != nil {
			return err
		}
		fmt.Printf("decode %s fused op %-26s %7.1f µs (%.1f µs recording)\n", t, op.name, per.Seconds()*1e6, rec.Seconds()*1e6)
	}
	return nil
}

// timeDecode runs warm-up tokens (the 8 positions before startPos, again
// until warmup has passed) and then tokens timed ones, each
// recorded by record (position, previous token) and ended by an argmax on
// the device (the one fence per token), and prints tokens/s against the
// memory-bandwidth limit. It returns the next position.
func timeDecode(d kernels.Device, label string, tokens int, weightBytes int64, copyBW float64, record func(pos int, id int32) error, logits kernels.Buffer) (int, error) {
	var recorded time.Duration // CPU time spent recording a token's ops
	step := func(pos int, id int32) (int32, error) {
		t0 := time.Now()
		if err := record(pos, id); err != nil {
			return 0, err
		}
		recorded += time.Since(t0)
		ids, _, err := d.TopK(logits, 1, vocab, 1)
		if err != nil {
			return 0, err
		}
		return ids[0], nil
	}
	// Warm-up tokens at the 8 positions before startPos (earlier positions
	// of the cache stay zero: attention reads them all the same), repeated
	// until the GPU has run long enough to reach its steady clocks. Q8_0 on
	// one H100: 8 warm-up tokens (50 ms) then 64 timed gave 150–193
	// tokens/s, 200 timed 184–196, a second of warm-up then 64 timed
	// 214–228.
	id, pos := int32(1), startPos
	var err error
	for began, once := time.Now(), false; !once || time.Since(began) < warmup; once = true {
		for pos = startPos - 8; pos < startPos; pos++ {
			if id, err = step(pos, id); err != nil {
				return 0, err
			}
		}
	}
	if wd, ok := d.(*webgpu.Device); ok {
		wd.ResetRecordStats()
		defer printStats(wd, tokens)
	}
	start := time.Now()
	recorded = 0
	for i := 0; i < tokens; i++ {
		if id, err = step(pos, id); err != nil {
			return 0, err
		}
		pos++
	}
	tps := float64(tokens) / time.Since(start).Seconds()
	// Reading the weights once per token is the floor; compare with the
	// copy bandwidth's read half plus write half, i.e. bytes moved per second.
	limit := copyBW / float64(weightBytes)
	resident, err := residentCopy(d)
	if err != nil {
		return 0, err
	}
	limitHere := resident / float64(weightBytes)
	fmt.Printf("decode %s: with the model resident the copy bandwidth is %.1f GB/s: limit %.1f tokens/s, ratio %.2f\n", label, resident/1e9, limitHere, tps/limitHere)
	fmt.Printf("decode %s: %.1f tokens/s (%.2f ms/token, %.2f ms of it recording on the CPU) at positions %d..%d; bandwidth limit %.1f tokens/s; ratio %.2f\n",
		label, tps, 1e3/tps, recorded.Seconds()*1e3/float64(tokens), startPos, pos-1, limit, tps/limit)
	return pos, nil
}

// namedOp is one op of a layer, for the profiles.
type namedOp struct {
	name string
	run  func() error
}

// timeOp runs op 300 times back to back (each depends on the last through
// the device's barriers), then waits for the device by reading x: per call,
// the wall time and the part spent inside the calls (recording).
func timeOp(d kernels.Device, op namedOp, x kernels.Buffer) (per, rec time.Duration, err error) {
	const n = 300
	start := time.Now()
	for i := 0; i < n; i++ {
		t0 := time.Now()
		if err := op.run(); err != nil {
			return 0, 0, err
		}
		rec += time.Since(t0)
	}
	if err := d.Read(x, make([]float32, 1)); err != nil {
		return 0, 0, err
	}
	return time.Since(start) / n, rec / n, nil
}
