package shard

import (
	"fmt"

	"github.com/tabshard/tabshard/model"
	"github.com/tabshard/tabshard/quant"
)

// ContextQuery asks how much context fits a memory budget.
type ContextQuery struct {
	Model        model.Config
	MemoryBytes  uint64     // the whole budget
	WeightBytes  uint64     // the model's tensors as stored (quant.Plan.Bytes, or the file's tensor bytes)
	ScratchBytes uint64     // working memory besides weights and KV (activations, logits)
	KV           quant.Type // cache format: F32, F16, Q8_0 or Q4_0
	Sessions     int        // sequences held at once, each with the same context
	Layers       int        // layers held (0: every layer of Model)
}

// ContextEstimate is the answer.
type ContextEstimate struct {
	// Tokens is the context every session gets: the most positions per
	// session whose cache, with the weights and scratch, fits the budget.
	Tokens int
	// Trained is Tokens capped at the model's trained context.
	Trained int
	// BytesPerToken is K+V for one position of one session over the layers
	// held, in the cache format (block scales included).
	BytesPerToken uint64
	// KVBytes is the cache for Tokens positions of every session: what the
	// device allocates (kernels.KVCache.Bytes).
	KVBytes uint64
}

// KVBytesPerToken is the K and V cache bytes of one position over layers
// layers of c, stored per head in blocks of the format (as both devices do).
func KVBytesPerToken(c model.Config, layers int, kv quant.Type) (uint64, error) {
	switch kv {
	case quant.F32, quant.F16, quant.Q8_0, quant.Q4_0:
	default:
		return 0, fmt.Errorf("shard: KV cache format %s is not supported (F32, F16, Q8_0, Q4_0)", kv)
	}
	if c.KVHeads <= 0 || c.HeadDim <= 0 || layers <= 0 {
		return 0, fmt.Errorf("shard: model shape (%d layers, %d KV heads of %d) has a non-positive size", layers, c.KVHeads, c.HeadDim)
	}
	row, err := kv.RowBytes(c.HeadDim)
	if err != nil {
		return 0, fmt.Errorf("shard: KV cache: %w", err)
	}
	return 2 * uint64(layers) * uint64(c.KVHeads) * uint64(row), nil
}

// EstimateContext answers q: the budget left after weights and scratch,
// split evenly over the sessions, in whole positions.
func EstimateContext(q ContextQuery) (ContextEstimate, error) {
	if q.Sessions <= 0 {
		return ContextEstimate{}, fmt.Errorf("shard: %d sessions: need at least one", q.Sessions)
	}
	layers := q.Layers
	if layers == 0 {
		layers = q.Model.Layers
	}
	if layers < 0 || layers > q.Model.Layers {
		return ContextEstimate{}, fmt.Errorf("shard: %d layers held, the model has %d", layers, q.Model.Layers)
	}
	per, err := KVBytesPerToken(q.Model, layers, q.KV)
	if err != nil {
		return ContextEstimate{}, err
	}
	fixed := q.WeightBytes + q.ScratchBytes
	if fixed < q.WeightBytes || fixed >= q.MemoryBytes {
		return ContextEstimate{}, fmt.Errorf("shard: %d bytes of weights and %d of scratch leave nothing of a %d-byte budget for the KV cache",
			q.WeightBytes, q.ScratchBytes, q.MemoryBytes)
	}
	tokens := (q.MemoryBytes - fixed) / (per * uint64(q.Sessions))
	if tokens == 0 {
		return ContextEstimate{}, fmt.Errorf("shard: %d bytes left for the KV cache hold no position for %d sessions (%d bytes each)",
			q.MemoryBytes-fixed, q.Sessions, per)
	}
	tokens = min(tokens, 1<<31-1)
	e := ContextEstimate{Tokens: int(tokens), BytesPerToken: per, KVBytes: tokens * per * uint64(q.Sessions)}
	e.Trained = e.Tokens
	if q.Model.Context > 0 {
		e.Trained = min(e.Tokens, q.Model.Context)
	}
	return e, nil
}
