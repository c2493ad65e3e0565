package model

import (
	"fmt"

	"github.com/tabshard/tabshard/kernels"
	"github.com/tabshard/tabshard/quant"
)

// Layers is one part of a model loaded on a device: the layers of Part and,
// at the ends of the pipeline, the embeddings or the final norm and head.
// It runs batches of positions that may belong to different sequences.
type Layers struct {
	cfg    Config
	part   Part
	dev    kernels.Device
	embed  kernels.Matrix // first part only
	norm   kernels.Matrix // last part only
	output kernels.Matrix // last part only; the embedding table when tied
	blocks []*block
	s      scratch
}

// LoadLayers uploads the tensors of part from src to dev.
func LoadLayers(dev kernels.Device, src TensorSource, c Config, part Part) (*Layers, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	if err := part.validate(c); err != nil {
		return nil, err
	}
	l := &Layers{cfg: c, part: part, dev: dev}
	ok := false
	defer func() {
		if !ok {
			l.Release()
		}
	}()
	var err error
	if part.HasEmbed() || (part.HasHead(c) && c.TiedOutput) {
		if l.embed, err = upload(dev, src, "token_embd.weight", c.Vocab, c.Dim); err != nil {
			return nil, err
		}
	}
	for i := part.First; i < part.Last; i++ {
		b, err := loadBlock(dev, src, c, i)
		if err != nil {
			return nil, err
		}
		l.blocks = append(l.blocks, b)
	}
	if part.HasHead(c) {
		if l.norm, err = upload(dev, src, "output_norm.weight", 1, c.Dim); err != nil {
			return nil, err
		}
		if c.TiedOutput {
			l.output = l.embed
		} else if l.output, err = upload(dev, src, "output.weight", c.Vocab, c.Dim); err != nil {
			return nil, err
		}
	}
	ok = true
	return l, nil
}

// Config and Part describe what l holds.
func (l *Layers) Config() Config { return l.cfg }
func (l *Layers) Part() Part     { return l.part }

// Release frees every device resource l holds.
func (l *Layers) Release() {
	for _, b := range l.blocks {
		releaseAll(b.matrices())
	}
	l.blocks = nil
	if l.output != l.embed {
		releaseAll([]kernels.Matrix{l.output})
	}
	releaseAll([]kernels.Matrix{l.embed, l.norm})
	l.embed, l.norm, l.output = nil, nil, nil
	l.s.release()
}

// KVConfig is the cache this part needs for slots sequences of context positions.
func (l *Layers) KVConfig(slots, context int, kv quant.Type) kernels.KVConfig {
	return kernels.KVConfig{Layers: len(l.blocks), Slots: slots, Context: context,
		KVHeads: l.cfg.KVHeads, HeadDim: l.cfg.HeadDim, Type: kv}
}

// Embed writes the embeddings of ids into x (len(ids) rows of Dim).
func (l *Layers) Embed(x kernels.Buffer, ids []int32) error {
	if l.embed == nil || !l.part.HasEmbed() {
		return fmt.Errorf("model: layers [%d,%d) do not hold the embeddings", l.part.First, l.part.Last)
	}
	for _, id := range ids {
		if id < 0 || int(id) >= l.cfg.Vocab {
			return fmt.Errorf("model: token id %d outside the vocabulary of %d", id, l.cfg.Vocab)
		}
	}
	return l.dev.Embed(x, l.embed, ids)
}

// Forward runs the part's layers over x (len(seq) rows of Dim), in place.
// Row r is position seq[r].Pos of the sequence in KV slot seq[r].Slot.
func (l *Layers) Forward(x kernels.Buffer, seq []kernels.Seq, kv kernels.KVCache) error {
	rows := len(seq)
	if rows == 0 {
		return nil
	}
	if kc := kv.Config(); kc.Layers != len(l.blocks) || kc.KVHeads != l.cfg.KVHeads || kc.HeadDim != l.cfg.HeadDim {
		return fmt.Errorf("model: KV cache %+v does not fit layers [%d,%d)", kc, l.part.First, l.part.Last)
	}
	if err := l.s.ensure(l.dev, l.cfg, rows); err != nil {
		return err
	}
	for i, b := range l.blocks {
		if err := l.block(i, b, x, seq, kv); err != nil {
			return fmt.Errorf("model: layer %d: %w", l.part.First+i, err)
		}
	}
	return nil
}

// block runs layer i of the part over x in place. It is straight-line code
// (no per-step closures) because it runs for every layer of every token.
// Each product carries its neighbours (FusedMatMul): the attention norm
// and RoPE ride on the Q|K|V product, the residual adds on the output and
// down projections, the feed-forward norm and SiLU·mul on gate|up.
func (l *Layers) block(i int, b *block, x kernels.Buffer, seq []kernels.Seq, kv kernels.KVCache) error {
	c, d, s, rows := l.cfg, l.dev, &l.s, len(seq)
	qkv := [3]kernels.Buffer{s.q, s.k, s.v}
	for _, st := range b.qkv {
		var dsts [3]kernels.Buffer
		for j, p := range st.parts {
			dsts[j] = qkv[p]
		}
		f := kernels.Fused{Norm: b.attnNorm, Eps: c.NormEps}
		if st.rotated > 0 {
			f.RoPE = kernels.Rotary{Cols: st.rotated, HeadDim: c.HeadDim, Theta: c.RopeTheta, Seq: seq}
		}
		if len(st.parts) > 1 {
			f.Split = st.widths
		}
		if err := d.FusedMatMul(dsts[:len(st.parts)], st.m, x, rows, f); err != nil {
			return err
		}
	}
	if err := d.Attention(s.att, s.q, s.k, s.v, kv, i, c.Heads, seq); err != nil {
		return err
	}
	residual := kernels.Fused{Out: kernels.Accumulate}
	if err := d.FusedMatMul([]kernels.Buffer{x}, b.o, s.att, rows, residual); err != nil {
		return err
	}
	ffnNorm := kernels.Fused{Norm: b.ffnNorm, Eps: c.NormEps}
	if b.gateUp != nil {
		f := ffnNorm
		f.Out = kernels.SiLUGate
		if err := d.FusedMatMul([]kernels.Buffer{s.gate}, b.gateUp, x, rows, f); err != nil {
			return err
		}
	} else {
		if err := d.FusedMatMul([]kernels.Buffer{s.gate}, b.gate, x, rows, ffnNorm); err != nil {
			return err
		}
		if err := d.FusedMatMul([]kernels.Buffer{s.up}, b.up, x, rows, ffnNorm); err != nil {
			return err
		}
		if err := d.SiLUMul(s.gate, s.gate, s.up, rows*c.FFN); err != nil {
			return err
		}
	}
	return d.FusedMatMul([]kernels.Buffer{x}, b.down, s.gate, rows, residual)
}

// Logits applies the final norm and the output head to the rows of x named
// by rows, writing len(rows) rows of Vocab logits to dst.
func (l *Layers) Logits(dst, x kernels.Buffer, rows []int32) error {
	if l.output == nil {
		return fmt.Errorf("model: layers [%d,%d) do not hold the output head", l.part.First, l.part.Last)
	}
	n := len(rows)
	if n == 0 {
		return nil
	}
	if err := l.s.ensure(l.dev, l.cfg, n); err != nil {
		return err
	}
	d, s := l.dev, &l.s
	if err := d.CopyRows(s.proj, x, l.cfg.Dim, rows); err != nil {
		return fmt.Errorf("model: logits: %w", err)
	}
	if err := d.FusedMatMul([]kernels.Buffer{dst}, l.output, s.proj, n, kernels.Fused{Norm: l.norm, Eps: l.cfg.NormEps}); err != nil {
		return fmt.Errorf("model: logits: %w", err)
	}
	return nil
}

// scratch holds the intermediate activations of a batch, grown on demand.
type scratch struct {
	rows                         int
	q, k, v, att, proj, gate, up kernels.Buffer
}

func (s *scratch) ensure(d kernels.Device, c Config, rows int) error {
	if rows <= s.rows {
		return nil
	}
	s.release()
	widths := []struct {
		dst *kernels.Buffer
		w   int
	}{
		{&s.q, c.QDim()}, {&s.k, c.KVDim()}, {&s.v, c.KVDim()},
		{&s.att, c.QDim()}, {&s.proj, c.Dim}, {&s.gate, c.FFN}, {&s.up, c.FFN},
	}
	for _, w := range widths {
		b, err := d.NewBuffer(rows * w.w)
		if err != nil {
			s.release()
			return fmt.Errorf("model: scratch for %d rows: %w", rows, err)
		}
		*w.dst = b
	}
	s.rows = rows
	return nil
}

func (s *scratch) release() {
	for _, b := range []kernels.Buffer{s.q, s.k, s.v, s.att, s.proj, s.gate, s.up} {
		if b != nil {
			b.Release()
		}
	}
	*s = scratch{}
}
