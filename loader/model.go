package loader

import (
	"errors"
	"fmt"
	"io"

	"github.com/tabshard/tabshard/quant"
)

// Formats a Model can come from.
const (
	FormatGGUF        = "gguf"
	FormatSafetensors = "safetensors"
)

// TensorInfo describes one tensor: its GGUF name, type and ggml-order dims,
// and where its bytes lie.
type TensorInfo struct {
	Name string
	Type quant.Type
	// Dims in ggml order: Dims[0] is the row length (the fastest-varying
	// dimension), the reverse of the PyTorch/safetensors shape.
	Dims []uint64
	// Offset is the absolute byte offset of the data in Model.Files[File].
	Offset int64
	// Size is the data's length in bytes.
	Size int64
	// File indexes Model.Files: 0 for GGUF, the shard for sharded
	// safetensors.
	File int
	// PermuteHeads is non-zero when the stored rows are in Hugging Face's
	// half-split RoPE order (attn_q/attn_k from safetensors): ReadTensor
	// reorders them into GGUF's interleaved order using this many heads, so
	// raw bytes at Offset differ from what ReadTensor returns.
	PermuteHeads int
}

// Elements is the number of weights in the tensor.
func (t TensorInfo) Elements() uint64 {
	n := uint64(1)
	for _, d := range t.Dims {
		n *= d // cannot overflow: validated when the file was opened
	}
	return n
}

// Model is a parsed model file set: metadata and the tensor table. Tensor data
// stays in the files until ReadTensor.
type Model struct {
	Meta    Metadata
	Tensors []TensorInfo
	Format  string // FormatGGUF or FormatSafetensors

	// Version is the GGUF version (2 or 3); 0 for safetensors.
	Version uint32
	// Alignment is GGUF's data alignment (general.alignment, default 32).
	Alignment int64
	// DataOffset is where GGUF's tensor data section starts.
	DataOffset int64
	// Files are the paths tensors live in ("" when opened from a reader).
	Files []string
	// Ignored lists source tensors that were skipped as harmless (for
	// example rotary inv_freq buffers some checkpoints carry).
	Ignored []string

	index   map[string]int
	srcs    []io.ReaderAt // parallel to Files
	closers []io.Closer
}

// Tensor returns the named tensor's description.
func (m *Model) Tensor(name string) (TensorInfo, bool) {
	i, ok := m.index[name]
	if !ok {
		return TensorInfo{}, false
	}
	return m.Tensors[i], true
}

// ReadTensor returns the tensor's bytes in its GGUF type and GGUF row order.
// It and ReadTensorInto are safe for concurrent use (until Close).
func (m *Model) ReadTensor(name string) ([]byte, error) {
	t, ok := m.Tensor(name)
	if !ok {
		return nil, fmt.Errorf("loader: no tensor %q", name)
	}
	buf := make([]byte, t.Size)
	if err := m.readInto(t, buf); err != nil {
		return nil, err
	}
	return buf, nil
}

// ReadTensorInto is ReadTensor into a caller's buffer of exactly the
// tensor's Size, so large weights can go straight to their destination.
func (m *Model) ReadTensorInto(name string, dst []byte) error {
	t, ok := m.Tensor(name)
	if !ok {
		return fmt.Errorf("loader: no tensor %q", name)
	}
	if int64(len(dst)) != t.Size {
		return fmt.Errorf("loader: tensor %q is %d bytes, buffer is %d", name, t.Size, len(dst))
	}
	return m.readInto(t, dst)
}

func (m *Model) readInto(t TensorInfo, dst []byte) error {
	if t.PermuteHeads == 0 {
		return m.readRaw(t, dst)
	}
	raw := make([]byte, t.Size)
	if err := m.readRaw(t, raw); err != nil {
		return err
	}
	return permuteRoPERows(dst, raw, t)
}

// readRaw reads the tensor's stored bytes into buf (len(buf) == t.Size).
func (m *Model) readRaw(t TensorInfo, buf []byte) error {
	if t.File < 0 || t.File >= len(m.srcs) || m.srcs[t.File] == nil {
		return fmt.Errorf("loader: tensor %q refers to file %d, which is not open", t.Name, t.File)
	}
	n, err := m.srcs[t.File].ReadAt(buf, t.Offset)
	if n == len(buf) {
		return nil // a ReaderAt may return io.EOF with a full read at the end
	}
	if err == nil || errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	return fmt.Errorf("loader: reading tensor %q (%d bytes at %d of %s): %w", t.Name, t.Size, t.Offset, fileLabel(m.Files, t.File), err)
}

func fileLabel(files []string, i int) string {
	if i >= 0 && i < len(files) && files[i] != "" {
		return files[i]
	}
	return fmt.Sprintf("file %d", i)
}

// Close closes the files Open opened. Models from OpenGGUF own nothing.
func (m *Model) Close() error {
	var first error
	for _, c := range m.closers {
		if err := c.Close(); err != nil && first == nil {
			first = err
		}
	}
	m.closers = nil
	m.srcs = nil
	return first
}
