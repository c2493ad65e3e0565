package model

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// greedyCfg is greedy decoding with every filter off.
var greedyCfg = SamplerConfig{TopP: 1, RepeatPenalty: 1}

// logSoftmax is the reference the reported logprob must equal.
func logSoftmax(logits []float32, id int32) float64 {
	maxL := math.Inf(-1)
	for _, l := range logits {
		maxL = math.Max(maxL, float64(l))
	}
	var sum float64
	for _, l := range logits {
		sum += math.Exp(float64(l) - maxL)
	}
	return float64(logits[id]) - maxL - math.Log(sum)
}

// randomLogits are n logits with a realistic spread.
func randomLogits(r *rand.Rand, n int) []float32 {
	l := make([]float32, n)
	for i := range l {
		l[i] = float32(r.NormFloat64() * 3)
	}
	return l
}

// counts draws n tokens from logits and tallies them.
func counts(s *Sampler, logits []float32, history []int32, n int) map[int32]int {
	c := make(map[int32]int)
	for range n {
		id, _ := s.Sample(logits, history)
		c[id]++
	}
	return c
}

func TestSamplerGreedyPicksArgmax(t *testing.T) {
	s := NewSampler(greedyCfg)
	logits := []float32{0.5, 3, -1, 3, 2.9}
	id, lp := s.Sample(logits, nil)
	if id != 1 {
		t.Fatalf("greedy picked %d, want 1 (the first of the tied maxima)", id)
	}
	if want := logSoftmax(logits, 1); math.Abs(float64(lp)-want) > 1e-6 {
		t.Fatalf("logprob %v, want %v", lp, want)
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 50 {
		l := randomLogits(r, 1000)
		want := int32(0)
		for i, v := range l {
			if v > l[want] {
				want = int32(i)
			}
		}
		if got, _ := s.Sample(l, nil); got != want {
			t.Fatalf("greedy picked %d, want %d", got, want)
		}
	}
	// Temperature changes nothing in the reported logprob.
	hot := NewSampler(SamplerConfig{Temperature: 5, TopK: 1, TopP: 1, Seed: 3})
	if id2, lp2 := hot.Sample(logits, nil); id2 != 1 || lp2 != lp {
		t.Fatalf("top-k 1 at temperature 5: (%d, %v), want (1, %v)", id2, lp2, lp)
	}
}

func TestSamplerSeedDeterminism(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	logits := randomLogits(r, 5000)
	draw := func(seed uint64) []int32 {
		cfg := DefaultSamplerConfig()
		cfg.Seed = seed
		cfg.TopK = 0
		cfg.MinP = 0
		cfg.Temperature = 1.5
		s := NewSampler(cfg)
		out := make([]int32, 200)
		for i := range out {
			out[i], _ = s.Sample(logits, out[:i])
		}
		return out
	}
	a, b, c := draw(42), draw(42), draw(43)
	if !slices.Equal(a, b) {
		t.Fatal("same seed, different tokens")
	}
	if slices.Equal(a, c) {
		t.Fatal("different seeds, same 200 tokens")
	}
}

func TestSamplerTopK1IsGreedy(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	greedy := NewSampler(greedyCfg)
	k1 := NewSampler(SamplerConfig{Temperature: 1, TopK: 1, TopP: 1, RepeatPenalty: 1, Seed: 9})
	for range 100 {
		l := randomLogits(r, 3000)
		l[r.IntN(len(l))] = l[r.IntN(len(l))] // sometimes a tie
		g, glp := greedy.Sample(l, nil)
		k, klp := k1.Sample(l, nil)
		if g != k || glp != klp {
			t.Fatalf("top-k 1 gave (%d, %v), greedy (%d, %v)", k, klp, g, glp)
		}
	}
}

// fourWay has probabilities 0.5, 0.3, 0.15, 0.05 at temperature 1.
var fourWay = []float32{
	float32(math.Log(0.5)), float32(math.Log(0.3)), float32(math.Log(0.15)), float32(math.Log(0.05)),
}

func TestSamplerDrawsFollowSoftmax(t *testing.T) {
	s := NewSampler(SamplerConfig{Temperature: 1, TopP: 1, Seed: 11})
	const n = 20000
	c := counts(s, fourWay, nil, n)
	for id, p := range []float64{0.5, 0.3, 0.15, 0.05} {
		got := float64(c[int32(id)]) / n
		// 5 standard deviations of a binomial proportion.
		if tol := 5 * math.Sqrt(p*(1-p)/n); math.Abs(got-p) > tol {
			t.Errorf("token %d drawn %.4f of the time, want %.2f±%.4f", id, got, p, tol)
		}
	}
}

func TestSamplerTopPRestricts(t *testing.T) {
	// Cumulative mass 0.5, 0.8, 0.95, 1: top-p 0.7 keeps {0,1}, 0.9 keeps
	// {0,1,2}.
	for _, tc := range []struct {
		p    float32
		keep int
	}{{0.4, 1}, {0.7, 2}, {0.9, 3}, {1, 4}} {
		s := NewSampler(SamplerConfig{Temperature: 1, TopP: tc.p, Seed: 12})
		c := counts(s, fourWay, nil, 5000)
		for id := range int32(4) {
			if int(id) < tc.keep && c[id] == 0 {
				t.Errorf("top-p %v: token %d never drawn", tc.p, id)
			}
			if int(id) >= tc.keep && c[id] != 0 {
				t.Errorf("top-p %v: token %d drawn %d times", tc.p, id, c[id])
			}
		}
	}
}

func TestSamplerMinPRestricts(t *testing.T) {
	// Relative to the best (0.5): 0.6, 0.3, 0.1. Min-p 0.25 keeps {0,1,2},
	// 0.5 keeps {0,1}.
	for _, tc := range []struct {
		p    float32
		keep int
	}{{0.25, 3}, {0.5, 2}, {0.9, 1}} {
		s := NewSampler(SamplerConfig{Temperature: 1, TopP: 1, MinP: tc.p, Seed: 13})
		c := counts(s, fourWay, nil, 5000)
		for id := range int32(4) {
			if int(id) < tc.keep && c[id] == 0 {
				t.Errorf("min-p %v: token %d never drawn", tc.p, id)
			}
			if int(id) >= tc.keep && c[id] != 0 {
				t.Errorf("min-p %v: token %d drawn %d times", tc.p, id, c[id])
			}
		}
	}
	// Filters see untempered logits: a high temperature flattens the draw
	// but cannot bring a dropped token back.
	s := NewSampler(SamplerConfig{Temperature: 100, TopP: 1, MinP: 0.5, Seed: 14})
	c := counts(s, fourWay, nil, 5000)
	if c[2] != 0 || c[3] != 0 || c[0] < 2000 || c[1] < 2000 {
		t.Errorf("min-p 0.5 at temperature 100: %v", c)
	}
}

func TestSamplerRepeatPenalty(t *testing.T) {
	logits := []float32{2, 2, -1, -1}
	cfg := SamplerConfig{Temperature: 1, TopP: 1, RepeatPenalty: 2, RepeatLastN: 3, Seed: 15}
	s := NewSampler(cfg)
	// Token 0 repeated (once per distinct token, however often it occurs):
	// its logit 2 becomes 1.
	c := counts(s, logits, []int32{0, 0, 0}, 20000)
	p0 := float64(c[0]) / 20000
	want := math.Exp(1) / (math.Exp(1) + math.Exp(2) + 2*math.Exp(-1))
	if math.Abs(p0-want) > 0.02 {
		t.Errorf("penalised token drawn %.3f of the time, want %.3f", p0, want)
	}
	// Negative logits are multiplied, so they fall too.
	id, lp := NewSampler(SamplerConfig{TopP: 1, RepeatPenalty: 2, RepeatLastN: -1}).Sample(logits, []int32{0, 2})
	penalised := []float32{1, 2, -2, -1}
	if id != 1 || math.Abs(float64(lp)-logSoftmax(penalised, 1)) > 1e-6 {
		t.Errorf("greedy with penalty: (%d, %v), want (1, %v)", id, lp, logSoftmax(penalised, 1))
	}
	// Only the last RepeatLastN tokens count: token 0 here is too old.
	g := NewSampler(SamplerConfig{TopP: 1, RepeatPenalty: 2, RepeatLastN: 2})
	if id, _ := g.Sample(logits, []int32{0, 3, 3}); id != 0 {
		t.Errorf("token outside the window was penalised")
	}
	// Out-of-range history ids are ignored, not a crash.
	if id, _ := g.Sample(logits, []int32{-1, 99}); id != 0 {
		t.Errorf("bad history changed the choice to %d", id)
	}
	// The caller's logits are never modified.
	if !slices.Equal(logits, []float32{2, 2, -1, -1}) {
		t.Errorf("logits modified: %v", logits)
	}
}

func TestSamplerCandidates(t *testing.T) {
	r := rand.New(rand.NewPCG(16, 17))
	full := randomLogits(r, 2000)
	// Every token, shuffled: the same distribution as Sample.
	ids := make([]int32, len(full))
	for i := range ids {
		ids[i] = int32(i)
	}
	r.Shuffle(len(ids), func(i, j int) { ids[i], ids[j] = ids[j], ids[i] })
	vals := make([]float32, len(ids))
	for i, id := range ids {
		vals[i] = full[id]
	}
	g := NewSampler(greedyCfg)
	a, alp := g.Sample(full, nil)
	b, blp := g.SampleCandidates(ids, vals, nil)
	if a != b || math.Abs(float64(alp-blp)) > 1e-5 {
		t.Fatalf("greedy: Sample (%d, %v), SampleCandidates (%d, %v)", a, alp, b, blp)
	}
	// The best 60: top-k 40 with 4 penalised tokens draws exactly as Sample
	// does, since the draw goes in rank order, not input order.
	cfg := SamplerConfig{Temperature: 0.9, TopK: 40, TopP: 0.9, MinP: 0.02, RepeatPenalty: 1.3, RepeatLastN: 64, Seed: 18}
	top := slices.Clone(ids)
	slices.SortFunc(top, func(x, y int32) int {
		if better(candidate{x, full[x]}, candidate{y, full[y]}) {
			return -1
		}
		return 1
	})
	top = top[:60]
	topVals := make([]float32, len(top))
	for i, id := range top {
		topVals[i] = full[id]
	}
	history := top[5:9] // penalised tokens stay inside the list
	s1, s2 := NewSampler(cfg), NewSampler(cfg)
	for range 500 {
		x, _ := s1.Sample(full, history)
		y, _ := s2.SampleCandidates(top, topVals, history)
		if x != y {
			t.Fatalf("top-k 40: Sample drew %d, SampleCandidates %d", x, y)
		}
	}
	// The logprob is normalised over the list only: it overstates.
	_, lpFull := g.Sample(full, nil)
	_, lpTop := g.SampleCandidates(top, topVals, nil)
	if lpTop < lpFull {
		t.Errorf("candidate logprob %v below full logprob %v", lpTop, lpFull)
	}
	if id, lp := g.SampleCandidates(nil, nil, nil); id != -1 || !math.IsNaN(float64(lp)) {
		t.Errorf("empty candidates: (%d, %v)", id, lp)
	}
	if id, _ := g.Sample(nil, nil); id != -1 {
		t.Errorf("empty logits: %d", id)
	}
}

func TestSamplerNaNLogits(t *testing.T) {
	nan := float32(math.NaN())
	logits := []float32{nan, 1, nan, 0.5}
	inf := []float32{1, float32(math.Inf(1)), nan, 2}
	for _, cfg := range []SamplerConfig{greedyCfg, {Temperature: 1, TopP: 0.9, MinP: 0.1, Seed: 19}} {
		if id, lp := NewSampler(cfg).Sample(inf, nil); id != 1 || lp != 0 {
			t.Fatalf("+Inf logit: (%d, %v), want (1, 0)", id, lp)
		}
	}
	for _, cfg := range []SamplerConfig{greedyCfg, {Temperature: 1, TopP: 0.9, MinP: 0.1, Seed: 19}} {
		s := NewSampler(cfg)
		for range 200 {
			if id, _ := s.Sample(logits, nil); id != 1 && id != 3 {
				t.Fatalf("NaN logit chosen: %d", id)
			}
		}
	}
}

func TestSamplerConfigValidate(t *testing.T) {
	for _, ok := range []SamplerConfig{DefaultSamplerConfig(), greedyCfg, {Temperature: 0.7, TopK: 5, TopP: 0.5, MinP: 1, RepeatLastN: -1}} {
		if err := ok.Validate(); err != nil {
			t.Errorf("%+v refused: %v", ok, err)
		}
	}
	nan := float32(math.NaN())
	bad := map[string]func(c *SamplerConfig){
		"negative temperature": func(c *SamplerConfig) { c.Temperature = -0.1 },
		"NaN temperature":      func(c *SamplerConfig) { c.Temperature = nan },
		"Inf temperature":      func(c *SamplerConfig) { c.Temperature = float32(math.Inf(1)) },
		"negative top-k":       func(c *SamplerConfig) { c.TopK = -1 },
		"top-p 0":              func(c *SamplerConfig) { c.TopP = 0 },
		"top-p above 1":        func(c *SamplerConfig) { c.TopP = 1.01 },
		"NaN top-p":            func(c *SamplerConfig) { c.TopP = nan },
		"negative min-p":       func(c *SamplerConfig) { c.MinP = -0.1 },
		"min-p above 1":        func(c *SamplerConfig) { c.MinP = 2 },
		"NaN min-p":            func(c *SamplerConfig) { c.MinP = nan },
		"negative penalty":     func(c *SamplerConfig) { c.RepeatPenalty = -1 },
		"NaN penalty":          func(c *SamplerConfig) { c.RepeatPenalty = nan },
		"repeat-last-n -2":     func(c *SamplerConfig) { c.RepeatLastN = -2 },
	}
	for name, mutate := range bad {
		c := DefaultSamplerConfig()
		mutate(&c)
		if err := c.Validate(); err == nil {
			t.Errorf("%s accepted", name)
		}
		// NewSampler still works on it: out-of-range means "off".
		if id, _ := NewSampler(c).Sample(fourWay, []int32{0}); id < 0 || id > 3 {
			t.Errorf("%s: sampler drew %d", name, id)
		}
	}
}

func TestSamplerAllocatesNothing(t *testing.T) {
	r := rand.New(rand.NewPCG(20, 21))
	logits := randomLogits(r, 32000)
	history := make([]int32, 100)
	for i := range history {
		history[i] = int32(r.IntN(32000))
	}
	ids, vals := make([]int32, 64), make([]float32, 64)
	for i := range ids {
		ids[i], vals[i] = int32(i*7), logits[i*7]
	}
	for name, cfg := range map[string]SamplerConfig{
		"greedy":  {TopP: 1, RepeatPenalty: 1.1, RepeatLastN: 64},
		"default": DefaultSamplerConfig(),
		"top-p":   {Temperature: 1, TopP: 0.9, MinP: 0.05, RepeatPenalty: 1.1, RepeatLastN: 64},
	} {
		s := NewSampler(cfg)
		s.Sample(logits, history) // warm the scratch
		s.SampleCandidates(ids, vals, history)
		if n := testing.AllocsPerRun(20, func() { s.Sample(logits, history) }); n != 0 {
			t.Errorf("%s: Sample allocates %v times per call", name, n)
		}
		if n := testing.AllocsPerRun(20, func() { s.SampleCandidates(ids, vals, history) }); n != 0 {
			t.Errorf("%s: SampleCandidates allocates %v times per call", name, n)
		}
	}
}
