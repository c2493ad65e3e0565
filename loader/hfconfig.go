package loader

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
)

// HFConfig is the part of a Hugging Face LLaMA config.json the loader turns
// into GGUF metadata. Optional fields are pointers so "absent" differs from 0.
type HFConfig struct {
	ModelType             string    `json:"model_type"`
	Architectures         []string  `json:"architectures"`
	HiddenSize            uint64    `json:"hidden_size"`
	IntermediateSize      uint64    `json:"intermediate_size"`
	NumHiddenLayers       uint64    `json:"num_hidden_layers"`
	NumAttentionHeads     uint64    `json:"num_attention_heads"`
	NumKeyValueHeads      *uint64   `json:"num_key_value_heads"` // default: NumAttentionHeads
	HeadDim               *uint64   `json:"head_dim"`            // default: HiddenSize / NumAttentionHeads
	RMSNormEps            float64   `json:"rms_norm_eps"`
	RopeTheta             *float64  `json:"rope_theta"` // default 10000
	MaxPositionEmbeddings uint64    `json:"max_position_embeddings"`
	VocabSize             uint64    `json:"vocab_size"`
	TieWordEmbeddings     bool      `json:"tie_word_embeddings"`
	HiddenAct             string    `json:"hidden_act"` // must be silu (or absent) for LLaMA's SwiGLU
	BosTokenID            *tokenIDs `json:"bos_token_id"`
	EosTokenID            *tokenIDs `json:"eos_token_id"`
	// Features we do not convert; their presence is refused, not ignored.
	RopeScaling   json.RawMessage `json:"rope_scaling"`
	AttentionBias bool            `json:"attention_bias"`
	MLPBias       bool            `json:"mlp_bias"`
}

// tokenIDs is a token id that config.json writes as a number or as a list of
// numbers (several EOS ids); the first is the GGUF one.
type tokenIDs []int64

func (t *tokenIDs) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '[' {
		var ids []int64
		if err := json.Unmarshal(b, &ids); err != nil {
			return err
		}
		*t = ids
		return nil
	}
	var id int64
	if err := json.Unmarshal(b, &id); err != nil {
		return err
	}
	*t = tokenIDs{id}
	return nil
}

// ParseHFConfig decodes and validates a LLaMA config.json.
func ParseHFConfig(data []byte) (*HFConfig, error) {
	var c HFConfig
	if err := json.Unmarshal(data, &c); err != nil {
		return nil, fmt.Errorf("config.json: %w", err)
	}
	if err := c.validate(); err != nil {
		return nil, fmt.Errorf("config.json: %w", err)
	}
	return &c, nil
}

func isLlama(c *HFConfig) bool {
	if c.ModelType == "llama" {
		return true
	}
	for _, a := range c.Architectures {
		if a == "LlamaForCausalLM" {
			return true
		}
	}
	return false
}

// Limits on config sizes: GGUF stores them as u32, and a checkpoint beyond
// them is corrupt.
const maxConfigDim = math.MaxUint32

func (c *HFConfig) validate() error {
	if !isLlama(c) {
		return fmt.Errorf("model_type %q (architectures %v) is not LLaMA; only LLaMA checkpoints are converted", c.ModelType, c.Architectures)
	}
	if len(c.RopeScaling) > 0 && string(c.RopeScaling) != "null" {
		return fmt.Errorf("rope_scaling %s is not supported", c.RopeScaling)
	}
	if c.HiddenAct != "" && c.HiddenAct != "silu" {
		return fmt.Errorf("hidden_act %q is not supported; LLaMA's FFN is SwiGLU (silu)", c.HiddenAct)
	}
	if c.AttentionBias || c.MLPBias {
		return fmt.Errorf("attention_bias/mlp_bias checkpoints are not supported")
	}
	for _, f := range []struct {
		name string
		v    uint64
	}{
		{"hidden_size", c.HiddenSize}, {"intermediate_size", c.IntermediateSize},
		{"num_hidden_layers", c.NumHiddenLayers}, {"num_attention_heads", c.NumAttentionHeads},
		{"num_key_value_heads", c.KVHeads()}, {"head_dim", c.HeadDimension()},
		{"max_position_embeddings", c.MaxPositionEmbeddings}, {"vocab_size", c.VocabSize},
	} {
		if f.v == 0 || f.v > maxConfigDim {
			return fmt.Errorf("%s %d is missing or out of range", f.name, f.v)
		}
	}
	if c.HeadDim == nil && c.HiddenSize%c.NumAttentionHeads != 0 {
		return fmt.Errorf("hidden_size %d is not a multiple of num_attention_heads %d", c.HiddenSize, c.NumAttentionHeads)
	}
	if c.NumAttentionHeads%c.KVHeads() != 0 {
		return fmt.Errorf("num_attention_heads %d is not a multiple of num_key_value_heads %d", c.NumAttentionHeads, c.KVHeads())
	}
	if c.HeadDimension()%2 != 0 {
		return fmt.Errorf("head_dim %d is odd; RoPE needs pairs", c.HeadDimension())
	}
	if c.NumAttentionHeads*c.HeadDimension() > maxConfigDim {
		return fmt.Errorf("num_attention_heads × head_dim overflows")
	}
	if !(c.RMSNormEps > 0 && c.RMSNormEps < 1) {
		return fmt.Errorf("rms_norm_eps %v is missing or out of range", c.RMSNormEps)
	}
	if th := c.RopeBase(); !(th > 0) || math.IsInf(th, 0) {
		return fmt.Errorf("rope_theta %v is out of range", th)
	}
	for _, t := range []struct {
		name string
		ids  *tokenIDs
	}{{"bos_token_id", c.BosTokenID}, {"eos_token_id", c.EosTokenID}} {
		if t.ids == nil {
			continue
		}
		for _, id := range *t.ids {
			if id < 0 || uint64(id) >= c.VocabSize {
				return fmt.Errorf("%s %d is outside the vocabulary of %d", t.name, id, c.VocabSize)
			}
		}
	}
	return nil
}

// KVHeads is num_key_value_heads, defaulting to num_attention_heads.
func (c *HFConfig) KVHeads() uint64 {
	if c.NumKeyValueHeads != nil {
		return *c.NumKeyValueHeads
	}
	return c.NumAttentionHeads
}

// HeadDimension is head_dim, defaulting to hidden_size / num_attention_heads.
func (c *HFConfig) HeadDimension() uint64 {
	if c.HeadDim != nil {
		return *c.HeadDim
	}
	if c.NumAttentionHeads == 0 {
		return 0
	}
	return c.HiddenSize / c.NumAttentionHeads
}

// RopeBase is rope_theta, defaulting to 10000.
func (c *HFConfig) RopeBase() float64 {
	if c.RopeTheta != nil {
		return *c.RopeTheta
	}
	return 10000
}

// ggufMetadata is the config in GGUF's llama.* vocabulary, with the types
// llama.cpp's converter writes (u32 counts, f32 floats).
func (c *HFConfig) ggufMetadata() Metadata {
	var m Metadata
	m.set("general.architecture", stringValue("llama"))
	u := func(k string, v uint64) { m.set(k, uint32Value(uint32(v))) } // validated ≤ MaxUint32
	u("llama.vocab_size", c.VocabSize)
	u("llama.context_length", c.MaxPositionEmbeddings)
	u("llama.embedding_length", c.HiddenSize)
	u("llama.block_count", c.NumHiddenLayers)
	u("llama.feed_forward_length", c.IntermediateSize)
	u("llama.attention.head_count", c.NumAttentionHeads)
	u("llama.attention.head_count_kv", c.KVHeads())
	u("llama.attention.key_length", c.HeadDimension())
	u("llama.attention.value_length", c.HeadDimension())
	u("llama.rope.dimension_count", c.HeadDimension())
	m.set("llama.rope.freq_base", float32Value(float32(c.RopeBase())))
	m.set("llama.attention.layer_norm_rms_epsilon", float32Value(float32(c.RMSNormEps)))
	if c.BosTokenID != nil && len(*c.BosTokenID) > 0 {
		u("tokenizer.ggml.bos_token_id", uint64((*c.BosTokenID)[0]))
	}
	if c.EosTokenID != nil && len(*c.EosTokenID) > 0 {
		u("tokenizer.ggml.eos_token_id", uint64((*c.EosTokenID)[0]))
	}
	return m
}
