// Package kernels defines the compute Device a LLaMA block runs on. The CPU
// device (kernels/cpu) is the reference; the WebGPU device (kernels/webgpu)
// runs in browser tabs and natively on Vulkan. Both pass the same conformance
// suite (kernels/conformance).
//
// Conventions shared by every op:
//   - Activations are f32 and row-major: a batch of `rows` positions, each a
//     vector of some width. Ops take the sizes they need as arguments and fail
//     when a buffer is too small.
//   - A Matrix is a weight tensor of Rows() output features, each a row of
//     Cols() weights in a quant format (GGUF/ggml layout: one row is
//     contiguous). MatMul computes dst[r][o] = Σ_i W[o][i]·x[r][i].
//   - Ops may run asynchronously; Read is the fence. An error from queued work
//     may surface at the next op or at Read.
package kernels

import (
	"fmt"

	"github.com/tabshard/tabshard/quant"
)

// Buffer is device memory holding f32 values.
type Buffer interface {
	Len() int // number of f32 values
	Release()
}

// Matrix is a weight tensor resident on the device.
type Matrix interface {
	Rows() int
	Cols() int
	Type() quant.Type
	Release()
}

// KVConfig sizes a key/value cache for the layers of one stage.
type KVConfig struct {
	Layers  int        // layers held by the stage
	Slots   int        // sequences (sessions) held at once
	Context int        // positions per slot
	KVHeads int        // key/value heads
	HeadDim int        // width of one head
	Type    quant.Type // storage: F32, F16, Q8_0 or Q4_0 (blocks along HeadDim)
}

// KVCache holds keys and values for every (layer, slot, position).
type KVCache interface {
	Config() KVConfig
	Bytes() int64 // device memory it holds
	Release()
}

// Seq places one row of a batch: its KV-cache slot and its position in that
// sequence. Rows of one slot inside a batch appear in increasing position.
type Seq struct {
	Slot int32
	Pos  int32
}

// Device is everything the LLaMA forward pass needs from a compute backend.
type Device interface {
	// Name describes the device (backend, adapter) for logs and capabilities.
	Name() string

	NewBuffer(n int) (Buffer, error)
	// Write copies src into the start of dst.
	Write(dst Buffer, src []float32) error
	// Read waits for queued work and copies the first len(dst) values of src.
	Read(src Buffer, dst []float32) error
	// UploadMatrix places rows×cols weights of type t (GGUF bytes) on the device.
	UploadMatrix(t quant.Type, rows, cols int, data []byte) (Matrix, error)
	NewKVCache(cfg KVConfig) (KVCache, error)

	// Embed: dst[r] = row ids[r] of table, as f32.
	Embed(dst Buffer, table Matrix, ids []int32) error
	// RMSNorm: dst[r] = x[r] / sqrt(mean(x[r]²) + eps) ⊙ weight, where weight
	// is a 1×width matrix and width = weight.Cols().
	RMSNorm(dst, x Buffer, weight Matrix, rows int, eps float32) error
	// MatMul: dst[r][o] = Σ_i w[o][i]·x[r][i] for r < rows.
	MatMul(dst Buffer, w Matrix, x Buffer, rows int) error
	// RoPE rotates, in place, each row of x (heads×headDim values) by its
	// position seq[r].Pos, rotating adjacent pairs (2i, 2i+1) by
	// pos·theta^(-2i/headDim) (llama.cpp's "normal" mode, GGUF row order).
	RoPE(x Buffer, heads, headDim int, seq []Seq, theta float32) error
	// Attention stores k[r] and v[r] (KVHeads×HeadDim each) in cache layer at
	// (seq[r].Slot, seq[r].Pos), then writes to dst[r] (heads×HeadDim) causal
	// softmax(q·Kᵀ/√HeadDim)·V over positions 0..seq[r].Pos of that slot.
	// Query head h reads KV head h / (heads/KVHeads).
	Attention(dst, q, k, v Buffer, cache KVCache, layer, heads int, seq []Seq) error
	// SiLUMul: dst[i] = silu(gate[i])·up[i] for i < n.
	SiLUMul(dst, gate, up Buffer, n int) error
	// Add: dst[i] = a[i] + b[i] for i < n (dst may alias a or b).
	Add(dst, a, b Buffer, n int) error
	// CopyRows: dst[j] = src[rows[j]], rows of cols values.
	CopyRows(dst, src Buffer, cols int, rows []int32) error
	// FusedMatMul computes a product with what precedes and follows it in
	// a LLaMA layer, so that a device can run it in one pass over the
	// weights: optionally RMSNorm on x first (f.Norm), then p = w·x', then
	// f.Out decides where p goes (see Fused). dsts must be distinct buffers
	// and none of them x.
	FusedMatMul(dsts []Buffer, w Matrix, x Buffer, rows int, f Fused) error
	// TopK returns, for each of rows rows of cols logits, the k largest values
	// and their column ids, largest first (ties: lower id first).
	TopK(logits Buffer, rows, cols, k int) (ids []int32, vals []float32, err error)

	// Close releases the device; nothing may be used after it.
	Close() error
}

// MaxSplit is the most destinations one FusedMatMul may split its product
// into (a stacked Q|K|V projection needs three).
const MaxSplit = 3

// FusedOut says where FusedMatMul puts the product p (rows × w.Rows()).
type FusedOut int

const (
	// Store writes p: with one destination, all of it (rows × w.Rows());
	// with Split, columns [Σ Split[:i], Σ Split[:i+1]) of each row go to
	// dsts[i] (rows × Split[i]). Stacked Q|K|V weights use this.
	Store FusedOut = iota
	// Accumulate adds p to dsts[0] (rows × w.Rows()): a residual add.
	Accumulate
	// SiLUGate reads w as gate rows stacked over up rows (w.Rows() even,
	// h = w.Rows()/2) and writes dsts[0][r][i] = silu(p[r][i])·p[r][h+i]
	// (rows × h): the feed-forward's gate and up projections with SiLU·mul.
	SiLUGate
)

// Fused configures one FusedMatMul.
type Fused struct {
	// Norm, when set, is a 1×w.Cols() F32 weight: each row of x is first
	// RMS-normalised with it and Eps, exactly as RMSNorm would.
	Norm Matrix
	Eps  float32
	Out  FusedOut
	// Split lists the destination widths for Store with several
	// destinations (at most MaxSplit, summing to w.Rows()); nil means one.
	Split []int
	// RoPE, when RoPE.Cols > 0, rotates the first destinations after a
	// Store, exactly as RoPE would: the Q and K parts of a stacked Q|K|V
	// product, so that they leave the product already rotated.
	RoPE Rotary
}

// Rotary is FusedMatMul's RoPE epilogue: columns [0, Cols) of each product
// row r, which must be whole leading destinations (a sum of leading Split
// widths, or all of w.Rows()), are rotated as RoPE(dst, width/HeadDim,
// HeadDim, Seq, Theta) would rotate each of those destinations; Seq has one
// entry per row.
type Rotary struct {
	Cols, HeadDim int
	Theta         float32
	Seq           []Seq
}

// CheckFused validates a FusedMatMul call's shape and returns the width of
// each destination row. Devices call it first so that every device refuses
// the same calls with the same words.
func CheckFused(dsts []Buffer, w Matrix, x Buffer, rows int, f Fused) ([]int, error) {
	if w == nil || x == nil || len(dsts) == 0 {
		return nil, fmt.Errorf("FusedMatMul: missing weights, input or destination")
	}
	if rows <= 0 {
		return nil, fmt.Errorf("FusedMatMul: rows = %d", rows)
	}
	for i, d := range dsts {
		if d == nil {
			return nil, fmt.Errorf("FusedMatMul: dsts[%d] is nil", i)
		}
		if d == x {
			return nil, fmt.Errorf("FusedMatMul: dsts[%d] aliases x", i)
		}
		for j := 0; j < i; j++ {
			if dsts[j] == d {
				return nil, fmt.Errorf("FusedMatMul: dsts[%d] and dsts[%d] are one buffer", j, i)
			}
		}
	}
	if f.Norm != nil && (f.Norm.Rows() != 1 || f.Norm.Cols() != w.Cols() || f.Norm.Type() != quant.F32) {
		return nil, fmt.Errorf("FusedMatMul: norm weight is %d×%d %s, want 1×%d F32", f.Norm.Rows(), f.Norm.Cols(), f.Norm.Type(), w.Cols())
	}
	widths, err := outWidths(len(dsts), w, f)
	if err != nil {
		return nil, err
	}
	if err := checkRotary(widths, rows, f); err != nil {
		return nil, err
	}
	return widths, nil
}

// outWidths checks f's output mode against n destinations and returns the
// width of each destination row.
func outWidths(n int, w Matrix, f Fused) ([]int, error) {
	switch f.Out {
	case Store:
		if f.Split == nil {
			if n != 1 {
				return nil, fmt.Errorf("FusedMatMul: %d destinations without a split", n)
			}
			return []int{w.Rows()}, nil
		}
		if len(f.Split) != n || n > MaxSplit {
			return nil, fmt.Errorf("FusedMatMul: split %v over %d destinations (at most %d)", f.Split, n, MaxSplit)
		}
		sum := 0
		for _, n := range f.Split {
			if n <= 0 {
				return nil, fmt.Errorf("FusedMatMul: split %v has an empty part", f.Split)
			}
			sum += n
		}
		if sum != w.Rows() {
			return nil, fmt.Errorf("FusedMatMul: split %v sums to %d, the weights have %d rows", f.Split, sum, w.Rows())
		}
		return append([]int(nil), f.Split...), nil
	case Accumulate, SiLUGate:
		if n != 1 || f.Split != nil {
			return nil, fmt.Errorf("FusedMatMul: output mode %d takes one destination and no split", f.Out)
		}
		if f.Out == Accumulate {
			return []int{w.Rows()}, nil
		}
		if w.Rows()%2 != 0 {
			return nil, fmt.Errorf("FusedMatMul: SiLUGate needs gate and up rows stacked (an even count), got %d", w.Rows())
		}
		return []int{w.Rows() / 2}, nil
	}
	return nil, fmt.Errorf("FusedMatMul: unknown output mode %d", f.Out)
}

// checkRotary validates f.RoPE (when on) against the destinations' widths.
func checkRotary(widths []int, rows int, f Fused) error {
	r := f.RoPE
	if r.Cols == 0 {
		return nil
	}
	if f.Out != Store {
		return fmt.Errorf("FusedMatMul: RoPE needs the Store output, got mode %d", f.Out)
	}
	if r.HeadDim <= 0 || r.HeadDim%2 != 0 || r.Cols < 0 || r.Cols%r.HeadDim != 0 {
		return fmt.Errorf("FusedMatMul: RoPE over %d columns with head width %d (must be positive, even, and divide the columns)", r.Cols, r.HeadDim)
	}
	if !(r.Theta > 0) {
		return fmt.Errorf("FusedMatMul: RoPE theta %v must be positive", r.Theta)
	}
	if len(r.Seq) != rows {
		return fmt.Errorf("FusedMatMul: RoPE has %d positions for %d rows", len(r.Seq), rows)
	}
	for i, s := range r.Seq {
		if s.Pos < 0 {
			return fmt.Errorf("FusedMatMul: RoPE: seq[%d].Pos = %d is negative", i, s.Pos)
		}
	}
	sum := 0
	for _, n := range widths {
		sum += n
		if sum == r.Cols {
			return nil
		}
	}
	return fmt.Errorf("FusedMatMul: RoPE over %d columns does not end at a destination's end (widths %v)", r.Cols, widths)
}

// RotatedDsts is how many leading destinations f.RoPE rotates (0: none);
// call it after CheckFused accepted f, with the widths it returned.
func RotatedDsts(widths []int, f Fused) int {
	sum := 0
	for i, n := range widths {
		if sum >= f.RoPE.Cols {
			return i
		}
		sum += n
	}
	return len(widths)
}
