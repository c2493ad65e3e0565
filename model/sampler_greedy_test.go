package model

import (
	"math"
	"math/rand/v2"
	"testing"
)

// The greedy shortcut must match pick over the candidate list bit for bit:
// token and logprob, with NaN, ±Inf, ties, signed zeros and logits below
// the normaliser's floor.
func TestGreedyMatchesPick(t *testing.T) {
	inf, nan := float32(math.Inf(1)), float32(math.NaN())
	negZero := float32(math.Copysign(0, -1))
	r := rand.New(rand.NewPCG(3, 4))
	normal := func(n int, scale float64) []float32 {
		l := make([]float32, n)
		for i := range l {
			l[i] = float32(r.NormFloat64() * scale)
		}
		return l
	}
	cases := map[string][]float32{
		"one":            {0.5},
		"ties":           {1, 3, 3, 2, 3},
		"nan":            {nan, -1, nan, 2, nan},
		"all nan":        {nan, nan, nan},
		"all -inf":       {-inf, -inf},
		"nan then -inf":  {nan, -inf, nan},
		"+inf twice":     {1, inf, 5, inf},
		"max float":      {math.MaxFloat32, inf, 0},
		"signed zeros":   {negZero, 0, -3, negZero},
		"zeros +first":   {0, negZero, -50},
		"below floor":    {100, 59, 61, 60, -1e30},
		"vocab":          normal(32000, 3),
		"vocab wide":     normal(32000, 30),
		"vocab with nan": append(normal(1000, 2), nan, -inf, inf),
	}
	for name, logits := range cases {
		s := NewSampler(greedyCfg)
		s.cands = s.cands[:0]
		for i, l := range logits {
			s.cands = append(s.cands, candidate{id: int32(i), logit: l})
		}
		wantID, wantLP := s.pick()
		gotID, gotLP := greedy(logits)
		same := math.Float32bits(gotLP) == math.Float32bits(wantLP) || (gotLP != gotLP && wantLP != wantLP)
		if gotID != wantID || !same {
			t.Errorf("%s: greedy gives %d (logprob %v), pick %d (%v)", name, gotID, gotLP, wantID, wantLP)
		}
		if id, lp := NewSampler(greedyCfg).Sample(logits, nil); id != gotID || math.Float32bits(lp) != math.Float32bits(gotLP) {
			t.Errorf("%s: Sample gives %d (%v), greedy %d (%v)", name, id, lp, gotID, gotLP)
		}
	}
}
