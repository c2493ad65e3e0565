package loader

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sort"
)

// blobKeyName is the metadata key naming the component a blob holds; every
// component blob carries it, so a blob opened on its own says what it is.
const blobKeyName = "tabshard.blob"

// BuildBlobs splits m (GGUF or safetensors) into its component blobs, each a
// small GGUF file, and returns the manifest. Blobs are built one at a time
// and handed to put in manifest order, so at most one blob is in memory; put
// may keep the bytes (they are not reused). modelName names the model in the
// manifest. The output is deterministic: the same model gives the same
// blobs and digest.
func BuildBlobs(m *Model, modelName string, put func(ref BlobRef, data []byte) error) (*Manifest, error) {
	if err := checkName("model name", modelName); err != nil {
		return nil, err
	}
	cfg, err := manifestConfig(m)
	if err != nil {
		return nil, err
	}
	groups := make(map[string][]TensorInfo)
	for _, t := range m.Tensors {
		if i, ok := layerOf(t.Name); ok && i >= cfg.Layers {
			return nil, fmt.Errorf("blobs: tensor %q is for a layer beyond the model's %d", t.Name, cfg.Layers)
		}
		c := componentOf(t.Name)
		groups[c] = append(groups[c], t)
	}
	man := &Manifest{Version: ManifestVersion, Model: modelName, Config: cfg}
	names := []string{BlobMeta, BlobEmbed}
	for i := 0; i < cfg.Layers; i++ {
		names = append(names, LayerBlob(i))
	}
	names = append(names, BlobHead)
	for _, name := range names {
		ts := groups[name]
		// Table order within a blob is by name, so the blob does not depend
		// on the source file's order (GGUF and safetensors differ).
		sort.Slice(ts, func(a, b int) bool { return ts[a].Name < ts[b].Name })
		if name != BlobMeta && len(ts) == 0 {
			return nil, fmt.Errorf("blobs: model has no tensors for blob %q", name)
		}
		var meta []MetaKV
		if name == BlobMeta {
			meta = DeleteKV(m.Meta.KVs(), "general.alignment") // blobs use the default
		}
		meta = SetKV(meta, blobKeyName, StringValue(name))
		data, ref, err := buildBlob(m, name, meta, ts)
		if err != nil {
			return nil, err
		}
		man.Blobs = append(man.Blobs, ref)
		if err := put(ref, data); err != nil {
			return nil, err
		}
	}
	if err := man.Validate(); err != nil {
		return nil, fmt.Errorf("blobs: built an invalid manifest: %w", err)
	}
	return man, nil
}

func buildBlob(m *Model, name string, meta []MetaKV, ts []TensorInfo) ([]byte, BlobRef, error) {
	ref := BlobRef{Name: name, Tensors: []ManifestTensor{}}
	tw := make([]TensorToWrite, len(ts))
	for i, t := range ts {
		data, err := m.ReadTensor(t.Name)
		if err != nil {
			return nil, ref, fmt.Errorf("blobs: %w", err)
		}
		tw[i] = TensorToWrite{TensorSpec{t.Name, t.Type, t.Dims}, data}
		ref.Tensors = append(ref.Tensors, ManifestTensor{Name: t.Name, Type: t.Type.String(), Dims: append([]uint64(nil), t.Dims...)})
	}
	var buf bytes.Buffer
	if _, err := WriteGGUF(&buf, meta, tw); err != nil {
		return nil, ref, fmt.Errorf("blobs: %s: %w", name, err)
	}
	sum := sha256.Sum256(buf.Bytes())
	ref.Size = int64(buf.Len())
	ref.SHA256 = hex.EncodeToString(sum[:])
	return buf.Bytes(), ref, nil
}

// manifestConfig reads the shape summary from the metadata and the tensor
// table (the vocabulary is the embedding's row count; the head is tied when
// there is no output.weight), as model.ConfigFromMeta does.
func manifestConfig(m *Model) (ManifestConfig, error) {
	var c ManifestConfig
	arch, err := m.Meta.String("general.architecture")
	if err != nil {
		return c, fmt.Errorf("blobs: %w", err)
	}
	c.Arch = arch
	geti := func(key string, dst *int, optional bool) {
		if err != nil || (optional && !m.Meta.Has(arch+"."+key)) {
			return
		}
		var v uint64
		if v, err = m.Meta.Uint(arch + "." + key); err == nil {
			if v > 1<<31 {
				err = fmt.Errorf("%s.%s = %d is out of range", arch, key, v)
			}
			*dst = int(v)
		}
	}
	geti("block_count", &c.Layers, false)
	geti("embedding_length", &c.Dim, false)
	geti("feed_forward_length", &c.FFN, false)
	geti("attention.head_count", &c.Heads, false)
	geti("context_length", &c.Context, false)
	c.KVHeads = c.Heads
	geti("attention.head_count_kv", &c.KVHeads, true)
	if c.Heads > 0 {
		c.HeadDim = c.Dim / c.Heads
	}
	geti("attention.key_length", &c.HeadDim, true)
	if err != nil {
		return c, fmt.Errorf("blobs: %w", err)
	}
	c.TiedOutput = true
	for _, t := range m.Tensors {
		switch t.Name {
		case "token_embd.weight":
			if len(t.Dims) == 2 && t.Dims[1] <= 1<<31 {
				c.Vocab = int(t.Dims[1])
			}
		case "output.weight":
			c.TiedOutput = false
		}
	}
	if err := c.validate(); err != nil {
		return c, fmt.Errorf("blobs: %w", err)
	}
	return c, nil
}
