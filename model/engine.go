package model

import (
	"context"
	"fmt"
	"math"

	"github.com/tabshard/tabshard/kernels"
	"github.com/tabshard/tabshard/quant"
)

// EngineOptions size a single-process engine.
type EngineOptions struct {
	Context int        // positions per sequence (0: the model's trained context)
	Batch   int        // most positions run in one forward pass (0: 512)
	KV      quant.Type // KV-cache format (0 means F32)
}

// Engine runs a whole model in one process for one sequence at a time: the
// reference the pipeline is checked against, and what the CLI uses.
type Engine struct {
	cfg    Config
	opt    EngineOptions
	dev    kernels.Device
	layers *Layers
	kv     kernels.KVCache
	x      kernels.Buffer // hidden rows of a batch
	logits kernels.Buffer
	host   []float32
}

// NewEngine loads every layer of src onto dev.
func NewEngine(dev kernels.Device, src TensorSource, c Config, opt EngineOptions) (*Engine, error) {
	if opt.Context <= 0 {
		opt.Context = c.Context
	}
	if opt.Batch <= 0 {
		opt.Batch = 512
	}
	opt.Batch = min(opt.Batch, opt.Context)
	layers, err := LoadLayers(dev, src, c, Whole(c))
	if err != nil {
		return nil, err
	}
	e := &Engine{cfg: c, opt: opt, dev: dev, layers: layers}
	if err := e.alloc(); err != nil {
		e.Close()
		return nil, err
	}
	return e, nil
}

func (e *Engine) alloc() error {
	var err error
	if e.kv, err = e.dev.NewKVCache(e.layers.KVConfig(1, e.opt.Context, e.opt.KV)); err != nil {
		return fmt.Errorf("model: KV cache: %w", err)
	}
	if e.x, err = e.dev.NewBuffer(e.opt.Batch * e.cfg.Dim); err != nil {
		return fmt.Errorf("model: %w", err)
	}
	// Logits are computed logitRows at a time to bound memory on long windows.
	if e.logits, err = e.dev.NewBuffer(logitRows * e.cfg.Vocab); err != nil {
		return fmt.Errorf("model: %w", err)
	}
	e.host = make([]float32, logitRows*e.cfg.Vocab)
	return nil
}

const logitRows = 64

// Config returns the model's configuration.
func (e *Engine) Config() Config { return e.cfg }

// Context is the number of positions a sequence may hold.
func (e *Engine) Context() int { return e.opt.Context }

// Close releases the device memory the engine holds (not the device).
func (e *Engine) Close() {
	if e.layers != nil {
		e.layers.Release()
	}
	if e.kv != nil {
		e.kv.Release()
	}
	if e.x != nil {
		e.x.Release()
	}
	if e.logits != nil {
		e.logits.Release()
	}
}

// Eval runs ids at positions start, start+1, … of the sequence (the cache
// must hold positions before start) and calls emit with the logits of each
// position for which want(i) is true, in order. emit's slice is reused.
func (e *Engine) Eval(ids []int32, start int, want func(i int) bool, emit func(i int, logits []float32) error) error {
	if start < 0 || start+len(ids) > e.opt.Context {
		return fmt.Errorf("model: positions %d..%d exceed the context of %d", start, start+len(ids), e.opt.Context)
	}
	for lo := 0; lo < len(ids); lo += e.opt.Batch {
		hi := min(lo+e.opt.Batch, len(ids))
		seq := make([]kernels.Seq, hi-lo)
		for i := range seq {
			seq[i] = kernels.Seq{Slot: 0, Pos: int32(start + lo + i)}
		}
		if err := e.layers.Embed(e.x, ids[lo:hi]); err != nil {
			return err
		}
		if err := e.layers.Forward(e.x, seq, e.kv); err != nil {
			return err
		}
		var rows []int32
		for i := lo; i < hi; i++ {
			if want(i) {
				rows = append(rows, int32(i-lo))
			}
		}
		for len(rows) > 0 {
			n := min(len(rows), logitRows)
			if err := e.layers.Logits(e.logits, e.x, rows[:n]); err != nil {
				return err
			}
			if err := e.dev.Read(e.logits, e.host[:n*e.cfg.Vocab]); err != nil {
				return err
			}
			for j := 0; j < n; j++ {
				if err := emit(lo+int(rows[j]), e.host[j*e.cfg.Vocab:(j+1)*e.cfg.Vocab]); err != nil {
					return err
				}
			}
			rows = rows[n:]
		}
	}
	return nil
}

// Generate runs prompt then samples up to maxTokens tokens, calling emit with
// each; it stops early when emit returns false, at EOS (eos >= 0), at the end
// of the context, or when ctx is done.
func (e *Engine) Generate(ctx context.Context, prompt []int32, maxTokens int, eos int32, s *Sampler, emit func(id int32, logprob float32) bool) error {
	if len(prompt) == 0 {
		return fmt.Errorf("model: empty prompt")
	}
	history := append([]int32(nil), prompt...)
	last := make([]float32, e.cfg.Vocab)
	keepLast := func(_ int, l []float32) error { copy(last, l); return nil }
	isLast := func(n int) func(int) bool { return func(i int) bool { return i == n-1 } }
	if err := e.Eval(prompt, 0, isLast(len(prompt)), keepLast); err != nil {
		return err
	}
	for n := 0; n < maxTokens; n++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		id, lp := s.Sample(last, history)
		history = append(history, id)
		if !emit(id, lp) || id == eos || len(history) >= e.opt.Context || n == maxTokens-1 {
			return nil
		}
		if err := e.Eval([]int32{id}, len(history)-1, isLast(1), keepLast); err != nil {
			return err
		}
	}
	return nil
}

// NLL returns −log softmax(logits)[target], computed in float64.
func NLL(logits []float32, target int32) float64 {
	return LogSumExp(logits) - float64(logits[target])
}

// LogSumExp returns log Σ exp(logits), computed in float64 from the largest
// logit so that no term overflows.
func LogSumExp(logits []float32) float64 {
	maxL := math.Inf(-1)
	for _, v := range logits {
		maxL = math.Max(maxL, float64(v))
	}
	var sum float64
	for _, v := range logits {
		sum += math.Exp(float64(v) - maxL)
	}
	return maxL + math.Log(sum)
}
