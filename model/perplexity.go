package model

import (
	"fmt"
	"math"
)

// PerplexityMethod chooses how a token stream is cut into windows and scored.
type PerplexityMethod int

const (
	// Windows: the reference definition of this project (reference.json):
	// BOS, then the text, cut into non-overlapping windows of Window
	// positions, each scored in full (BOS starts every window).
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
	var chunks [][]int32
	var firstScored int // position whose logits first count, per window
	switch method {
	case Windows:
		step := window - 1
		for lo := 0; lo < len(tokens); lo += step {
			w := append([]int32{bos}, tokens[lo:min(lo+step, len(tokens))]...)
			if len(w) >= 2 {
				chunks = append(chunks, w)
			}
		}
		firstScored = 0
	case LlamaCpp:
		for lo := 0; lo+window <= len(tokens); lo += window {
			w := append([]int32(nil), tokens[lo:lo+window]...)
			w[0] = bos
			chunks = append(chunks, w)
		}
		firstScored = window / 2
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
	for ci, w := range chunks {
		// Logits at position i predict token i+1; the last position predicts nothing.
		want := func(i int) bool { return i >= firstScored && i < len(w)-1 }
		err := e.Eval(w, 0, want, func(i int, logits []float32) error {
			nll := NLL(logits, w[i+1])
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
