package loader

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// stEntryT is a tensor for the test safetensors builder.
type stEntryT struct {
	name  string
	dtype string
	shape []uint64
	data  []byte
}

// buildSafetensors lays entries out back to back after a JSON header.
func buildSafetensors(entries []stEntryT) []byte {
	var hdr strings.Builder
	hdr.WriteString(`{"__metadata__":{"format":"pt"}`)
	var data []byte
	for _, e := range entries {
		shape, _ := json.Marshal(e.shape)
		if e.shape == nil {
			shape = []byte("[]")
		}
		fmt.Fprintf(&hdr, `,%q:{"dtype":%q,"shape":%s,"data_offsets":[%d,%d]}`, e.name, e.dtype, shape, len(data), len(data)+len(e.data))
		data = append(data, e.data...)
	}
	hdr.WriteString("}")
	return withHeader(hdr.String(), data)
}

// withHeader frames a JSON header (padded to 8 bytes as writers do) and data.
func withHeader(hdr string, data []byte) []byte {
	for len(hdr)%8 != 0 {
		hdr += " "
	}
	var b bytes.Buffer
	_ = binary.Write(&b, binary.LittleEndian, uint64(len(hdr)))
	b.WriteString(hdr)
	b.Write(data)
	return b.Bytes()
}

// tinyConfig is a LLaMA with 2 query heads and 1 KV head of width 4.
const tinyConfig = `{"model_type":"llama","architectures":["LlamaForCausalLM"],"hidden_size":8,
"intermediate_size":16,"num_hidden_layers":1,"num_attention_heads":2,"num_key_value_heads":1,
"head_dim":4,"rms_norm_eps":1e-5,"rope_theta":500000.0,"max_position_embeddings":32,
"vocab_size":10,"tie_word_embeddings":false,"bos_token_id":1,"eos_token_id":[2,3]}`

func mustTinyConfig() *HFConfig {
	c, err := ParseHFConfig([]byte(tinyConfig))
	if err != nil {
		panic(err)
	}
	return c
}

// rowTagged is an F16-sized matrix whose element (r, c) is r*256+c, so a
// permuted row is recognisable.
func rowTagged(rows, cols int) []byte {
	b := make([]byte, 0, rows*cols*2)
	for r := 0; r < rows; r++ {
		for c := 0; c < cols; c++ {
			b = binary.LittleEndian.AppendUint16(b, uint16(r*256+c))
		}
	}
	return b
}

// tinyEntries is a complete checkpoint for tinyConfig.
func tinyEntries() []stEntryT {
	m := func(name string, rows, cols int) stEntryT {
		return stEntryT{name, "F16", []uint64{uint64(rows), uint64(cols)}, rowTagged(rows, cols)}
	}
	v := func(name string, n int) stEntryT {
		return stEntryT{name, "F32", []uint64{uint64(n)}, seq(4 * n)}
	}
	p := "model.layers.0."
	return []stEntryT{
		m("model.embed_tokens.weight", 10, 8),
		m(p+"self_attn.q_proj.weight", 8, 8),
		m(p+"self_attn.k_proj.weight", 4, 8),
		m(p+"self_attn.v_proj.weight", 4, 8),
		m(p+"self_attn.o_proj.weight", 8, 8),
		m(p+"mlp.gate_proj.weight", 16, 8),
		m(p+"mlp.up_proj.weight", 16, 8),
		m(p+"mlp.down_proj.weight", 8, 16),
		v(p+"input_layernorm.weight", 8),
		v(p+"post_attention_layernorm.weight", 8),
		v("model.norm.weight", 8),
		m("lm_head.weight", 10, 8),
	}
}

// writeDir writes config.json and files into a fresh directory.
func writeDir(t *testing.T, config string, files map[string][]byte) string {
	t.Helper()
	dir := t.TempDir()
	if config != "" {
		if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(config), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}
