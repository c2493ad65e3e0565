package loader

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strings"
	"testing"

	"github.com/tabshard/tabshard/quant"
)

// tinyModel is a 2-layer LLaMA-shaped GGUF with F32 weights of no meaning,
// enough to exercise blobs, manifests and fetching without reference files.
func tinyModel(t testing.TB) *Model {
	t.Helper()
	const dim, ffn, vocab = 32, 64, 16
	meta := []MetaKV{
		{"general.architecture", StringValue("llama")},
		{"general.name", StringValue("tiny")},
		{"llama.block_count", Uint32Value(2)},
		{"llama.embedding_length", Uint32Value(dim)},
		{"llama.feed_forward_length", Uint32Value(ffn)},
		{"llama.attention.head_count", Uint32Value(2)},
		{"llama.attention.head_count_kv", Uint32Value(1)},
		{"llama.context_length", Uint32Value(16)},
		{"llama.attention.layer_norm_rms_epsilon", Float32Value(1e-5)},
		{"tokenizer.ggml.tokens", StringsValue([]string{"<unk>", "<s>", "</s>"})},
	}
	var ts []TensorToWrite
	seed := byte(1)
	add := func(name string, dims ...uint64) {
		n := 4
		for _, d := range dims {
			n *= int(d)
		}
		data := make([]byte, n)
		for i := range data {
			data[i] = seed + byte(i*7)
		}
		seed++
		ts = append(ts, TensorToWrite{TensorSpec{name, quant.F32, dims}, data})
	}
	add("token_embd.weight", dim, vocab)
	for i := 0; i < 2; i++ {
		p := "blk." + string(rune('0'+i)) + "."
		add(p+"attn_norm.weight", dim)
		add(p+"attn_q.weight", dim, dim)
		add(p+"attn_k.weight", dim, dim/2)
		add(p+"attn_v.weight", dim, dim/2)
		add(p+"attn_output.weight", dim, dim)
		add(p+"ffn_norm.weight", dim)
		add(p+"ffn_gate.weight", dim, ffn)
		add(p+"ffn_up.weight", dim, ffn)
		add(p+"ffn_down.weight", ffn, dim)
	}
	add("output_norm.weight", dim)
	add("output.weight", dim, vocab)
	var buf bytes.Buffer
	if _, err := WriteGGUF(&buf, meta, ts); err != nil {
		t.Fatal(err)
	}
	m, err := openBytes(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// tinyBlobs splits tinyModel into blobs held in memory.
func tinyBlobs(t testing.TB) (*Manifest, map[string][]byte) {
	t.Helper()
	blobs := make(map[string][]byte)
	man, err := BuildBlobs(tinyModel(t), "tiny", func(ref BlobRef, data []byte) error {
		blobs[ref.Name] = data
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return man, blobs
}

func TestManifestRoundTrip(t *testing.T) {
	man, _ := tinyBlobs(t)
	enc, err := man.Encode()
	if err != nil {
		t.Fatal(err)
	}
	back, err := DecodeManifest(enc)
	if err != nil {
		t.Fatal(err)
	}
	d1, _ := man.Digest()
	d2, _ := back.Digest()
	sum := sha256.Sum256(enc)
	if d1 != d2 || d1 != hex.EncodeToString(sum[:]) {
		t.Fatalf("digests %s %s %x", d1, d2, sum)
	}
	if _, err := DecodeManifestDigest(enc, strings.Repeat("0", 64)); err == nil {
		t.Error("wrong digest accepted")
	}
	if _, err := DecodeManifestDigest(enc, "XYZ"); err == nil {
		t.Error("malformed digest accepted")
	}
	if man.Config.TiedOutput || man.Config.Vocab != 16 || man.Config.KVHeads != 1 || man.Config.HeadDim != 16 {
		t.Errorf("config %+v", man.Config)
	}
}

// The decoder refuses every malformed field, with a message naming it.
func TestManifestDecodeRefuses(t *testing.T) {
	good, _ := tinyBlobs(t)
	enc, _ := good.Encode()
	clone := func() *Manifest {
		var m Manifest
		if err := json.Unmarshal(enc, &m); err != nil {
			t.Fatal(err)
		}
		return &m
	}
	cases := []struct {
		name string
		edit func(m *Manifest)
		want string
	}{
		{"version", func(m *Manifest) { m.Version = 2 }, "version"},
		{"empty model", func(m *Manifest) { m.Model = "" }, "model name"},
		{"control char", func(m *Manifest) { m.Model = "a\x00b" }, "non-printable"},
		{"long name", func(m *Manifest) { m.Model = strings.Repeat("x", 300) }, "model name"},
		{"layers", func(m *Manifest) { m.Config.Layers = 0 }, "layers"},
		{"too many layers", func(m *Manifest) { m.Config.Layers = 5000 }, "layers"},
		{"layer count vs blobs", func(m *Manifest) { m.Config.Layers = 3 }, "blobs"},
		{"heads", func(m *Manifest) { m.Config.KVHeads = 3 }, "heads"},
		{"vocab", func(m *Manifest) { m.Config.Vocab = -1 }, "vocabulary"},
		{"head dim", func(m *Manifest) { m.Config.HeadDim = 0 }, "head_dim"},
		{"blob order", func(m *Manifest) { m.Blobs[2], m.Blobs[3] = m.Blobs[3], m.Blobs[2] }, "named"},
		{"zero size", func(m *Manifest) { m.Blobs[1].Size = 0 }, "size"},
		{"huge size", func(m *Manifest) { m.Blobs[1].Size = 1 << 50 }, "size"},
		{"short size", func(m *Manifest) { m.Blobs[1].Size = 100 }, "more than"},
		{"upper hex", func(m *Manifest) { m.Blobs[1].SHA256 = strings.ToUpper(m.Blobs[1].SHA256) }, "hex"},
		{"short hex", func(m *Manifest) { m.Blobs[1].SHA256 = "abcd" }, "hex"},
		{"same digest", func(m *Manifest) { m.Blobs[2].SHA256 = m.Blobs[3].SHA256 }, "same sha256"},
		{"tensor type", func(m *Manifest) { m.Blobs[1].Tensors[0].Type = "Q9_X" }, "unknown format"},
		{"tensor dims", func(m *Manifest) { m.Blobs[1].Tensors[0].Dims = []uint64{32, 0} }, "zero dimension"},
		{"no dims", func(m *Manifest) { m.Blobs[1].Tensors[0].Dims = nil }, "no dims"},
		{"many dims", func(m *Manifest) { m.Blobs[1].Tensors[0].Dims = []uint64{1, 1, 1, 1, 1} }, "dims"},
		{"overflow dims", func(m *Manifest) { m.Blobs[1].Tensors[0].Dims = []uint64{1 << 40, 1 << 40} }, "overflow"},
		{"wrong blob", func(m *Manifest) { m.Blobs[2].Tensors[0].Name = "blk.1.attn_norm.weight" }, "belongs in"},
		{"dup tensor", func(m *Manifest) { m.Blobs[2].Tensors[1] = m.Blobs[2].Tensors[0] }, "twice"},
		{"empty layer", func(m *Manifest) { m.Blobs[2].Tensors = []ManifestTensor{} }, "no tensors"},
		{"null tensors", func(m *Manifest) { m.Blobs[0].Tensors = nil }, "no tensor list"},
	}
	for _, c := range cases {
		m := clone()
		c.edit(m)
		b, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		_, err = DecodeManifest(b)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err %v, want %q", c.name, err, c.want)
		}
	}
	raw := []struct{ name, in, want string }{
		{"empty", "", "EOF"},
		{"not json", "hello", "invalid"},
		{"array", "[]", "cannot unmarshal"},
		{"unknown field", strings.Replace(string(enc), `{"version":1,`, `{"version":1,"extra":2,`, 1), "unknown field"},
		{"trailing", string(enc) + "{}", "trailing"},
		{"whitespace", string(enc) + "\n", "canonical"},
		{"reordered", strings.Replace(string(enc), `"version":1,"model":"tiny"`, `"model":"tiny","version":1`, 1), "canonical"},
		{"duplicate field", strings.Replace(string(enc), `{"version":1,`, `{"version":1,"version":1,`, 1), "canonical"},
		{"too big", strings.Repeat(" ", MaxManifestBytes+1), "limit"},
	}
	for _, c := range raw {
		_, err := DecodeManifest([]byte(c.in))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err %v, want %q", c.name, err, c.want)
		}
	}
}

// FuzzManifest: the decoder never panics, and whatever it accepts
// re-encodes to exactly the input, whose sha256 is the digest.
func FuzzManifest(f *testing.F) {
	man, _ := tinyBlobs(f)
	enc, _ := man.Encode()
	f.Add(enc)
	f.Add([]byte(`{"version":1}`))
	f.Add([]byte(`{"version":1,"model":"m","config":{"arch":"llama","layers":1,"dim":8,"ffn":8,"heads":1,"kv_heads":1,"head_dim":8,"vocab":1,"context":1,"tied_output":true},"blobs":[]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := DecodeManifest(b)
		if err != nil {
			return
		}
		again, err := m.Encode()
		if err != nil || !bytes.Equal(again, b) {
			t.Fatalf("accepted manifest re-encodes differently (%v)", err)
		}
		d, _ := m.Digest()
		sum := sha256.Sum256(b)
		if d != hex.EncodeToString(sum[:]) {
			t.Fatal("digest is not the sha256 of the bytes")
		}
		for i := 0; i < m.Config.Layers; i++ {
			if _, err := m.BlobsFor(i, i+1); err != nil {
				t.Fatal(err)
			}
		}
		_ = m.TensorInfos()
	})
}
