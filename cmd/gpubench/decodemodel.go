//go:build !js

package main

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/tabshard/tabshard/kernels"
	"github.com/tabshard/tabshard/loader"
	"github.com/tabshard/tabshard/model"
	"github.com/tabshard/tabshard/quant"
)

// randomModel is a model.TensorSource of a 7B-shaped LLaMA with random
// weights of one format (norms F32, all ones): the engine's own loader and
// forward pass run on it, fused products included.
type randomModel struct {
	cfg   model.Config
	t     quant.Type
	mix   bool // -mix: Q6_K where llama.cpp's Q4_K_M puts more bits (typeOf)
	rng   *rand.Rand
	cache map[[3]int][]byte // weights by format and shape: random rows, repeated
}

func newRandomModel(t quant.Type, layers int) *randomModel {
	return &randomModel{
		cfg: model.Config{Arch: "llama", Layers: layers, Dim: dim, FFN: ffn, Heads: heads, KVHeads: heads, HeadDim: hd,
			Vocab: vocab, Context: ctxLen, RopeTheta: 10000, NormEps: 1e-5},
		t: t, mix: mixQ6K, rng: rand.New(rand.NewPCG(7, 7)), cache: map[[3]int][]byte{},
	}
}

// typeOf is tensor name's format: the model's, or with -mix Q6_K for the
// output head and the attn_v and ffn_down of every other layer, about what
// llama.cpp's Q4_K_M gives a 7B (it picks the first and last eighth of the
// layers and every third between).
func (m *randomModel) typeOf(name string) quant.Type {
	if !m.mix {
		return m.t
	}
	if name == "output.weight" {
		return quant.Q6_K
	}
	var layer int
	var rest string
	if _, err := fmt.Sscanf(name, "blk.%d.%s", &layer, &rest); err == nil && layer%2 == 0 && (rest == "attn_v.weight" || rest == "ffn_down.weight") {
		return quant.Q6_K
	}
	return m.t
}

// shape gives a tensor's rows×cols (rows 1: a norm weight).
func (m *randomModel) shape(name string) (rows, cols int, ok bool) {
	c := m.cfg
	switch {
	case name == "token_embd.weight" || name == "output.weight":
		return c.Vocab, c.Dim, true
	case name == "output_norm.weight":
		return 1, c.Dim, true
	case !strings.HasPrefix(name, "blk."):
		return 0, 0, false
	}
	var layer int
	var rest string
	if _, err := fmt.Sscanf(name, "blk.%d.%s", &layer, &rest); err != nil || layer < 0 || layer >= c.Layers {
		return 0, 0, false
	}
	switch rest {
	case "attn_norm.weight", "ffn_norm.weight":
		return 1, c.Dim, true
	case "attn_q.weight", "attn_k.weight", "attn_v.weight", "attn_output.weight":
		return c.Dim, c.Dim, true
	case "ffn_gate.weight", "ffn_up.weight":
		return c.FFN, c.Dim, true
	case "ffn_down.weight":
		return c.Dim, c.FFN, true
	}
	return 0, 0, false
}

func (m *randomModel) Tensor(name string) (loader.TensorInfo, bool) {
	rows, cols, ok := m.shape(name)
	if !ok {
		return loader.TensorInfo{}, false
	}
	info := loader.TensorInfo{Name: name, Type: m.typeOf(name), Dims: []uint64{uint64(cols), uint64(rows)}}
	if rows == 1 {
		info.Type, info.Dims = quant.F32, info.Dims[:1]
	}
	rb, _ := info.Type.RowBytes(cols)
	info.Size = int64(rb * rows)
	return info, true
}

func (m *randomModel) ReadTensor(name string) ([]byte, error) {
	rows, cols, ok := m.shape(name)
	if !ok {
		return nil, fmt.Errorf("no tensor %s", name)
	}
	if rows == 1 {
		f := make([]byte, cols*4)
		for i := 0; i < cols; i++ {
			f[4*i+2], f[4*i+3] = 0x80, 0x3f // 1.0
		}
		return f, nil
	}
	t := m.typeOf(name)
	key := [3]int{int(t), rows, cols}
	if data := m.cache[key]; data != nil {
		return data, nil
	}
	data, err := quant.RandomRows(t, rows, cols, m.rng)
	if err != nil {
		return nil, err
	}
	m.cache[key] = data
	return data, nil
}

// weightBytes is what one token reads: every layer and the head.
func (m *randomModel) weightBytes() int64 {
	var n int64
	names := []string{"output_norm.weight", "output.weight"}
	for i := 0; i < m.cfg.Layers; i++ {
		for _, s := range []string{"attn_norm", "attn_q", "attn_k", "attn_v", "attn_output", "ffn_norm", "ffn_gate", "ffn_up", "ffn_down"} {
			names = append(names, fmt.Sprintf("blk.%d.%s.weight", i, s))
		}
	}
	for _, name := range names {
		info, _ := m.Tensor(name)
		n += info.Size
	}
	return n
}

// decodeModel times greedy decode steps through model.Layers (the engine's
// forward pass: stacked Q|K|V and gate|up, norms and residual adds fused
// into the products), one argmax on the device and one fence per token.
func decodeModel(d kernels.Device, t quant.Type, tokens, nl int, copyBW float64) error {
	src := newRandomModel(t, nl)
	start := time.Now()
	layers, err := model.LoadLayers(d, src, src.cfg, model.Whole(src.cfg))
	if err != nil {
		return err
	}
	defer layers.Release()
	kv, err := d.NewKVCache(layers.KVConfig(1, ctxLen, quant.F16))
	if err != nil {
		return err
	}
	defer kv.Release()
	weightBytes := src.weightBytes()
	label := t.String()
	if src.mix {
		label += "+Q6_K mix"
	}
	fmt.Printf("decode %s (engine, fused): %d layers uploaded in %.1f s, %.2f GB of weights read per token\n", label, nl, time.Since(start).Seconds(), float64(weightBytes)/1e9)
	x, err := d.NewBuffer(dim)
	if err != nil {
		return err
	}
	defer x.Release()
	logits, err := d.NewBuffer(vocab)
	if err != nil {
		return err
	}
	defer logits.Release()
	record := func(pos int, id int32) error {
		seq := []kernels.Seq{{Slot: 0, Pos: int32(pos)}}
		if err := layers.Embed(x, []int32{id}); err != nil {
			return err
		}
		if err := layers.Forward(x, seq, kv); err != nil {
			return err
		}
		return layers.Logits(logits, x, []int32{0})
	}
	_, err = timeDecode(d, label+" (engine, fused)", tokens, weightBytes, copyBW, record, logits)
	return err
}
