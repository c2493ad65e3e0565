package loader

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/tabshard/tabshard/internal/testdata"
)

// splitFile builds the blobs of a reference model, keeping them in memory.
func splitFile(t testing.TB, rel string) (*Model, *Manifest, map[string][]byte) {
	t.Helper()
	m, err := Open(testdata.Path(t, rel))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	blobs := make(map[string][]byte)
	man, err := BuildBlobs(m, "austen-22m", func(ref BlobRef, data []byte) error {
		sum := sha256.Sum256(data)
		if hex.EncodeToString(sum[:]) != ref.SHA256 || int64(len(data)) != ref.Size {
			t.Errorf("blob %s: ref does not match its bytes", ref.Name)
		}
		blobs[ref.Name] = data
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return m, man, blobs
}

// Every tensor read through the blobs equals the original; each blob is a
// GGUF file of its own; the digest is the same when built again.
func TestBlobsRoundTrip(t *testing.T) {
	m, man, blobs := splitFile(t, "austen-22m/gguf/austen-22m-Q4_K_M.gguf")
	if len(man.Blobs) != 8+3 || man.Config.Layers != 8 || man.Config.Vocab != 32000 || man.Config.KVHeads != 2 {
		t.Fatalf("manifest %+v", man.Config)
	}
	src, err := NewBlobSource(man)
	if err != nil {
		t.Fatal(err)
	}
	var total int64
	for _, ref := range man.Blobs {
		if err := src.AddBytes(ref.Name, blobs[ref.Name]); err != nil {
			t.Fatal(err)
		}
		total += ref.Size
	}
	for _, info := range m.Tensors {
		want, err := m.ReadTensor(info.Name)
		if err != nil {
			t.Fatal(err)
		}
		got, err := src.ReadTensor(info.Name)
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("%s: %v, equal %v", info.Name, err, bytes.Equal(got, want))
		}
		if bi, ok := src.Tensor(info.Name); !ok || bi.Type != info.Type || bi.Size != info.Size {
			t.Fatalf("%s: info %+v vs %+v", info.Name, bi, info)
		}
	}
	meta, err := src.Meta()
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range m.Meta.Keys() {
		if k == "general.alignment" {
			continue
		}
		a, _ := m.Meta.Get(k)
		b, ok := meta.Get(k)
		if !ok || a.Short() != b.Short() {
			t.Errorf("meta %s: %s vs %s", k, a.Short(), b.Short())
		}
	}
	if n := len(src.Tensors()); n != len(m.Tensors) {
		t.Errorf("manifest lists %d tensors, model has %d", n, len(m.Tensors))
	}
	d1, err := man.Digest()
	if err != nil {
		t.Fatal(err)
	}
	_, man2, _ := splitFile(t, "austen-22m/gguf/austen-22m-Q4_K_M.gguf")
	d2, _ := man2.Digest()
	if d1 != d2 {
		t.Fatalf("digest changed between builds: %s vs %s", d1, d2)
	}
	enc, _ := man.Encode()
	if back, err := DecodeManifestDigest(enc, d1); err != nil || back.Model != "austen-22m" {
		t.Fatalf("decode own manifest: %v", err)
	}
	t.Logf("digest %s, %d blobs, %d bytes (model file %d tensor bytes), manifest %d bytes", d1, len(man.Blobs), total, m.Summary().Bytes, len(enc))
}

// A middle node adds only meta and its layers; tensors of other blobs are
// reported missing with the blob they live in.
func TestBlobSourcePartial(t *testing.T) {
	_, man, blobs := splitFile(t, "austen-22m/gguf/austen-22m-Q4_K_M.gguf")
	refs, err := man.BlobsFor(2, 5)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, r := range refs {
		names = append(names, r.Name)
	}
	if got := strings.Join(names, ","); got != "meta,layer.2,layer.3,layer.4" {
		t.Fatalf("BlobsFor(2,5) = %s", got)
	}
	if refs, _ := man.BlobsFor(0, 8); len(refs) != 11 {
		t.Errorf("BlobsFor(0,8) gives %d blobs", len(refs))
	}
	if _, err := man.BlobsFor(3, 9); err == nil {
		t.Error("BlobsFor past the last layer accepted")
	}
	src, _ := NewBlobSource(man)
	for _, n := range names {
		if err := src.AddBytes(n, blobs[n]); err != nil {
			t.Fatal(err)
		}
	}
	if _, ok := src.Tensor("blk.3.attn_q.weight"); !ok {
		t.Error("blk.3.attn_q missing")
	}
	if _, ok := src.Tensor("blk.5.attn_q.weight"); ok {
		t.Error("blk.5 present without its blob")
	}
	if _, err := src.ReadTensor("token_embd.weight"); err == nil || !strings.Contains(err.Error(), `"embed"`) {
		t.Errorf("missing tensor error: %v", err)
	}
	// Wrong blob under a name, twice the same blob, a truncated blob.
	if err := src.AddBytes("layer.6", blobs["layer.7"]); err == nil {
		t.Error("layer.7 accepted as layer.6")
	}
	if err := src.AddBytes("layer.2", blobs["layer.2"]); err == nil {
		t.Error("blob added twice")
	}
	if err := src.AddBytes("head", blobs["head"][:len(blobs["head"])-1]); err == nil {
		t.Error("truncated blob accepted")
	}
	if err := src.AddBytes("nope", blobs["head"]); err == nil {
		t.Error("unknown blob accepted")
	}
}

// The F16 safetensors checkpoint splits into blobs holding the same tensors
// as its GGUF conversion (safetensors q/k rows come out in GGUF order).
func TestBlobsFromSafetensors(t *testing.T) {
	m, man, blobs := splitFile(t, "austen-22m/model.safetensors.index.json")
	src, _ := NewBlobSource(man)
	for _, ref := range man.Blobs {
		if err := src.AddBytes(ref.Name, blobs[ref.Name]); err != nil {
			t.Fatal(err)
		}
	}
	for _, info := range m.Tensors {
		want, _ := m.ReadTensor(info.Name)
		got, err := src.ReadTensor(info.Name)
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("%s differs (%v)", info.Name, err)
		}
	}
}

// A model whose tensors disagree with its block count is refused.
func TestBuildBlobsRefuses(t *testing.T) {
	m := tinyModel(t)
	withLayers := func(n uint32) *Model {
		ts := make([]TensorToWrite, len(m.Tensors))
		for i, info := range m.Tensors {
			data, _ := m.ReadTensor(info.Name)
			ts[i] = TensorToWrite{TensorSpec{info.Name, info.Type, info.Dims}, data}
		}
		var buf bytes.Buffer
		if _, err := WriteGGUF(&buf, SetKV(m.Meta.KVs(), "llama.block_count", Uint32Value(n)), ts); err != nil {
			t.Fatal(err)
		}
		out, err := openBytes(buf.Bytes())
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	put := func(BlobRef, []byte) error { return nil }
	if _, err := BuildBlobs(withLayers(1), "x", put); err == nil || !strings.Contains(err.Error(), "beyond") {
		t.Errorf("extra layer: %v", err)
	}
	if _, err := BuildBlobs(withLayers(3), "x", put); err == nil || !strings.Contains(err.Error(), `"layer.2"`) {
		t.Errorf("missing layer: %v", err)
	}
	if _, err := BuildBlobs(m, "", put); err == nil || !strings.Contains(err.Error(), "model name") {
		t.Errorf("empty name: %v", err)
	}
}
