package loader

import (
	"fmt"
	"strconv"
	"strings"
)

// hfRole is what a Hugging Face LLaMA tensor is, independent of its layer.
type hfRole int

const (
	roleIgnored hfRole = iota // harmless buffers (rotary inv_freq)
	roleEmbed
	roleOutputNorm
	roleOutput
	roleQ
	roleK
	roleV
	roleO
	roleGate
	roleUp
	roleDown
	roleAttnNorm
	roleFFNNorm
)

// Per-layer HF suffixes and their GGUF names (llama.cpp tensor_mapping.py).
var hfLayerTensors = map[string]struct {
	role hfRole
	gguf string
}{
	"self_attn.q_proj.weight":         {roleQ, "attn_q.weight"},
	"self_attn.k_proj.weight":         {roleK, "attn_k.weight"},
	"self_attn.v_proj.weight":         {roleV, "attn_v.weight"},
	"self_attn.o_proj.weight":         {roleO, "attn_output.weight"},
	"mlp.gate_proj.weight":            {roleGate, "ffn_gate.weight"},
	"mlp.up_proj.weight":              {roleUp, "ffn_up.weight"},
	"mlp.down_proj.weight":            {roleDown, "ffn_down.weight"},
	"input_layernorm.weight":          {roleAttnNorm, "attn_norm.weight"},
	"post_attention_layernorm.weight": {roleFFNNorm, "ffn_norm.weight"},
	"self_attn.rotary_emb.inv_freq":   {roleIgnored, ""},
}

// hfTensorsPerLayer is how many GGUF tensors each layer must have.
const hfTensorsPerLayer = 9

// mapHFName maps a Hugging Face LLaMA tensor name to its GGUF name. Layer
// indices must lie below blocks. Unknown names are an error: silently
// dropping a weight would produce a model that runs and is wrong.
func mapHFName(name string, blocks uint64) (gguf string, role hfRole, err error) {
	switch name {
	case "model.embed_tokens.weight":
		return "token_embd.weight", roleEmbed, nil
	case "model.norm.weight":
		return "output_norm.weight", roleOutputNorm, nil
	case "lm_head.weight":
		return "output.weight", roleOutput, nil
	}
	rest, ok := strings.CutPrefix(name, "model.layers.")
	if !ok {
		return "", 0, fmt.Errorf("safetensors: tensor %q is not a LLaMA tensor this loader knows", name)
	}
	num, suffix, ok := strings.Cut(rest, ".")
	layer, perr := strconv.ParseUint(num, 10, 32)
	if !ok || perr != nil || num != strconv.FormatUint(layer, 10) {
		return "", 0, fmt.Errorf("safetensors: tensor %q has no valid layer number", name)
	}
	if layer >= blocks {
		return "", 0, fmt.Errorf("safetensors: tensor %q is in layer %d, but config.json has %d layers", name, layer, blocks)
	}
	lt, ok := hfLayerTensors[suffix]
	if !ok {
		return "", 0, fmt.Errorf("safetensors: tensor %q is not a LLaMA tensor this loader knows", name)
	}
	if lt.role == roleIgnored {
		return "", roleIgnored, nil
	}
	return fmt.Sprintf("blk.%d.%s", layer, lt.gguf), lt.role, nil
}

// hfShape is the PyTorch-order shape config.json implies for a role.
func hfShape(c *HFConfig, role hfRole) []uint64 {
	hd := c.HeadDimension()
	q, kv := c.NumAttentionHeads*hd, c.KVHeads()*hd
	switch role {
	case roleEmbed, roleOutput:
		return []uint64{c.VocabSize, c.HiddenSize}
	case roleOutputNorm, roleAttnNorm, roleFFNNorm:
		return []uint64{c.HiddenSize}
	case roleQ:
		return []uint64{q, c.HiddenSize}
	case roleK, roleV:
		return []uint64{kv, c.HiddenSize}
	case roleO:
		return []uint64{c.HiddenSize, q}
	case roleGate, roleUp:
		return []uint64{c.IntermediateSize, c.HiddenSize}
	case roleDown:
		return []uint64{c.HiddenSize, c.IntermediateSize}
	}
	return nil
}

func equalDims(a, b []uint64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// reversed returns a PyTorch shape in ggml order.
func reversed(shape []uint64) []uint64 {
	out := make([]uint64, len(shape))
	for i, d := range shape {
		out[len(shape)-1-i] = d
	}
	return out
}
