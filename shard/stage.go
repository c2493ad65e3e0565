package shard

import (
	"fmt"

	"github.com/tabshard/tabshard/kernels"
	"github.com/tabshard/tabshard/model"
	"github.com/tabshard/tabshard/quant"
)

// StageConfig sizes the runtime state of a stage.
type StageConfig struct {
	Slots    int        // sessions held at once
	Context  int        // positions per session
	MaxBatch int        // most rows in one Forward
	KV       quant.Type // KV-cache format
}

// Row is one position of one session travelling through the pipeline.
type Row struct {
	Slot   int32 // the session's KV slot on this stage
	Pos    int32
	Token  int32 // input token (first stage only)
	Logits bool  // the last stage computes logits for this row
}

// Stage is one node's share of a model: layers [First, Last) on a device
// with a KV cache for Slots sessions. It computes; sessions, batching and
// transport belong to package pipeline.
type Stage struct {
	cfg    model.Config
	sc     StageConfig
	dev    kernels.Device
	layers *model.Layers
	kv     kernels.KVCache
	x      kernels.Buffer // MaxBatch hidden rows
	logits kernels.Buffer // MaxBatch logit rows (last stage only)
	seq    []kernels.Seq
	// host holds the last logits Forward returned. Reused: a fresh 128 KiB
	// per token (32000 logits) came from fresh pages each time, and
	// faulting them in cost the last stage about a tenth of its forward
	// pass (austen-22m, BenchmarkPipeline's node profiles).
	host []float32
}

// NewStage loads part of the model from src onto dev.
func NewStage(dev kernels.Device, src model.TensorSource, cfg model.Config, part model.Part, sc StageConfig) (*Stage, error) {
	if sc.Slots <= 0 || sc.Context <= 0 || sc.MaxBatch <= 0 {
		return nil, fmt.Errorf("shard: stage config %+v needs positive slots, context and batch", sc)
	}
	if sc.KV == 0 {
		sc.KV = quant.F32
	}
	layers, err := model.LoadLayers(dev, src, cfg, part)
	if err != nil {
		return nil, err
	}
	s := &Stage{cfg: cfg, sc: sc, dev: dev, layers: layers}
	if err := s.alloc(part); err != nil {
		s.Release()
		return nil, err
	}
	return s, nil
}

func (s *Stage) alloc(part model.Part) error {
	var err error
	if s.kv, err = s.dev.NewKVCache(s.layers.KVConfig(s.sc.Slots, s.sc.Context, s.sc.KV)); err != nil {
		return fmt.Errorf("shard: KV cache: %w", err)
	}
	if s.x, err = s.dev.NewBuffer(s.sc.MaxBatch * s.cfg.Dim); err != nil {
		return fmt.Errorf("shard: %w", err)
	}
	if part.HasHead(s.cfg) {
		if s.logits, err = s.dev.NewBuffer(s.sc.MaxBatch * s.cfg.Vocab); err != nil {
			return fmt.Errorf("shard: %w", err)
		}
	}
	return nil
}

// Part is the layer range the stage holds.
func (s *Stage) Part() model.Part { return s.layers.Part() }

// Config is the stage's runtime sizing.
func (s *Stage) Config() StageConfig { return s.sc }

// Release frees the stage's device memory.
func (s *Stage) Release() {
	s.layers.Release()
	for _, b := range []kernels.Buffer{s.x, s.logits} {
		if b != nil {
			b.Release()
		}
	}
	if s.kv != nil {
		s.kv.Release()
	}
}

// Forward runs rows through the stage. The first stage reads each row's
// Token; later stages read hidden (len(rows)×Dim values). The result is the
// hidden rows for the next stage, or, on the last stage, the logits of the
// rows marked Logits (in order, Vocab values each), valid until the next
// call.
func (s *Stage) Forward(rows []Row, hidden []float32) ([]float32, error) {
	n := len(rows)
	if n == 0 || n > s.sc.MaxBatch {
		return nil, fmt.Errorf("shard: batch of %d rows (limit %d)", n, s.sc.MaxBatch)
	}
	s.seq = s.seq[:0]
	for _, r := range rows {
		if r.Slot < 0 || int(r.Slot) >= s.sc.Slots || r.Pos < 0 || int(r.Pos) >= s.sc.Context {
			return nil, fmt.Errorf("shard: row at slot %d position %d is outside %d slots × %d positions", r.Slot, r.Pos, s.sc.Slots, s.sc.Context)
		}
		s.seq = append(s.seq, kernels.Seq{Slot: r.Slot, Pos: r.Pos})
	}
	part := s.layers.Part()
	if part.HasEmbed() {
		ids := make([]int32, n)
		for i, r := range rows {
			ids[i] = r.Token
		}
		if err := s.layers.Embed(s.x, ids); err != nil {
			return nil, err
		}
	} else {
		if len(hidden) != n*s.cfg.Dim {
			return nil, fmt.Errorf("shard: %d hidden values for %d rows of %d", len(hidden), n, s.cfg.Dim)
		}
		if err := s.dev.Write(s.x, hidden); err != nil {
			return nil, err
		}
	}
	if err := s.layers.Forward(s.x, s.seq, s.kv); err != nil {
		return nil, err
	}
	if !part.HasHead(s.cfg) {
		out := make([]float32, n*s.cfg.Dim)
		return out, s.dev.Read(s.x, out)
	}
	var want []int32
	for i, r := range rows {
		if r.Logits {
			want = append(want, int32(i))
		}
	}
	size := len(want) * s.cfg.Vocab
	if cap(s.host) < size {
		s.host = make([]float32, size)
	}
	out := s.host[:size]
	if len(want) == 0 {
		return out, nil
	}
	if err := s.layers.Logits(s.logits, s.x, want); err != nil {
		return nil, err
	}
	return out, s.dev.Read(s.logits, out)
}
