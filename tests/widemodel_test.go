package tests

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/tabshard/tabshard/internal/testdata"
	"github.com/tabshard/tabshard/loader"
	"github.com/tabshard/tabshard/model"
	"github.com/tabshard/tabshard/quant"
)

// wideConfig is a LLaMA about ten times austen-22m's size per token (dim
// 1024, 12 layers, FFN 2816: 217M weights, 121 MB in Q4_K), small enough to
// write and load in seconds, large enough that a forward pass costs more
// than the hops between stages, as it does for every model worth sharding.
var wideConfig = model.Config{Layers: 12, Dim: 1024, FFN: 2816, Heads: 16, KVHeads: 16, HeadDim: 64}

// writeWideModel writes a Q4_K GGUF of wideConfig with random weights and
// austen-22m's tokenizer (its metadata with the shape keys replaced) and
// returns its path.
func writeWideModel(tb testing.TB) string {
	tb.Helper()
	src, err := loader.Open(testdata.Path(tb, "austen-22m/gguf/austen-22m-Q4_K_M.gguf"))
	if err != nil {
		tb.Fatal(err)
	}
	kvs := src.Meta.KVs()
	var vocab int
	for _, t := range src.Tensors {
		if t.Name == "token_embd.weight" {
			vocab = int(t.Dims[1])
		}
	}
	src.Close()
	c := wideConfig
	for _, kv := range []struct {
		key string
		v   int
	}{{"block_count", c.Layers}, {"embedding_length", c.Dim}, {"feed_forward_length", c.FFN},
		{"attention.head_count", c.Heads}, {"attention.head_count_kv", c.KVHeads}, {"rope.dimension_count", c.HeadDim}} {
		kvs = loader.SetKV(kvs, "llama."+kv.key, loader.Uint32Value(uint32(kv.v)))
	}
	kvs = loader.DeleteKV(kvs, "llama.attention.key_length")
	kvs = loader.SetKV(kvs, "general.file_type", loader.Uint32Value(15)) // mostly Q4_K

	ts := []model.TensorShape{{Name: "token_embd.weight", Rows: vocab, Cols: c.Dim}}
	for i := 0; i < c.Layers; i++ {
		for _, t := range model.BlockTensors(c) {
			t.Name = fmt.Sprintf("blk.%d.%s", i, t.Name)
			ts = append(ts, t)
		}
	}
	ts = append(ts, model.TensorShape{Name: "output_norm.weight", Rows: 1, Cols: c.Dim},
		model.TensorShape{Name: "output.weight", Rows: vocab, Cols: c.Dim})

	// Norm weights are all ones; each matrix shape gets one random matrix,
	// shared by every tensor of that shape.
	rng := rand.New(rand.NewPCG(22, 10))
	byShape := map[[2]int][]byte{}
	out := make([]loader.TensorToWrite, len(ts))
	for i, t := range ts {
		spec := loader.TensorSpec{Name: t.Name, Type: quant.Q4_K, Dims: []uint64{uint64(t.Cols), uint64(t.Rows)}}
		if t.Rows == 1 {
			spec.Type, spec.Dims = quant.F32, spec.Dims[:1]
		}
		key := [2]int{t.Rows, t.Cols}
		data := byShape[key]
		if data == nil {
			if data, err = randomTensor(spec.Type, t.Rows, t.Cols, rng); err != nil {
				tb.Fatal(err)
			}
			byShape[key] = data
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

// randomTensor is a norm weight of ones (F32, one row) or random rows.
func randomTensor(t quant.Type, rows, cols int, rng *rand.Rand) ([]byte, error) {
	if t != quant.F32 {
		return quant.RandomRows(t, rows, cols, rng)
	}
	ones := make([]float32, cols)
	for i := range ones {
		ones[i] = 1
	}
	data := make([]byte, 4*cols)
	return data, quant.Quantize(quant.F32, ones, data)
}
