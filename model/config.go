// Package model holds what defines a LLaMA-family model independent of where
// it runs: its configuration, the forward pass of its blocks written against
// kernels.Device, the tokenizer and the sampler.
package model

import (
	"fmt"

	"github.com/tabshard/tabshard/loader"
)

// Config is the shape of a LLaMA-family model.
type Config struct {
	Arch       string
	Layers     int
	Dim        int // hidden width
	FFN        int // feed-forward width
	Heads      int
	KVHeads    int
	HeadDim    int
	Vocab      int
	Context    int // trained context length
	RopeTheta  float32
	NormEps    float32
	TiedOutput bool // the output head reuses the embedding table
}

// Limits on what a file may declare; they bound allocations made from
// untrusted metadata, far above any real LLaMA.
const (
	maxLayers = 1024
	maxWidth  = 1 << 17
	maxHeads  = 1024
	maxVocab  = 1 << 22
)

// ConfigFromMeta reads the configuration from GGUF-style metadata (GGUF
// files carry it; the loader derives it from config.json for safetensors).
func ConfigFromMeta(meta *loader.Metadata, tensors []loader.TensorInfo) (Config, error) {
	arch, err := meta.String("general.architecture")
	if err != nil {
		return Config{}, fmt.Errorf("model: %w", err)
	}
	if arch != "llama" {
		return Config{}, fmt.Errorf("model: architecture %q is not supported (llama only)", arch)
	}
	u := func(key string, dst *int) {
		if err != nil {
			return
		}
		var v uint64
		if v, err = meta.Uint(arch + "." + key); err == nil {
			if v > 1<<31 {
				err = fmt.Errorf("model: %s.%s = %d is out of range", arch, key, v)
			}
			*dst = int(v)
		}
	}
	c := Config{Arch: arch}
	u("block_count", &c.Layers)
	u("embedding_length", &c.Dim)
	u("feed_forward_length", &c.FFN)
	u("attention.head_count", &c.Heads)
	u("context_length", &c.Context)
	if err != nil {
		return Config{}, fmt.Errorf("model: %w", err)
	}
	c.KVHeads = c.Heads
	if meta.Has(arch + ".attention.head_count_kv") {
		u("attention.head_count_kv", &c.KVHeads)
	}
	if c.Heads > 0 {
		c.HeadDim = c.Dim / c.Heads
	}
	if meta.Has(arch + ".attention.key_length") {
		u("attention.key_length", &c.HeadDim)
	}
	if err != nil {
		return Config{}, fmt.Errorf("model: %w", err)
	}
	c.RopeTheta = 10000
	if meta.Has(arch + ".rope.freq_base") {
		f, err := meta.Float(arch + ".rope.freq_base")
		if err != nil {
			return Config{}, fmt.Errorf("model: %w", err)
		}
		c.RopeTheta = float32(f)
	}
	eps, err := meta.Float(arch + ".attention.layer_norm_rms_epsilon")
	if err != nil {
		return Config{}, fmt.Errorf("model: %w", err)
	}
	c.NormEps = float32(eps)

	// The vocabulary size is the embedding table's row count: metadata may omit it.
	c.TiedOutput = true
	for _, t := range tensors {
		switch t.Name {
		case "token_embd.weight":
			if len(t.Dims) == 2 {
				c.Vocab = int(min(t.Dims[1], maxVocab+1))
			}
		case "output.weight":
			c.TiedOutput = false
		}
	}
	return c, c.Validate()
}

// Validate checks that the shape is self-consistent and within limits.
func (c Config) Validate() error {
	switch {
	case c.Layers <= 0 || c.Layers > maxLayers:
		return fmt.Errorf("model: %d layers is out of range", c.Layers)
	case c.Dim <= 0 || c.Dim > maxWidth, c.FFN <= 0 || c.FFN > maxWidth:
		return fmt.Errorf("model: widths dim=%d ffn=%d are out of range", c.Dim, c.FFN)
	case c.Heads <= 0 || c.Heads > maxHeads || c.KVHeads <= 0 || c.Heads%c.KVHeads != 0:
		return fmt.Errorf("model: %d heads cannot group over %d KV heads", c.Heads, c.KVHeads)
	case c.HeadDim <= 0 || c.HeadDim%2 != 0 || c.HeadDim*c.Heads > maxWidth:
		return fmt.Errorf("model: head width %d is invalid", c.HeadDim)
	case c.Vocab <= 0 || c.Vocab > maxVocab:
		return fmt.Errorf("model: vocabulary of %d is out of range (is token_embd.weight present?)", c.Vocab)
	case !(c.NormEps > 0 && c.NormEps < 1):
		return fmt.Errorf("model: RMS epsilon %v is out of range", c.NormEps)
	case !(c.RopeTheta > 0):
		return fmt.Errorf("model: RoPE theta %v is out of range", c.RopeTheta)
	}
	if c.Context <= 0 {
		return fmt.Errorf("model: context length %d is out of range", c.Context)
	}
	return nil
}

// QDim and KVDim are the widths of the query and of the key/value projections.
func (c Config) QDim() int  { return c.Heads * c.HeadDim }
func (c Config) KVDim() int { return c.KVHeads * c.HeadDim }
