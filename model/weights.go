package model

import (
	"fmt"

	"github.com/tabshard/tabshard/kernels"
	"github.com/tabshard/tabshard/loader"
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

// block is one transformer layer's weights on the device.
type block struct {
	attnNorm, q, k, v, o    kernels.Matrix
	ffnNorm, gate, up, down kernels.Matrix
}

func (b *block) matrices() []kernels.Matrix {
	return []kernels.Matrix{b.attnNorm, b.q, b.k, b.v, b.o, b.ffnNorm, b.gate, b.up, b.down}
}

// upload reads tensor name from src and places it on dev as a rows×cols
// matrix, checking that the file's shape is the one the config implies.
func upload(dev kernels.Device, src TensorSource, name string, rows, cols int) (kernels.Matrix, error) {
	info, ok := src.Tensor(name)
	if !ok {
		return nil, fmt.Errorf("model: tensor %s is missing", name)
	}
	want := []uint64{uint64(cols), uint64(rows)}
	if rows == 1 {
		want = want[:1]
	}
	if !sameDims(info.Dims, want) {
		return nil, fmt.Errorf("model: tensor %s has shape %v, the config implies %v", name, info.Dims, want)
	}
	data, err := src.ReadTensor(name)
	if err != nil {
		return nil, fmt.Errorf("model: %w", err)
	}
	m, err := dev.UploadMatrix(info.Type, rows, cols, data)
	if err != nil {
		return nil, fmt.Errorf("model: tensor %s: %w", name, err)
	}
	return m, nil
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

func loadBlock(dev kernels.Device, src TensorSource, c Config, layer int) (*block, error) {
	p := fmt.Sprintf("blk.%d.", layer)
	b := &block{}
	specs := []struct {
		dst        *kernels.Matrix
		name       string
		rows, cols int
	}{
		{&b.attnNorm, "attn_norm.weight", 1, c.Dim},
		{&b.q, "attn_q.weight", c.QDim(), c.Dim},
		{&b.k, "attn_k.weight", c.KVDim(), c.Dim},
		{&b.v, "attn_v.weight", c.KVDim(), c.Dim},
		{&b.o, "attn_output.weight", c.Dim, c.QDim()},
		{&b.ffnNorm, "ffn_norm.weight", 1, c.Dim},
		{&b.gate, "ffn_gate.weight", c.FFN, c.Dim},
		{&b.up, "ffn_up.weight", c.FFN, c.Dim},
		{&b.down, "ffn_down.weight", c.Dim, c.FFN},
	}
	for _, s := range specs {
		m, err := upload(dev, src, p+s.name, s.rows, s.cols)
		if err != nil {
			releaseAll(b.matrices())
			return nil, err
		}
		*s.dst = m
	}
	return b, nil
}

func releaseAll(ms []kernels.Matrix) {
	for _, m := range ms {
		if m != nil {
			m.Release()
		}
	}
}
