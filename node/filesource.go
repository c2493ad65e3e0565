package node

import (
	"bytes"
	"context"
	"errors"

	"github.com/tabshard/tabshard/loader"
	"github.com/tabshard/tabshard/model"
	"github.com/tabshard/tabshard/swarm"
)

// FileSource serves assignments from a model the node already holds (a
// local file or embedded bytes) instead of fetching blobs: for native nodes
// started beside the server, and tests. The digest check still happens at
// every link's Hello against the plan's manifest digest.
type FileSource struct {
	Path  string // a GGUF file or safetensors directory
	Bytes []byte // or GGUF bytes in memory
}

// Open implements ModelSource.
func (f FileSource) Open(_ context.Context, _ swarm.ManifestRef, _ model.Part, progress func(done, total int64)) (*Weights, error) {
	var src *loader.Model
	var err error
	switch {
	case f.Bytes != nil:
		src, err = loader.OpenGGUF(bytes.NewReader(f.Bytes), int64(len(f.Bytes)))
	case f.Path != "":
		src, err = loader.Open(f.Path)
	default:
		err = errors.New("node: file source names no model")
	}
	if err != nil {
		return nil, err
	}
	cfg, err := model.ConfigFromMeta(&src.Meta, src.Tensors)
	if err != nil {
		src.Close()
		return nil, err
	}
	eos := int32(2)
	if v, err := src.Meta.Uint("tokenizer.ggml.eos_token_id"); err == nil && v < uint64(cfg.Vocab) {
		eos = int32(v)
	}
	if progress != nil {
		s := src.Summary()
		progress(s.Bytes, s.Bytes)
	}
	return &Weights{Source: src, Config: cfg, EOS: eos, Close: src.Close}, nil
}
