package model

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/tabshard/tabshard/internal/vmath"
)

// topPReference is top-p by the book: rank every candidate with better,
// keep the shortest prefix whose probability reaches p. The normaliser is
// summed in the candidates' given order, as topP sums it.
func topPReference(c []candidate, p float64) []candidate {
	logits := make([]float32, len(c))
	for i, cd := range c {
		logits[i] = cd.logit
	}
	top := float64(vmath.Max(logits))
	c = slices.Clone(c)
	slices.SortFunc(c, func(a, b candidate) int {
		switch {
		case better(a, b):
			return -1
		case better(b, a):
			return 1
		}
		return 0
	})
	if math.IsInf(top, -1) {
		return c
	}
	total := vmath.SumExp(logits, float32(top), normFloor(top))
	var cum float64
	for i, cd := range c {
		if cum += math.Exp(float64(cd.logit)-top) / total; cum >= p {
			return c[:i+1]
		}
	}
	return c
}

// topP keeps exactly the reference's tokens, in its order, whichever path
// it takes: the best 256, the candidates above a mass floor, or the full
// sort; with flat and peaked vocabularies, ties and both zeros.
func TestTopPMatchesFullSort(t *testing.T) {
	r := rand.New(rand.NewPCG(30, 31))
	negZero := float32(math.Copysign(0, -1))
	for trial := range 60 {
		n := []int{100, 2000, 32000}[trial%3]
		scale := []float64{0.3, 1, 3, 8}[trial%4]
		logits := make([]float32, n)
		for i := range logits {
			logits[i] = float32(r.NormFloat64() * scale)
			if trial%5 == 0 {
				logits[i] = float32(math.Round(float64(logits[i])*4) / 4) // ties
			}
		}
		logits[r.IntN(n)], logits[r.IntN(n)] = 0, negZero
		for _, p := range []float64{0.5, 0.9, 0.95, 0.99} {
			s := NewSampler(SamplerConfig{Temperature: 1, TopP: float32(p)})
			s.cands = s.cands[:0]
			for i, l := range logits {
				s.cands = append(s.cands, candidate{id: int32(i), logit: l})
			}
			want := topPReference(s.cands, p)
			logits := s.gather(s.cands)
			top, total := normaliser(logits)
			got := s.topP(s.cands, logits, p, top, total)
			if len(got) != len(want) {
				t.Fatalf("trial %d (%d logits, σ %v), p %v: kept %d, want %d", trial, n, scale, p, len(got), len(want))
			}
			for i := range got {
				if got[i].id != want[i].id || got[i].logit != want[i].logit {
					t.Fatalf("trial %d, p %v: [%d] %+v, want %+v", trial, p, i, got[i], want[i])
				}
			}
		}
	}
}
