//go:build js && wasm

package main

import (
	"context"
	"time"

	"github.com/tabshard/tabshard/model"
	"github.com/tabshard/tabshard/node"
	"github.com/tabshard/tabshard/swarm"
)

// pageSource shows an assignment's load on the page: which layers, and the
// bytes of the stage's blobs fetched so far (the node's own progress sum).
type pageSource struct {
	inner node.ModelSource
}

func (s pageSource) Open(ctx context.Context, ref swarm.ManifestRef, part model.Part, progress func(done, total int64)) (*node.Weights, error) {
	emit(event{Kind: "assign", Attrs: map[string]string{"manifest": ref.SHA256}, Done: int64(part.First), Total: int64(part.Last)})
	start := time.Now()
	w, err := s.inner.Open(ctx, ref, part, func(done, total int64) {
		emit(event{Kind: "load", Done: done, Total: total})
		if progress != nil {
			progress(done, total)
		}
	})
	if err != nil {
		emit(event{Kind: "log", Level: "ERROR", Msg: "loading layers failed: " + err.Error()})
		return nil, err
	}
	emit(event{Kind: "fetched", Msg: time.Since(start).Round(time.Millisecond).String()})
	return w, nil
}
