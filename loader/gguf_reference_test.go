package loader

import (
	"testing"

	"github.com/tabshard/tabshard/internal/testdata"
	"github.com/tabshard/tabshard/quant"
)

// The reference GGUF files open, their tensor tables add up to the README's
// parameter count, and the llama.* keys read with the documented types.
func TestReferenceGGUF(t *testing.T) {
	for _, name := range []string{"F16", "Q8_0", "Q4_0", "Q4_K_M", "Q3_K_M", "Q2_K"} {
		t.Run(name, func(t *testing.T) {
			m, err := Open(testdata.Path(t, "austen-22m/gguf/austen-22m-"+name+".gguf"))
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			if m.Format != FormatGGUF || m.Version != 3 {
				t.Errorf("format %q version %d", m.Format, m.Version)
			}
			s := m.Summary()
			if s.Params != 22679808 {
				t.Errorf("params %d, want 22679808", s.Params)
			}
			if arch, err := m.Meta.String("general.architecture"); err != nil || arch != "llama" {
				t.Errorf("architecture %q %v", arch, err)
			}
			for key, want := range map[string]uint64{
				"llama.block_count": 8, "llama.embedding_length": 256, "llama.feed_forward_length": 768,
				"llama.attention.head_count": 4, "llama.attention.head_count_kv": 2, "llama.context_length": 1024,
			} {
				if got, err := m.Meta.Uint(key); err != nil || got != want {
					t.Errorf("%s = %d, %v; want %d", key, got, err, want)
				}
			}
			if f, err := m.Meta.Float("llama.rope.freq_base"); err != nil || f != 10000 {
				t.Errorf("rope.freq_base %v %v", f, err)
			}
			toks, err := m.Meta.Strings("tokenizer.ggml.tokens")
			if err != nil || len(toks) != 32000 {
				t.Fatalf("tokens: %d %v", len(toks), err)
			}
			if _, err := m.Meta.Float32s("tokenizer.ggml.scores"); err != nil {
				t.Error(err)
			}
			if _, err := m.Meta.Int32s("tokenizer.ggml.token_type"); err != nil {
				t.Error(err)
			}
			emb, ok := m.Tensor("token_embd.weight")
			if !ok || len(emb.Dims) != 2 || emb.Dims[0] != 256 || emb.Dims[1] != 32000 {
				t.Fatalf("token_embd.weight %+v", emb)
			}
			b, err := m.ReadTensor("output_norm.weight")
			if err != nil || len(b) != 256*4 {
				t.Fatalf("output_norm: %d bytes, %v", len(b), err)
			}
			if name == "F16" && emb.Type != quant.F16 {
				t.Errorf("F16 file has token_embd type %s", emb.Type)
			}
			if testing.Verbose() && name == "Q4_K_M" {
				for _, e := range m.Meta.Entries() {
					t.Logf("%-40s %-14s %s", e.Key, e.Type, e.Value)
				}
				for _, bt := range s.ByType {
					t.Logf("%-6s %3d tensors %9d params %9d bytes", bt.Type, bt.Tensors, bt.Params, bt.Bytes)
				}
			}
		})
	}
}

// The vocabulary-only GGUF (no tensors) opens too.
func TestReferenceVocabGGUF(t *testing.T) {
	m, err := Open(testdata.Path(t, "vocab/ggml-vocab-llama-spm.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if toks, err := m.Meta.Strings("tokenizer.ggml.tokens"); err != nil || len(toks) != 32000 {
		t.Fatalf("tokens: %d %v", len(toks), err)
	}
}
