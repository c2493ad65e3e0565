package model

import (
	"fmt"
	"slices"

	"github.com/tabshard/tabshard/kernels"
	"github.com/tabshard/tabshard/loader"
	"github.com/tabshard/tabshard/quant"
)

// TensorSource gives tensors by GGUF name: a loaded file (loader.Model), or
// the blobs a node fetched for its part of the model.
type TensorSource interface {
	Tensor(name string) (loader.TensorInfo, bool)
	ReadTensor(name string) ([]byte, error)
}

// Part is the contiguous range of layers [First, Last) one stage holds. The
// first stage also holds the embeddings; the last the final norm and head.
type Part struct{ First, Last int }

// Whole is the part holding every layer of c.
func Whole(c Config) Part { return Part{0, c.Layers} }

func (p Part) validate(c Config) error {
	if p.First < 0 || p.First >= p.Last || p.Last > c.Layers {
		return fmt.Errorf("model: layer range [%d,%d) is not inside [0,%d)", p.First, p.Last, c.Layers)
	}
	return nil
}

// HasEmbed reports whether the part starts the pipeline.
func (p Part) HasEmbed() bool { return p.First == 0 }

// HasHead reports whether the part ends the pipeline for a model of c.
func (p Part) HasHead(c Config) bool { return p.Last == c.Layers }

// block is one transformer layer's weights on the device. Projections
// that read the same input and share a format are stacked into one matrix
// (their GGUF rows concatenated) so the device multiplies them in one pass:
// Q, K and V by runs of equal format, gate over up when they match.
type block struct {
	attnNorm, ffnNorm kernels.Matrix
	qkv               []stack
	o, down           kernels.Matrix
	gateUp            kernels.Matrix // gate rows over up rows, or nil
	gate, up          kernels.Matrix // when their formats differ
}

// stack is one run of the Q, K, V projections in one matrix: parts are
// indices into (q, k, v), widths their output widths, rotated the leading
// columns RoPE turns (the q and k parts, which come first).
type stack struct {
	m       kernels.Matrix
	parts   []int
	widths  []int
	rotated int
}

func (b *block) matrices() []kernels.Matrix {
	ms := []kernels.Matrix{b.attnNorm, b.ffnNorm, b.o, b.down, b.gateUp, b.gate, b.up}
	for _, s := range b.qkv {
		ms = append(ms, s.m)
	}
	return ms
}

// tensor is one weight tensor read from a source, shape-checked.
type tensor struct {
	name       string
	t          quant.Type
	rows, cols int
	data       []byte
}

// readTensor reads tensor name from src, checking that the file's shape is
// the rows×cols the config implies.
func readTensor(src TensorSource, name string, rows, cols int) (tensor, error) {
	info, ok := src.Tensor(name)
	if !ok {
		return tensor{}, fmt.Errorf("model: tensor %s is missing", name)
	}
	want := []uint64{uint64(cols), uint64(rows)}
	if rows == 1 {
		want = want[:1]
	}
	if !sameDims(info.Dims, want) {
		return tensor{}, fmt.Errorf("model: tensor %s has shape %v, the config implies %v", name, info.Dims, want)
	}
	data, err := src.ReadTensor(name)
	if err != nil {
		return tensor{}, fmt.Errorf("model: %w", err)
	}
	t := tensor{name: name, t: info.Type, rows: rows, cols: cols, data: data}
	if rows == 1 && t.t != quant.F32 {
		// Norm weights: FusedMatMul takes them as F32 (a few KB).
		f := make([]float32, cols)
		if err := quant.Dequantize(t.t, data, f); err != nil {
			return tensor{}, fmt.Errorf("model: tensor %s: %w", name, err)
		}
		t.t, t.data = quant.F32, make([]byte, 4*cols)
		if err := quant.Quantize(quant.F32, f, t.data); err != nil {
			return tensor{}, fmt.Errorf("model: tensor %s: %w", name, err)
		}
	}
	return t, nil
}

// uploadStacked places ts (same format and columns) on dev as one matrix,
// their rows in order.
func uploadStacked(dev kernels.Device, ts ...tensor) (kernels.Matrix, error) {
	parts, rows := make([][]byte, len(ts)), 0
	for i, t := range ts {
		parts[i] = t.data
		rows += t.rows
	}
	data := parts[0]
	if len(parts) > 1 {
		data = slices.Concat(parts...)
	}
	m, err := dev.UploadMatrix(ts[0].t, rows, ts[0].cols, data)
	if err != nil {
		names := ts[0].name
		for _, t := range ts[1:] {
			names += "+" + t.name
		}
		return nil, fmt.Errorf("model: tensor %s: %w", names, err)
	}
	return m, nil
}

// upload reads tensor name from src and places it on dev as a rows×cols
// matrix, checking that the file's shape is the one the config implies.
func upload(dev kernels.Device, src TensorSource, name string, rows, cols int) (kernels.Matrix, error) {
	t, err := readTensor(src, name, rows, cols)
	if err != nil {
		return nil, err
	}
	return uploadStacked(dev, t)
}

func sameDims(got, want []uint64) bool {
	// Trailing 1s are how GGUF writers sometimes pad a vector's dims.
	for len(got) > len(want) && got[len(got)-1] == 1 {
		got = got[:len(got)-1]
	}
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		if got[i] != want[i] {
			return false
		}
	}
	return true
}

// TensorShape is one tensor of a model file: its GGUF name and its
// rows×cols (rows 1: a norm weight).
type TensorShape struct {
	Name       string
	Rows, Cols int
}

// BlockTensors lists one transformer block's tensors, named without the
// "blk.N." prefix, in the order loadBlock reads them.
func BlockTensors(c Config) []TensorShape {
	return []TensorShape{
		{"attn_norm.weight", 1, c.Dim}, {"attn_q.weight", c.QDim(), c.Dim},
		{"attn_k.weight", c.KVDim(), c.Dim}, {"attn_v.weight", c.KVDim(), c.Dim},
		{"attn_output.weight", c.Dim, c.QDim()}, {"ffn_norm.weight", 1, c.Dim},
		{"ffn_gate.weight", c.FFN, c.Dim}, {"ffn_up.weight", c.FFN, c.Dim},
		{"ffn_down.weight", c.Dim, c.FFN},
	}
}

func loadBlock(dev kernels.Device, src TensorSource, c Config, layer int) (*block, error) {
	p := fmt.Sprintf("blk.%d.", layer)
	b := &block{}
	ok := false
	defer func() {
		if !ok {
			releaseAll(b.matrices())
		}
	}()
	specs := BlockTensors(c)
	ts := make([]tensor, len(specs))
	for i, s := range specs {
		var err error
		if ts[i], err = readTensor(src, p+s.Name, s.Rows, s.Cols); err != nil {
			return nil, err
		}
	}
	var err error
	one := func(dst *kernels.Matrix, t ...tensor) {
		if err == nil {
			*dst, err = uploadStacked(dev, t...)
		}
	}
	one(&b.attnNorm, ts[0])
	one(&b.o, ts[4])
	one(&b.ffnNorm, ts[5])
	one(&b.down, ts[8])
	if err != nil {
		return nil, err
	}
	// Q, K, V: runs of one format become one matrix.
	qkv := ts[1:4]
	for i := 0; i < len(qkv); {
		j := i + 1
		for j < len(qkv) && qkv[j].t == qkv[i].t {
			j++
		}
		st := stack{}
		for k := i; k < j; k++ {
			st.parts = append(st.parts, k)
			st.widths = append(st.widths, qkv[k].rows)
			if k < 2 { // q or k
				st.rotated += qkv[k].rows
			}
		}
		if st.m, err = uploadStacked(dev, qkv[i:j]...); err != nil {
			return nil, err
		}
		b.qkv = append(b.qkv, st)
		i = j
	}
	if gate, up := ts[6], ts[7]; gate.t == up.t {
		one(&b.gateUp, gate, up)
	} else {
		one(&b.gate, gate)
		one(&b.up, up)
	}
	if err != nil {
		return nil, err
	}
	ok = true
	return b, nil
}

func releaseAll(ms []kernels.Matrix) {
	for _, m := range ms {
		if m != nil {
			m.Release()
		}
	}
}
