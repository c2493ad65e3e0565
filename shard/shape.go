package shard

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/tabshard/tabshard/loader"
	"github.com/tabshard/tabshard/model"
	"github.com/tabshard/tabshard/quant"
)

// ShapeOf measures a model for the planner from its tensor table: the bytes
// of each layer as stored (mixed formats included), of the embeddings and of
// the head, and the KV bytes per token per layer for cache format kv.
func ShapeOf(tensors []loader.TensorInfo, c model.Config, kv quant.Type) (ModelShape, error) {
	rowBytes, err := kv.RowBytes(c.HeadDim)
	if err != nil {
		return ModelShape{}, fmt.Errorf("shard: KV format: %w", err)
	}
	m := ModelShape{Layers: make([]LayerShape, c.Layers)}
	for i := range m.Layers {
		m.Layers[i].KVBytesPerToken = uint64(2 * c.KVHeads * rowBytes)
	}
	for _, t := range tensors {
		size := uint64(t.Size)
		switch {
		case t.Name == "token_embd.weight":
			m.EmbedBytes += size
			if c.TiedOutput {
				m.HeadBytes += size
			}
		case t.Name == "output.weight" || t.Name == "output_norm.weight":
			m.HeadBytes += size
		case strings.HasPrefix(t.Name, "blk."):
			rest := strings.TrimPrefix(t.Name, "blk.")
			n, err := strconv.Atoi(rest[:max(strings.IndexByte(rest, '.'), 0)])
			if err != nil || n < 0 || n >= c.Layers {
				return ModelShape{}, fmt.Errorf("shard: tensor %s is not in a layer of [0,%d)", t.Name, c.Layers)
			}
			m.Layers[n].WeightBytes += size
		}
	}
	return m, nil
}
