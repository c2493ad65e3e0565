package kernels

import (
	"math"
	"sync"
)

// RoPETable hands out RoPE's frequencies 1/theta^(2i/headDim) for
// i < headDim/2, computed in float64 and rounded to float32 as Hugging Face
// computes them, so that every device rotates by the same angles. Every
// layer asks for the same table, so the last one is kept; a returned table
// is never modified.
type RoPETable struct {
	mu      sync.Mutex
	headDim int
	theta   float32
	freqs   []float32
}

// Freqs returns the table for headDim and theta.
func (t *RoPETable) Freqs(headDim int, theta float32) []float32 {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.freqs != nil && t.headDim == headDim && t.theta == theta {
		return t.freqs
	}
	f := make([]float32, headDim/2)
	for i := range f {
		f[i] = float32(1 / math.Pow(float64(theta), float64(2*i)/float64(headDim)))
	}
	t.headDim, t.theta, t.freqs = headDim, theta, f
	return f
}
