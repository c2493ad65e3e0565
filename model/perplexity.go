package model

import (
	"fmt"
	"math"
)

// PerplexityMethod chooses how a token stream is cut into windows and scored.
type PerplexityMethod int

const (
	// Windows: the reference definition of this project (reference.json):
	// BOS, then the text, cut into non-overlapping windows of Window input
	// positions, each run on its own; every token of the text is scored
	// once (a window's last position predicts the next window's first token).
	Windows PerplexityMethod = iota
	// LlamaCpp: llama-perplexity's definition: the stream (BOS first) is cut
	// into whole chunks of Window tokens, each chunk's first token is
	// replaced by BOS, and only the second half of each chunk is scored.
	LlamaCpp
)

// PerplexityResult is exp(mean negative log-likelihood) and its standard error.
type PerplexityResult struct {
	PPL, StdErr float64
	Scored      int // predictions scored
	Windows     int
}

// Perplexity scores tokens (text ids without BOS for Windows; with BOS first
// for LlamaCpp) with windows of window positions. progress, if not nil, is
// called after each window.
func (e *Engine) Perplexity(tokens []int32, window int, method PerplexityMethod, bos int32, progress func(done, total int, r PerplexityResult)) (PerplexityResult, error) {
	if window < 2 || window > e.opt.Context {
		return PerplexityResult{}, fmt.Errorf("model: window %d must be in [2, %d]", window, e.opt.Context)
	}
	// Each window runs inputs[i] and scores targets[i]; a target of -1 is
	// not scored.
	type chunk struct{ inputs, targets []int32 }
	var chunks []chunk
	switch method {
	case Windows:
		all := append([]int32{bos}, tokens...)
		for lo := 0; lo < len(all)-1; lo += window {
			hi := min(lo+window, len(all)-1)
			chunks = append(chunks, chunk{all[lo:hi], all[lo+1 : hi+1]})
		}
	case LlamaCpp:
		for lo := 0; lo+window <= len(tokens); lo += window {
			in := append([]int32(nil), tokens[lo:lo+window]...)
			in[0] = bos
			targets := make([]int32, window)
			for i := range targets {
				targets[i] = -1
				if i >= window/2 && i < window-1 {
					targets[i] = in[i+1]
				}
			}
			chunks = append(chunks, chunk{in, targets})
		}
	default:
		return PerplexityResult{}, fmt.Errorf("model: unknown perplexity method %d", method)
	}
	if len(chunks) == 0 {
		return PerplexityResult{}, fmt.Errorf("model: %d tokens are too few for a window of %d", len(tokens), window)
	}
	var sum, sum2 float64
	var n int
	result := func() PerplexityResult {
		mean := sum / float64(n)
		r := PerplexityResult{PPL: math.Exp(mean), Scored: n}
		if n > 1 {
			variance := (sum2/float64(n) - mean*mean) * float64(n) / float64(n-1)
			r.StdErr = r.PPL * math.Sqrt(math.Max(variance, 0)/float64(n))
		}
		return r
	}
	for ci, c := range chunks {
		want := func(i int) bool { return c.targets[i] >= 0 }
		err := e.Eval(c.inputs, 0, want, func(i int, logits []float32) error {
			nll := NLL(logits, c.targets[i])
			if math.IsNaN(nll) || math.IsInf(nll, 0) {
				return fmt.Errorf("model: non-finite likelihood at window %d position %d", ci, i)
			}
			sum += nll
			sum2 += nll * nll
			n++
			return nil
		})
		if err != nil {
			return PerplexityResult{}, err
		}
		if progress != nil {
			r := result()
			r.Windows = ci + 1
			progress(ci+1, len(chunks), r)
		}
	}
	r := result()
	r.Windows = len(chunks)
	return r, nil
}
