package model

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"

	"github.com/tabshard/tabshard/internal/vmath"
)

// SamplerConfig chooses how the next token is drawn from the logits.
// Filters run in llama.cpp's common sampler order: repetition penalty, top-k,
// top-p, min-p, temperature, then a seeded draw.
type SamplerConfig struct {
	// Temperature divides the logits before the draw; <= 0 is greedy
	// (argmax, ties to the lowest id).
	Temperature float32
	// TopK keeps the K most likely tokens; 0 keeps all.
	TopK int
	// TopP keeps the smallest set of most likely tokens whose probability
	// reaches TopP; it must be in (0,1], 1 disables it.
	TopP float32
	// MinP drops tokens less likely than MinP times the most likely one;
	// [0,1], 0 disables it.
	MinP float32
	// RepeatPenalty divides positive logits (and multiplies negative ones)
	// of tokens seen in the last RepeatLastN tokens of history, once per
	// distinct token; 1 or 0 disables it.
	RepeatPenalty float32
	// RepeatLastN is how much history the penalty looks at: 0 none, -1 all.
	RepeatLastN int
	// Seed makes the draws reproducible.
	Seed uint64
}

// DefaultSamplerConfig is llama.cpp's default sampling (temperature 0.8,
// top-k 40, top-p 0.95, min-p 0.05, no repetition penalty).
func DefaultSamplerConfig() SamplerConfig {
	return SamplerConfig{Temperature: 0.8, TopK: 40, TopP: 0.95, MinP: 0.05, RepeatPenalty: 1, RepeatLastN: 64}
}

// Validate reports the first field that is out of range.
func (c SamplerConfig) Validate() error {
	finite := func(x float32) bool { return !math.IsNaN(float64(x)) && !math.IsInf(float64(x), 0) }
	switch {
	case !finite(c.Temperature) || c.Temperature < 0:
		return fmt.Errorf("model: sampler temperature %v must be finite and >= 0 (0 is greedy)", c.Temperature)
	case c.TopK < 0:
		return fmt.Errorf("model: sampler top-k %d must be >= 0 (0 disables it)", c.TopK)
	case !finite(c.TopP) || c.TopP <= 0 || c.TopP > 1:
		return fmt.Errorf("model: sampler top-p %v must be in (0,1] (1 disables it)", c.TopP)
	case !finite(c.MinP) || c.MinP < 0 || c.MinP > 1:
		return fmt.Errorf("model: sampler min-p %v must be in [0,1] (0 disables it)", c.MinP)
	case !finite(c.RepeatPenalty) || c.RepeatPenalty < 0:
		return fmt.Errorf("model: sampler repeat penalty %v must be finite and >= 0 (1 or 0 disables it)", c.RepeatPenalty)
	case c.RepeatLastN < -1:
		return fmt.Errorf("model: sampler repeat-last-n %d must be >= -1 (-1 is all history)", c.RepeatLastN)
	}
	return nil
}

// candidate is a token still in the running and its (penalised) logit.
type candidate struct {
	id    int32
	logit float32
}

// Sampler draws tokens under one SamplerConfig. It keeps its scratch between
// calls, so sampling allocates nothing once warm. Not safe for concurrent use:
// give each session its own.
type Sampler struct {
	cfg     SamplerConfig
	rng     *rand.Rand
	cands   []candidate
	window  []int32   // sorted copy of the penalised history
	weights []float32 // unnormalised probabilities of the draw
	logits  []float32 // the candidates' logits, for the normaliser
	keys    []uint64  // rank keys, for sorting
}

// normFloor is the smallest logit the logprob's normaliser counts: terms
// below e^-40 of the largest change a vocabulary's sum by less than
// 32000·e^-40 ≈ 1e-13 relative, so their exp (most of a vocabulary) is
// skipped. greedy and pick share it and vmath.SumExp, so they report the
// same logprob bit for bit.
func normFloor(maxL float64) float32 { return float32(maxL - 40) }

// NewSampler makes a sampler. c should have passed Validate; fields out of
// range are treated as their "disabled" value (a NaN or negative temperature
// as greedy) rather than failing later.
func NewSampler(c SamplerConfig) *Sampler {
	bad := func(x float32) bool { return math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) }
	if bad(c.Temperature) || c.Temperature < 0 {
		c.Temperature = 0
	}
	if c.TopK < 0 {
		c.TopK = 0
	}
	if bad(c.TopP) || c.TopP <= 0 || c.TopP > 1 {
		c.TopP = 1
	}
	if bad(c.MinP) || c.MinP < 0 || c.MinP > 1 {
		c.MinP = 0
	}
	if bad(c.RepeatPenalty) || c.RepeatPenalty <= 0 {
		c.RepeatPenalty = 1
	}
	if c.RepeatLastN < -1 {
		c.RepeatLastN = 0
	}
	// PCG takes two words of state; the second is fixed so one Seed gives
	// one stream.
	return &Sampler{cfg: c, rng: rand.New(rand.NewPCG(c.Seed, 0x9e3779b97f4a7c15))}
}

// Config is the (sanitised) configuration the sampler runs.
func (s *Sampler) Config() SamplerConfig { return s.cfg }

// Sample picks the next token from the full vocabulary's logits. history is
// the sequence so far (prompt and generated tokens), read for the repetition
// penalty. logprob is the log-softmax of the chosen token over the whole
// vocabulary under the penalised logits before temperature and filtering
// (what an evaluator compares across samplers). NaN logits count as -Inf,
// +Inf as the largest float32.
// With no logits it returns (-1, NaN).
func (s *Sampler) Sample(logits []float32, history []int32) (id int32, logprob float32) {
	if len(logits) == 0 {
		return -1, float32(math.NaN())
	}
	if s.cfg.Temperature <= 0 && !s.penalising() {
		return greedy(logits)
	}
	if cap(s.cands) < len(logits) {
		s.cands = make([]candidate, len(logits))
	}
	s.cands = s.cands[:len(logits)]
	for i, l := range logits {
		s.cands[i] = candidate{id: int32(i), logit: l}
	}
	if s.penalising() {
		// Here cands[i].id == i, so the penalty indexes directly.
		s.loadWindow(history)
		for k, id := range s.window {
			if k > 0 && s.window[k-1] == id {
				continue
			}
			if id >= 0 && int(id) < len(s.cands) {
				s.cands[id].logit = s.penalise(s.cands[id].logit)
			}
		}
	}
	return s.pick()
}

// greedy is pick for greedy decoding without penalties, straight from the
// logits: the same token (the first of the largest, NaN as -Inf, +Inf as
// the largest float32) and bit for bit the same logprob (the same sum in
// the same order), without building the candidate list and passing over it
// twice more.
func greedy(logits []float32) (int32, float32) {
	top := min(vmath.Max(logits), math.MaxFloat32)
	maxL := float64(top)
	if math.IsInf(maxL, -1) {
		return 0, float32(math.NaN()) // nothing ranks: the first, as pick
	}
	best := 0
	for i, l := range logits {
		if min(l, math.MaxFloat32) == top { // NaN never is
			best = i
			break
		}
	}
	lse := maxL + math.Log(vmath.SumExp(logits, top, normFloor(maxL)))
	return int32(best), float32(maxL - lse)
}

// SampleCandidates samples from the top candidates a device returned instead
// of the full logits (ids[i] has logit logits[i]). The token drawn is exactly
// what Sample would draw with the same seed when the list holds the best
// TopK tokens plus one more per distinct penalised token (penalties only
// lower logits, so the penalised top-k stays inside it); greedy needs only
// the best token plus the penalised ones. Otherwise it approximates: tokens
// outside the list can never be drawn and top-p sees only the listed
// probability mass. The logprob is always normalised over the list alone, so
// it overstates the true log-probability by -log(mass of the list). Entries
// with a negative id are ignored; with none left it returns (-1, NaN).
func (s *Sampler) SampleCandidates(ids []int32, logits []float32, history []int32) (int32, float32) {
	n := min(len(ids), len(logits))
	s.cands = s.cands[:0]
	for i := range n {
		if ids[i] >= 0 {
			s.cands = append(s.cands, candidate{id: ids[i], logit: logits[i]})
		}
	}
	if len(s.cands) == 0 {
		return -1, float32(math.NaN())
	}
	if s.penalising() {
		s.loadWindow(history)
		for i := range s.cands {
			if _, seen := slices.BinarySearch(s.window, s.cands[i].id); seen {
				s.cands[i].logit = s.penalise(s.cands[i].logit)
			}
		}
	}
	return s.pick()
}

func (s *Sampler) penalising() bool {
	return s.cfg.RepeatPenalty != 1 && s.cfg.RepeatLastN != 0
}

// penalise is llama.cpp's repetition penalty: it always moves the logit
// towards "less likely", whatever its sign.
func (s *Sampler) penalise(l float32) float32 {
	if l <= 0 {
		return l * s.cfg.RepeatPenalty
	}
	return l / s.cfg.RepeatPenalty
}

// loadWindow fills s.window with the last RepeatLastN history ids, sorted.
func (s *Sampler) loadWindow(history []int32) {
	if n := s.cfg.RepeatLastN; n >= 0 && len(history) > n {
		history = history[len(history)-n:]
	}
	s.window = append(s.window[:0], history...)
	slices.Sort(s.window)
}

// pick runs the filters and the draw over s.cands (penalised logits).
func (s *Sampler) pick() (int32, float32) {
	c := s.cands
	// Normaliser for the reported logprob, over every candidate.
	for i := range c {
		// NaN cannot be ranked: never pick it. +Inf would make every
		// softmax NaN: cap it, so it takes all the mass.
		if l := c[i].logit; l != l {
			c[i].logit = float32(math.Inf(-1))
		} else if l > math.MaxFloat32 {
			c[i].logit = math.MaxFloat32
		}
	}
	logits := s.gather(c)
	maxL, sum := normaliser(logits)
	lse := maxL + math.Log(sum) // -Inf + log 0 stays -Inf
	logprob := func(cd candidate) float32 { return float32(float64(cd.logit) - lse) }

	if s.cfg.Temperature <= 0 {
		best := c[0]
		for _, cd := range c[1:] {
			if better(cd, best) {
				best = cd
			}
		}
		return best.id, logprob(best)
	}

	// Top-k, then rank what is left: top-p needs the order, and drawing in
	// rank order makes a seed give the same token whatever order the
	// candidates came in (full logits or a device's list). Without either
	// filter the draw goes in input order and nothing is sorted.
	// Every filter keeps the best candidate, so maxL stays the largest
	// logit left; the normaliser over what is left changes only with top-k.
	if k := s.cfg.TopK; k > 0 && k < len(c) {
		c = selectTop(c, k)
		logits = s.gather(c)
		_, sum = normaliser(logits)
	}
	if s.cfg.TopP < 1 {
		c = s.topP(c, logits, float64(s.cfg.TopP), maxL, sum)
	} else if s.cfg.TopK > 0 {
		s.sortCandidates(c)
	}
	if s.cfg.MinP > 0 {
		c = minP(c, float64(s.cfg.MinP))
	}

	// Temperature, then the draw from softmax(logit / T).
	total := s.drawWeights(c, float32(maxL))
	if total == 0 {
		// Every logit is -Inf: nothing is likelier than anything else.
		best := c[0]
		for _, cd := range c[1:] {
			if better(cd, best) {
				best = cd
			}
		}
		return best.id, logprob(best)
	}
	u := s.rng.Float64() * total
	chosen := c[len(c)-1]
	for i, w := range s.weights {
		u -= float64(w)
		if u < 0 {
			chosen = c[i]
			break
		}
	}
	return chosen.id, logprob(chosen)
}

// normaliser returns the largest of logits (-Inf if none is a number) and
// Σ exp(logit − largest) over those within normFloor of it (0 when the
// largest is -Inf): the softmax's denominator, as greedy computes it.
func normaliser(logits []float32) (top, sum float64) {
	top = float64(vmath.Max(logits))
	if math.IsInf(top, -1) {
		return top, 0
	}
	return top, vmath.SumExp(logits, float32(top), normFloor(top))
}

// gather returns the logits of c, in s.logits.
func (s *Sampler) gather(c []candidate) []float32 {
	s.logits = slices.Grow(s.logits[:0], len(c))[:len(c)]
	for i := range c {
		s.logits[i] = c[i].logit
	}
	return s.logits
}

// drawWeights sets s.weights to the unnormalised softmax(logit / T) of c,
// whose largest logit is maxL, and returns their sum, 0 when every logit is
// -Inf. The exponentials are vmath.ExpInto's (float32, a fourteenth of
// math.Exp's time over a vocabulary); logits so large that logit / T
// overflows a float32 take float64 instead.
func (s *Sampler) drawWeights(c []candidate, maxL float32) float64 {
	logits := s.gather(c)
	s.weights = slices.Grow(s.weights[:0], len(c))[:len(c)]
	if math.IsInf(float64(maxL), -1) {
		return 0
	}
	invT := 1 / float64(s.cfg.Temperature)
	var total float64
	if top := float64(maxL) * invT; top > math.MaxFloat32/2 {
		for i, l := range logits {
			s.weights[i] = float32(math.Exp(float64(l)*invT - top))
			total += float64(s.weights[i])
		}
		return total
	}
	// Rounding is monotonic, so the largest of the float32 products
	// ExpInto forms is the largest logit's: none exceeds top.
	scale := float32(invT)
	vmath.ExpInto(s.weights, logits, scale, maxL*scale)
	for _, w := range s.weights {
		total += float64(w)
	}
	return total
}

// better orders candidates: higher logit first, then lower id, so every
// choice is deterministic.
func better(a, b candidate) bool {
	return a.logit > b.logit || (a.logit == b.logit && a.id < b.id)
}

// selectTop moves the k best candidates (by better) to the front of c, in
// O(n log k) with a min-heap of the best seen so far, and returns them.
func selectTop(c []candidate, k int) []candidate {
	h := c[:k]
	// The heap's root is its worst member.
	worse := func(i, j int) bool { return better(h[j], h[i]) }
	down := func(i int) {
		for {
			w, l, r := i, 2*i+1, 2*i+2
			if l < k && worse(l, w) {
				w = l
			}
			if r < k && worse(r, w) {
				w = r
			}
			if w == i {
				return
			}
			h[i], h[w] = h[w], h[i]
			i = w
		}
	}
	for i := k/2 - 1; i >= 0; i-- {
		down(i)
	}
	for i := k; i < len(c); i++ {
		if better(c[i], h[0]) {
			h[0], c[i] = c[i], h[0]
			down(0)
		}
	}
	return h
}

// topP ranks c and keeps its shortest prefix whose softmax probability
// reaches p, at least one token (llama.cpp's top-p, min_keep 1); logits are
// c's, top and total their normaliser. Like
// llama.cpp it first tries the best 256 of a large vocabulary, which usually
// hold the mass. When they do not (a flat distribution: a small model's, or
// p near 1), it finds a logit above which the mass lies (massFloor) and
// sorts only those candidates, a prefix of the full ranking, so the cut is
// the one a full sort gives; only if that fails does it sort everything.
func (s *Sampler) topP(c []candidate, logits []float32, p, top, total float64) []candidate {
	if math.IsInf(top, -1) {
		s.sortCandidates(c)
		return c
	}
	cutoff := func(ranked []candidate) (int, bool) {
		var cum float64
		for i, cd := range ranked {
			cum += math.Exp(float64(cd.logit)-top) / total
			if cum >= p {
				return i + 1, true
			}
		}
		return len(ranked), false
	}
	const head = 256
	if len(c) > 4*head {
		best := selectTop(c, head)
		s.sortCandidates(best)
		if n, ok := cutoff(best); ok {
			return c[:n]
		}
		if floor, ok := s.massFloor(logits, float32(top), p*total); ok {
			// Everything at or above floor goes to the front.
			k := 0
			for i := range c {
				if c[i].logit >= floor {
					c[i], c[k] = c[k], c[i]
					k++
				}
			}
			s.sortCandidates(c[:k])
			if n, ok := cutoff(c[:k]); ok {
				return c[:n]
			}
		}
	}
	s.sortCandidates(c)
	n, _ := cutoff(c)
	return c[:n]
}

// massBuckets split the 40 nats below the top logit for massFloor.
const massBuckets = 256

// massFloor returns a logit such that the candidates at or above it (their
// logits, top the largest) hold at least mass of Σ exp(logit − top), by
// a histogram of the terms over 40 nats below top: the floor is the lower
// edge of the bucket where the sum from the top reaches mass, less a
// bucket for rounding. It fails when the buckets never reach it.
func (s *Sampler) massFloor(logits []float32, top float32, mass float64) (float32, bool) {
	s.weights = slices.Grow(s.weights[:0], len(logits))[:len(logits)]
	vmath.ExpInto(s.weights, logits, 1, top)
	var hist [massBuckets]float64
	scale := float32(massBuckets) / 40
	for i, l := range logits {
		if d := (top - l) * scale; d < massBuckets { // false for NaN
			hist[int(d)] += float64(s.weights[i])
		}
	}
	var cum float64
	for b, h := range hist {
		if cum += h; cum >= mass*(1+1e-4) {
			return top - float32(min(b+2, massBuckets))/scale, true
		}
	}
	return 0, false
}

// sortCandidates ranks c best first (see better), by sorting integer keys
// (a third of the time of comparing candidates).
func (s *Sampler) sortCandidates(c []candidate) {
	s.keys = slices.Grow(s.keys[:0], len(c))[:len(c)]
	for i, cd := range c {
		s.keys[i] = rankKey(cd)
	}
	slices.Sort(s.keys)
	for i, k := range s.keys {
		c[i] = fromRankKey(k)
	}
}

// rankKey orders candidates as better does when sorted ascending: the
// logit's bits made monotonic and inverted (higher first), then the id.
// Both zeros rank as +0, as better sees them equal (the logit comes back
// as +0). Ids are never negative here.
func rankKey(cd candidate) uint64 {
	l := cd.logit
	if l == 0 {
		l = 0
	}
	b := math.Float32bits(l)
	if b>>31 != 0 {
		b = ^b
	} else {
		b |= 1 << 31
	}
	return uint64(^b)<<32 | uint64(uint32(cd.id))
}

func fromRankKey(k uint64) candidate {
	b := ^uint32(k >> 32)
	if b>>31 != 0 {
		b &^= 1 << 31
	} else {
		b = ^b
	}
	return candidate{id: int32(uint32(k)), logit: math.Float32frombits(b)}
}

// minP keeps candidates whose probability is at least p times the best one,
// compacting them to the front of c.
func minP(c []candidate, p float64) []candidate {
	top := math.Inf(-1)
	for _, cd := range c {
		top = max(top, float64(cd.logit))
	}
	floor := top + math.Log(p)
	kept := c[:0]
	for _, cd := range c {
		if float64(cd.logit) >= floor {
			kept = append(kept, cd)
		}
	}
	return kept // never empty: the best candidate always passes
}
