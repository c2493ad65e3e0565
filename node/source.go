package node

import (
	"context"

	"github.com/tabshard/tabshard/model"
	"github.com/tabshard/tabshard/swarm"
)

// Weights is a model opened for one stage: the tensors it needs, read from
// verified blobs or a local file.
type Weights struct {
	Source model.TensorSource
	Config model.Config
	EOS    int32
	Close  func() error
}

// ModelSource opens the model an assignment names, for the layers of part
// (a source may fetch only those). Implementations verify what they load
// against the manifest's digests.
type ModelSource interface {
	Open(ctx context.Context, ref swarm.ManifestRef, part model.Part, progress func(done, total int64)) (*Weights, error)
}
