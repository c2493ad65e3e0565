package loader

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/tabshard/tabshard/quant"
)

func TestSafetensorsSingleFile(t *testing.T) {
	dir := writeDir(t, tinyConfig, map[string][]byte{"model.safetensors": buildSafetensors(tinyEntries())})
	for _, p := range []string{dir, filepath.Join(dir, "model.safetensors")} {
		m, err := Open(p)
		if err != nil {
			t.Fatal(err)
		}
		defer m.Close()
		if m.Format != FormatSafetensors || len(m.Tensors) != 12 || m.Tensors[0].Name != "token_embd.weight" {
			t.Fatalf("%s: format %q, %d tensors, first %q", p, m.Format, len(m.Tensors), m.Tensors[0].Name)
		}
		q, _ := m.Tensor("blk.0.attn_q.weight")
		if !slices.Equal(q.Dims, []uint64{8, 8}) || q.Type != quant.F16 || q.PermuteHeads != 2 {
			t.Fatalf("attn_q %+v", q)
		}
		down, _ := m.Tensor("blk.0.ffn_down.weight")
		if !slices.Equal(down.Dims, []uint64{16, 8}) {
			t.Fatalf("ffn_down dims %v, want ggml order [16 8]", down.Dims)
		}
		// Rows come out in GGUF's interleaved order: per head, the first
		// and second halves alternate.
		for name, order := range map[string][]int{
			"blk.0.attn_q.weight":   {0, 2, 1, 3, 4, 6, 5, 7},
			"blk.0.attn_k.weight":   {0, 2, 1, 3},
			"blk.0.attn_v.weight":   {0, 1, 2, 3},
			"blk.0.ffn_gate.weight": {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15},
		} {
			b, err := m.ReadTensor(name)
			if err != nil {
				t.Fatal(err)
			}
			for out, in := range order {
				if got := binary.LittleEndian.Uint16(b[out*16:]); got != uint16(in*256) {
					t.Errorf("%s row %d starts %#x, want row %d", name, out, got, in)
				}
			}
		}
		for key, want := range map[string]uint64{
			"llama.block_count": 1, "llama.embedding_length": 8, "llama.feed_forward_length": 16,
			"llama.attention.head_count": 2, "llama.attention.head_count_kv": 1,
			"llama.attention.key_length": 4, "llama.attention.value_length": 4, "llama.context_length": 32,
			"llama.vocab_size": 10, "tokenizer.ggml.bos_token_id": 1, "tokenizer.ggml.eos_token_id": 2,
		} {
			if got, err := m.Meta.Uint(key); err != nil || got != want {
				t.Errorf("%s = %d %v, want %d", key, got, err, want)
			}
		}
		if f, _ := m.Meta.Float("llama.rope.freq_base"); f != 500000 {
			t.Errorf("rope base %v", f)
		}
	}
}

func TestSafetensorsSharded(t *testing.T) {
	es := tinyEntries()
	wm := map[string]string{}
	for i, e := range es {
		wm[e.name] = []string{"a.safetensors", "b.safetensors"}[i%2]
	}
	var a, b []stEntryT
	for i, e := range es {
		if i%2 == 0 {
			a = append(a, e)
		} else {
			b = append(b, e)
		}
	}
	index := func(wm map[string]string) []byte {
		j, _ := json.Marshal(map[string]any{"metadata": map[string]any{"total_size": 1}, "weight_map": wm})
		return j
	}
	files := map[string][]byte{"a.safetensors": buildSafetensors(a), "b.safetensors": buildSafetensors(b), "model.safetensors.index.json": index(wm)}
	dir := writeDir(t, tinyConfig, files)
	m, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Files) != 2 || len(m.Tensors) != 12 {
		t.Fatalf("%d files %d tensors", len(m.Files), len(m.Tensors))
	}
	if _, err := m.ReadTensor("blk.0.attn_k.weight"); err != nil {
		t.Fatal(err)
	}
	m.Close()

	// The index must agree with the shards.
	bad := func(edit func(map[string]string), frag string) {
		t.Helper()
		wm2 := maps(wm)
		edit(wm2)
		files["model.safetensors.index.json"] = index(wm2)
		_, err := Open(filepath.Join(writeDir(t, tinyConfig, files), "model.safetensors.index.json"))
		if err == nil || !strings.Contains(err.Error(), frag) {
			t.Errorf("got %v, want error mentioning %q", err, frag)
		}
	}
	bad(func(w map[string]string) { w["lm_head.weight"] = "../etc/passwd" }, "not a file name")
	bad(func(w map[string]string) { w["lm_head.weight"] = "c.safetensors" }, "c.safetensors")
	bad(func(w map[string]string) { delete(w, "lm_head.weight") }, "does not list")
	bad(func(w map[string]string) { w["extra.weight"] = "a.safetensors" }, "does not hold it")
	bad(func(w map[string]string) {
		w["model.norm.weight"], w["lm_head.weight"] = w["lm_head.weight"], w["model.norm.weight"]
	}, "index puts")
}

func maps(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// stErr opens a single safetensors file with the tiny config and requires an
// error mentioning every fragment.
func stErr(t *testing.T, file []byte, config string, frags ...string) {
	t.Helper()
	dir := writeDir(t, config, map[string][]byte{"model.safetensors": file})
	m, err := Open(dir)
	if err == nil {
		m.Close()
		t.Fatalf("opened; want error mentioning %q", frags)
	}
	for _, f := range frags {
		if !strings.Contains(err.Error(), f) {
			t.Fatalf("error %q does not mention %q", err, f)
		}
	}
}

func TestSafetensorsBadHeader(t *testing.T) {
	good := buildSafetensors(tinyEntries())
	for n := 0; n < len(good); n += 7 {
		stErr(t, good[:n], tinyConfig)
	}
	huge := append([]byte(nil), good...)
	binary.LittleEndian.PutUint64(huge, 1<<62)
	stErr(t, huge, tinyConfig, "header length")
	stErr(t, withHeader(`[1,2]`, nil), tinyConfig, "JSON object")
	stErr(t, withHeader(`{"a":{"dtype":"F16","shape":[1],"data_offsets":[0,2]}} x`, make([]byte, 2)), tinyConfig, "trailing garbage")
	stErr(t, withHeader(`{"a":{"dtype":"F16","shape":[1],"data_offsets":[0,2]},"a":{"dtype":"F16","shape":[1],"data_offsets":[2,4]}}`, make([]byte, 4)), tinyConfig, "duplicate", `"a"`)
	stErr(t, withHeader(`{"a":{"dtype":"I64","shape":[1],"data_offsets":[0,8]}}`, make([]byte, 8)), tinyConfig, "I64", "only F32, F16 and BF16")
	stErr(t, withHeader(`{"a":{"dtype":"Q9","shape":[1],"data_offsets":[0,8]}}`, make([]byte, 8)), tinyConfig, "unknown dtype", "Q9")
	stErr(t, withHeader(`{"a":{"dtype":"F16","shape":[4],"data_offsets":[0,8]}}`, make([]byte, 4)), tinyConfig, "outside")
	stErr(t, withHeader(`{"a":{"dtype":"F16","shape":[3],"data_offsets":[0,8]}}`, make([]byte, 8)), tinyConfig, "needs 6")
	stErr(t, withHeader(`{"a":{"dtype":"F16","shape":[-3],"data_offsets":[0,8]}}`, make([]byte, 8)), tinyConfig, `"a"`)
	stErr(t, withHeader(`{"a":{"dtype":"F16","shape":[4294967296,4294967296],"data_offsets":[0,8]}}`, make([]byte, 8)), tinyConfig, "overflow")
	stErr(t, withHeader(`{"a":{"dtype":"F16","shape":[1,1,1,1,1],"data_offsets":[0,2]}}`, make([]byte, 2)), tinyConfig, "5 dims")
	stErr(t, withHeader(`{"a":{"dtype":"F16","shape":[2],"data_offsets":[0,4]},"b":{"dtype":"F16","shape":[2],"data_offsets":[2,6]}}`, make([]byte, 6)), tinyConfig, "overlap")
	stErr(t, withHeader(`{"a":{"dtype":"F16","shape":[2],"data_offsets":[4]}}`, make([]byte, 6)), tinyConfig, "data_offsets")
}

func TestSafetensorsBadTensors(t *testing.T) {
	with := func(edit func([]stEntryT) []stEntryT) []byte { return buildSafetensors(edit(tinyEntries())) }
	stErr(t, with(func(e []stEntryT) []stEntryT {
		return append(e, stEntryT{"model.layers.0.self_attn.q_norm.weight", "F32", []uint64{4}, seq(16)})
	}), tinyConfig, "q_norm", "not a LLaMA tensor")
	stErr(t, with(func(e []stEntryT) []stEntryT {
		return append(e, stEntryT{"model.layers.1.input_layernorm.weight", "F32", []uint64{8}, seq(32)})
	}), tinyConfig, "layer 1")
	stErr(t, with(func(e []stEntryT) []stEntryT {
		return append(e, stEntryT{"model.layers.00.input_layernorm.weight", "F32", []uint64{8}, seq(32)})
	}), tinyConfig, "layer number")
	stErr(t, with(func(e []stEntryT) []stEntryT { return e[1:] }), tinyConfig, "token_embd")
	stErr(t, with(func(e []stEntryT) []stEntryT { return slices.Delete(e, 3, 4) }), tinyConfig, "blk.0.attn_v.weight")
	stErr(t, with(func(e []stEntryT) []stEntryT {
		e[2].shape, e[2].data = []uint64{8, 8}, rowTagged(8, 8)
		return e
	}), tinyConfig, "k_proj", "config.json implies [4 8]")
	good := buildSafetensors(tinyEntries())
	stErr(t, good, "", "config.json")
	stErr(t, good, `{"model_type":"mistral"}`, "not LLaMA")
	stErr(t, good, strings.Replace(tinyConfig, `"head_dim":4`, `"head_dim":3`, 1), "head_dim 3")
	stErr(t, good, strings.Replace(tinyConfig, `"vocab_size":10,`, `"vocab_size":10,"hidden_act":"gelu",`, 1), "hidden_act")
	stErr(t, good, strings.Replace(tinyConfig, `"num_key_value_heads":1`, `"num_key_value_heads":3`, 1), "num_key_value_heads")
	stErr(t, good, strings.Replace(tinyConfig, `"bos_token_id":1`, `"bos_token_id":10`, 1), "bos_token_id 10")
	stErr(t, good, strings.Replace(tinyConfig, `"vocab_size":10,`, `"vocab_size":10,"rope_scaling":{"type":"llama3"},`, 1), "rope_scaling")
}

func TestSafetensorsTiedAndIgnored(t *testing.T) {
	es := append(tinyEntries(), stEntryT{"model.layers.0.self_attn.rotary_emb.inv_freq", "F32", []uint64{2}, seq(8)})
	tied := strings.Replace(tinyConfig, `"tie_word_embeddings":false`, `"tie_word_embeddings":true`, 1)
	m, err := Open(writeDir(t, tied, map[string][]byte{"model.safetensors": buildSafetensors(es)}))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if _, ok := m.Tensor("output.weight"); ok || len(m.Tensors) != 11 {
		t.Errorf("tied model has output.weight or %d tensors", len(m.Tensors))
	}
	if !slices.Equal(m.Ignored, []string{"lm_head.weight", "model.layers.0.self_attn.rotary_emb.inv_freq"}) {
		t.Errorf("ignored %v", m.Ignored)
	}
	// Tied and without lm_head at all is the usual case.
	m2, err := Open(writeDir(t, tied, map[string][]byte{"model.safetensors": buildSafetensors(tinyEntries()[:11])}))
	if err != nil {
		t.Fatal(err)
	}
	m2.Close()
}

// The header parser alone, from bytes (what FuzzSafetensors drives).
func TestSafetensorsHeaderFromBytes(t *testing.T) {
	b := buildSafetensors(tinyEntries())
	m, err := OpenSafetensors(mustTinyConfig(), []SafetensorsShard{{Name: "mem", R: bytes.NewReader(b), Size: int64(len(b))}})
	if err != nil {
		t.Fatal(err)
	}
	if s := m.Summary(); s.Params != 80+64+32+32+64+128+128+128+8+8+8+80 {
		t.Errorf("params %d", s.Params)
	}
}
