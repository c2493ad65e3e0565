package tests

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/tabshard/tabshard/internal/testdata"
	"github.com/tabshard/tabshard/loader"
	"github.com/tabshard/tabshard/quant"
)

// wideShape is a LLaMA about ten times austen-22m's size per token (dim
// 1024, 12 layers, FFN 2816: 217M weights, 121 MB in Q4_K), small enough to
// write and load in seconds, large enough that a forward pass costs more
// than the hops between stages, as it does for every model worth sharding.
var wideShape = struct{ dim, layers, ffn, heads int }{1024, 12, 2816, 16}

// writeWideModel writes a Q4_K GGUF of wideShape with random weights and
// austen-22m's tokenizer (its metadata with the shape keys replaced) and
// returns its path.
func writeWideModel(tb testing.TB) string {
	tb.Helper()
	src, err := loader.Open(testdata.Path(tb, "austen-22m/gguf/austen-22m-Q4_K_M.gguf"))
	if err != nil {
		tb.Fatal(err)
	}
	kvs := src.Meta.KVs()
	var vocab uint64
	for _, t := range src.Tensors {
		if t.Name == "token_embd.weight" {
			vocab = t.Dims[1]
		}
	}
	src.Close()
	s := wideShape
	for _, kv := range []struct {
		key string
		v   int
	}{{"block_count", s.layers}, {"embedding_length", s.dim}, {"feed_forward_length", s.ffn},
		{"attention.head_count", s.heads}, {"attention.head_count_kv", s.heads}, {"rope.dimension_count", s.dim / s.heads}} {
		kvs = loader.SetKV(kvs, "llama."+kv.key, loader.Uint32Value(uint32(kv.v)))
	}
	kvs = loader.DeleteKV(kvs, "llama.attention.key_length")
	kvs = loader.SetKV(kvs, "general.file_type", loader.Uint32Value(15)) // mostly Q4_K

	type tensor struct {
		name       string
		rows, cols int
	}
	ts := []tensor{{"token_embd.weight", int(vocab), s.dim}}
	for i := 0; i < s.layers; i++ {
		blk := func(n string, rows, cols int) {
			ts = append(ts, tensor{fmt.Sprintf("blk.%d.%s.weight", i, n), rows, cols})
		}
		blk("attn_norm", 1, s.dim)
		blk("attn_q", s.dim, s.dim)
		blk("attn_k", s.dim, s.dim)
		blk("attn_v", s.dim, s.dim)
		blk("attn_output", s.dim, s.dim)
		blk("ffn_norm", 1, s.dim)
		blk("ffn_gate", s.ffn, s.dim)
		blk("ffn_up", s.ffn, s.dim)
		blk("ffn_down", s.dim, s.ffn)
	}
	ts = append(ts, tensor{"output_norm.weight", 1, s.dim}, tensor{"output.weight", int(vocab), s.dim})

	rng := rand.New(rand.NewPCG(22, 10))
	ones := make([]byte, 4*s.dim)
	for i := 0; i < s.dim; i++ {
		ones[4*i+2], ones[4*i+3] = 0x80, 0x3f // float32 1.0
	}
	out := make([]loader.TensorToWrite, len(ts))
	byShape := map[[2]int][]byte{}
	for i, t := range ts {
		spec := loader.TensorSpec{Name: t.name, Type: quant.Q4_K, Dims: []uint64{uint64(t.cols), uint64(t.rows)}}
		data := byShape[[2]int{t.rows, t.cols}]
		switch {
		case t.rows == 1:
			spec.Type, spec.Dims, data = quant.F32, spec.Dims[:1], ones
		case data == nil:
			if data, err = quant.RandomRows(quant.Q4_K, t.rows, t.cols, rng); err != nil {
				tb.Fatal(err)
			}
			byShape[[2]int{t.rows, t.cols}] = data
		}
		out[i] = loader.TensorToWrite{TensorSpec: spec, Data: data}
	}
	path := filepath.Join(tb.TempDir(), "wide-Q4_K.gguf")
	f, err := os.Create(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	if _, err := loader.WriteGGUF(f, kvs, out); err != nil {
		tb.Fatal(err)
	}
	if err := f.Close(); err != nil {
		tb.Fatal(err)
	}
	return path
}
