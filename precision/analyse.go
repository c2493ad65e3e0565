package precision

import (
	"context"
	"fmt"

	"github.com/tabshard/tabshard/kernels"
	"github.com/tabshard/tabshard/model"
	"github.com/tabshard/tabshard/quant"
)

// Variant is one configuration the analyser measures: a weight plan and a
// KV-cache format.
type Variant struct {
	Name string
	Plan quant.Plan
	KV   quant.Type // F32 (0) is the engine's default
}

// Row is one line of the analyser's table.
type Row struct {
	Name          string  `json:"name"`
	KV            string  `json:"kv"`
	Bytes         uint64  `json:"bytes"`           // every tensor, scales included
	BitsPerWeight float64 `json:"bits_per_weight"` // over every tensor
	BlockBits     float64 `json:"block_bits"`      // over the transformer blocks only
	Cut           float64 `json:"cut"`             // memory saved vs the reference, fraction
	PPL           float64 `json:"ppl"`
	StdErr        float64 `json:"ppl_stderr"`
	DeltaPPL      float64 `json:"delta_ppl"` // fraction vs the reference
	Agreement     float64 `json:"greedy_agreement"`
	Predicted     float64 `json:"predicted_kl,omitempty"` // sum of measured per-tensor KL, when known
}

// AnalyseOptions fix the text and prompts every variant is scored on.
type AnalyseOptions struct {
	Tokens []int32 // perplexity text (BOS first for model.LlamaCpp)
	Window int
	Method model.PerplexityMethod
	BOS    int32
	// Prompts are run greedily on the reference for GreedyTokens tokens;
	// a variant's agreement is the fraction of those positions where its
	// argmax, fed the reference's tokens, is the reference's token.
	Prompts      [][]int32
	GreedyTokens int
	// Sensitivities, if given, fill Row.Predicted.
	Sensitivities []quant.Sensitivity
}

// Analyser scores variants of one model against its first (reference)
// variant.
type Analyser struct {
	dev  kernels.Device
	src  model.TensorSource
	cfg  model.Config
	opt  AnalyseOptions
	ref  *Row
	gold [][]int32 // reference greedy continuations, prompt included
}

// NewAnalyser prepares to score variants of src.
func NewAnalyser(dev kernels.Device, src model.TensorSource, cfg model.Config, opt AnalyseOptions) (*Analyser, error) {
	if opt.Window < 2 {
		return nil, fmt.Errorf("precision: window %d is below 2", opt.Window)
	}
	if opt.GreedyTokens < 0 {
		return nil, fmt.Errorf("precision: negative greedy token count")
	}
	for i, p := range opt.Prompts {
		if len(p) == 0 || len(p)+opt.GreedyTokens > opt.Window {
			return nil, fmt.Errorf("precision: prompt %d (%d tokens) plus %d greedy tokens must fit the window of %d", i, len(p), opt.GreedyTokens, opt.Window)
		}
	}
	return &Analyser{dev: dev, src: newCached(src), cfg: cfg, opt: opt}, nil
}

// Run scores one variant. The first variant run is the reference the
// others' cut, perplexity change and agreement are relative to.
func (a *Analyser) Run(v Variant) (Row, error) {
	src, err := Apply(a.src, v.Plan)
	if err != nil {
		return Row{}, err
	}
	e, err := model.NewEngine(a.dev, src, a.cfg, model.EngineOptions{Context: a.opt.Window, Batch: a.opt.Window, KV: v.KV})
	if err != nil {
		return Row{}, err
	}
	defer e.Close()
	ppl, err := e.Perplexity(a.opt.Tokens, a.opt.Window, a.opt.Method, a.opt.BOS, nil)
	if err != nil {
		return Row{}, err
	}
	kv := v.KV
	r := Row{
		Name: v.Name, KV: kv.String(), Bytes: v.Plan.Bytes(),
		BitsPerWeight: v.Plan.BitsPerWeight(), BlockBits: v.Plan.BlockBitsPerWeight(),
		PPL: ppl.PPL, StdErr: ppl.StdErr,
	}
	if a.opt.Sensitivities != nil {
		r.Predicted, _ = quant.PredictedLoss(v.Plan, a.opt.Sensitivities)
	}
	if a.ref == nil {
		if a.gold, err = a.greedy(e); err != nil {
			return Row{}, err
		}
		r.Agreement = 1
		a.ref = &r
		return r, nil
	}
	if r.Agreement, err = a.agreement(e); err != nil {
		return Row{}, err
	}
	r.Cut = 1 - float64(r.Bytes)/float64(a.ref.Bytes)
	r.DeltaPPL = r.PPL/a.ref.PPL - 1
	return r, nil
}

// greedy runs each prompt greedily on the reference engine.
func (a *Analyser) greedy(e *model.Engine) ([][]int32, error) {
	var out [][]int32
	for _, p := range a.opt.Prompts {
		seq := append([]int32(nil), p...)
		err := e.Generate(context.Background(), p, a.opt.GreedyTokens, -1, model.NewSampler(model.SamplerConfig{Temperature: 0, RepeatPenalty: 1}),
			func(id int32, _ float32) bool { seq = append(seq, id); return true })
		if err != nil {
			return nil, err
		}
		out = append(out, seq)
	}
	return out, nil
}

// agreement feeds each reference continuation through e and counts the
// positions whose argmax is the reference's next token.
func (a *Analyser) agreement(e *model.Engine) (float64, error) {
	var hit, n int
	for i, seq := range a.gold {
		first := len(a.opt.Prompts[i]) - 1
		err := e.Eval(seq[:len(seq)-1], 0, func(p int) bool { return p >= first }, func(p int, l []float32) error {
			if argmax(l) == seq[p+1] {
				hit++
			}
			n++
			return nil
		})
		if err != nil {
			return 0, err
		}
	}
	if n == 0 {
		return 1, nil
	}
	return float64(hit) / float64(n), nil
}

// argmax breaks ties to the lowest id, as the greedy sampler does.
func argmax(v []float32) int32 {
	best := 0
	for i, x := range v {
		if x > v[best] {
			best = i
		}
	}
	return int32(best)
}
