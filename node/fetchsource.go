package node

import (
	"context"
	"fmt"
	"sync"

	"github.com/tabshard/tabshard/loader"
	"github.com/tabshard/tabshard/model"
	"github.com/tabshard/tabshard/swarm"
)

// FetchSource loads an assignment from the server that publishes the
// model: the manifest (checked against the plan's digest), then only the
// blobs the stage needs, each verified by sha256 and cached (on disk
// natively, in Cache Storage in a tab), so a reload downloads nothing.
type FetchSource struct {
	Fetcher *loader.Fetcher
}

// Open implements ModelSource.
func (f FetchSource) Open(ctx context.Context, ref swarm.ManifestRef, part model.Part, progress func(done, total int64)) (*Weights, error) {
	man, err := f.Fetcher.Manifest(ctx, ref.SHA256)
	if err != nil {
		return nil, err
	}
	refs, err := man.BlobsFor(part.First, part.Last)
	if err != nil {
		return nil, err
	}
	var total int64
	for _, r := range refs {
		total += r.Size
	}
	// Progress per blob, summed over the blobs of this stage.
	fetcher := *f.Fetcher
	var mu sync.Mutex
	done := map[string]int64{}
	fetcher.Progress = func(ev loader.FetchProgress) {
		if f.Fetcher.Progress != nil {
			f.Fetcher.Progress(ev)
		}
		if progress == nil {
			return
		}
		mu.Lock()
		done[ev.Blob] = ev.Done
		var sum int64
		for _, d := range done {
			sum += d
		}
		mu.Unlock()
		progress(sum, total)
	}
	src, err := loader.NewBlobSource(man)
	if err != nil {
		return nil, err
	}
	if err := fetcher.FetchInto(ctx, src, refs); err != nil {
		src.Close()
		return nil, err
	}
	meta, err := src.Meta()
	if err != nil {
		src.Close()
		return nil, err
	}
	cfg, err := model.ConfigFromMeta(meta, src.Tensors())
	if err != nil {
		src.Close()
		return nil, fmt.Errorf("node: model %s: %w", man.Model, err)
	}
	eos := int32(2)
	if v, err := meta.Uint("tokenizer.ggml.eos_token_id"); err == nil && v < uint64(cfg.Vocab) {
		eos = int32(v)
	}
	return &Weights{Source: src, Config: cfg, EOS: eos, Close: src.Close}, nil
}
