package model

import (
	"math/rand/v2"
	"testing"
)

// BenchmarkSample times one draw over a LLaMA-sized vocabulary of logits
// spread like a model's (σ 3) for the sampler settings clients use most.
// The exponentials' own baselines (math.Exp) are internal/vmath's
// benchmarks.
func BenchmarkSample(b *testing.B) {
	logits := randomLogits(rand.New(rand.NewPCG(3, 4)), 32000)
	for _, c := range []struct {
		name string
		cfg  SamplerConfig
	}{
		{"greedy", greedyCfg},
		{"temperature 1 (API default)", SamplerConfig{Temperature: 1, TopP: 1, RepeatPenalty: 1}},
		{"top-p 0.95", SamplerConfig{Temperature: 0.8, TopP: 0.95, RepeatPenalty: 1}},
		{"top-k 40", SamplerConfig{Temperature: 0.8, TopK: 40, TopP: 1, RepeatPenalty: 1}},
		{"llama.cpp defaults", SamplerConfig{Temperature: 0.8, TopK: 40, TopP: 0.95, MinP: 0.05, RepeatPenalty: 1.1, RepeatLastN: 64}},
	} {
		b.Run(c.name, func(b *testing.B) {
			s := NewSampler(c.cfg)
			history := []int32{1, 2, 3}
			for b.Loop() {
				s.Sample(logits, history)
			}
		})
	}
}
