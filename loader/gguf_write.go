package loader

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"

	"github.com/tabshard/tabshard/quant"
)

// TensorSpec is a tensor to be written: its name, type and ggml-order dims.
// Its byte size follows from them (see Size).
type TensorSpec struct {
	Name string
	Type quant.Type
	Dims []uint64
}

// Size is the tensor's data size in bytes, with the same checks the reader
// applies (known type, whole blocks per row, no overflow).
func (s TensorSpec) Size() (int64, error) {
	if !s.Type.Known() {
		return 0, fmt.Errorf("gguf write: tensor %q has unknown ggml type id %d", s.Name, uint32(s.Type))
	}
	if len(s.Dims) > ggmlMaxDims {
		return 0, fmt.Errorf("gguf write: tensor %q has %d dims, at most %d are allowed", s.Name, len(s.Dims), ggmlMaxDims)
	}
	n, err := tensorSize(s.Name, s.Type, s.Dims)
	if err != nil {
		return 0, fmt.Errorf("gguf write: %w", err)
	}
	return n, nil
}

// TensorToWrite is a tensor spec with its data (exactly Size bytes, in
// GGUF row order).
type TensorToWrite struct {
	TensorSpec
	Data []byte
}

// WriteGGUF writes a complete GGUF v3 file: the metadata in the given order,
// the tensor table in the given order, and each tensor's data padded to
// general.alignment (32 when the key is absent). It returns the bytes written.
func WriteGGUF(w io.Writer, meta []MetaKV, tensors []TensorToWrite) (int64, error) {
	specs := make([]TensorSpec, len(tensors))
	for i, t := range tensors {
		specs[i] = t.TensorSpec
	}
	g, err := NewGGUFWriter(w, meta, specs)
	if err != nil {
		return 0, err
	}
	for _, t := range tensors {
		if err := g.WriteTensor(t.Data); err != nil {
			return g.n, err
		}
	}
	return g.n, g.Finish()
}

// GGUFWriter streams a GGUF v3 file: NewGGUFWriter writes the header, then
// WriteTensor is called once per tensor in table order, then Finish. This
// lets a large model be converted one tensor at a time.
type GGUFWriter struct {
	w     *bufio.Writer
	specs []TensorSpec
	sizes []int64
	align int64
	next  int   // index of the next tensor to write
	n     int64 // bytes written so far
	err   error // first error; the writer refuses everything after it
}

// NewGGUFWriter validates meta and the tensor table and writes the header,
// the metadata, the tensor infos and the padding up to the data section.
func NewGGUFWriter(w io.Writer, meta []MetaKV, tensors []TensorSpec) (*GGUFWriter, error) {
	var md Metadata
	for _, kv := range meta {
		// An empty key is odd but readable (the reader and llama.cpp accept
		// it), so a file that was read can always be written back.
		if md.Has(kv.Key) {
			return nil, fmt.Errorf("gguf write: duplicate metadata key %q", kv.Key)
		}
		if err := checkValue(kv.Key, kv.Value, 0); err != nil {
			return nil, err
		}
		md.set(kv.Key, kv.Value)
	}
	align, err := ggufAlignment(&md)
	if err != nil {
		return nil, fmt.Errorf("gguf write: %w", err)
	}
	g := &GGUFWriter{w: bufio.NewWriterSize(w, 1<<20), specs: tensors, align: int64(align), sizes: make([]int64, len(tensors))}
	names := make(map[string]bool, len(tensors))
	for i, t := range tensors {
		if names[t.Name] {
			return nil, fmt.Errorf("gguf write: duplicate tensor name %q", t.Name)
		}
		names[t.Name] = true
		if g.sizes[i], err = t.Size(); err != nil {
			return nil, err
		}
	}

	g.writeRaw([]byte(ggufMagic))
	g.u32(3)
	g.u64(uint64(len(tensors)))
	g.u64(uint64(len(meta)))
	for _, kv := range meta {
		g.str(kv.Key)
		g.u32(uint32(kv.Value.typ))
		g.value(kv.Value)
	}
	var rel int64
	for i, t := range tensors {
		g.str(t.Name)
		g.u32(uint32(len(t.Dims)))
		for _, d := range t.Dims {
			g.u64(d)
		}
		g.u32(uint32(t.Type))
		g.u64(uint64(rel))
		rel += g.padded(g.sizes[i])
	}
	g.pad()
	if g.err != nil {
		return nil, g.err
	}
	return g, nil
}

// WriteTensor writes the next tensor's data, which must be exactly its size,
// followed by padding to the alignment.
func (g *GGUFWriter) WriteTensor(data []byte) error {
	if g.err != nil {
		return g.err
	}
	if g.next >= len(g.specs) {
		return fmt.Errorf("gguf write: all %d tensors were already written", len(g.specs))
	}
	if want := g.sizes[g.next]; int64(len(data)) != want {
		return fmt.Errorf("gguf write: tensor %q is %d bytes, want %d", g.specs[g.next].Name, len(data), want)
	}
	g.writeRaw(data)
	g.pad()
	g.next++
	return g.err
}

// Finish checks every tensor was written and flushes the buffer.
func (g *GGUFWriter) Finish() error {
	if g.err != nil {
		return g.err
	}
	if g.next != len(g.specs) {
		return fmt.Errorf("gguf write: only %d of %d tensors were written", g.next, len(g.specs))
	}
	if err := g.w.Flush(); err != nil {
		g.err = fmt.Errorf("gguf write: %w", err)
	}
	return g.err
}

// Written is the number of bytes written so far.
func (g *GGUFWriter) Written() int64 { return g.n }

// padded rounds n up to the alignment.
func (g *GGUFWriter) padded(n int64) int64 { return (n + g.align - 1) / g.align * g.align }

func (g *GGUFWriter) pad() {
	var zeros [64]byte
	for rem := g.padded(g.n) - g.n; rem > 0 && g.err == nil; {
		k := min(rem, int64(len(zeros)))
		g.writeRaw(zeros[:k])
		rem -= k
	}
}

func (g *GGUFWriter) writeRaw(b []byte) {
	if g.err != nil {
		return
	}
	k, err := g.w.Write(b)
	g.n += int64(k)
	if err != nil {
		g.err = fmt.Errorf("gguf write: %w", err)
	}
}

func (g *GGUFWriter) u32(v uint32) {
	var b [4]byte
	binary.LittleEndian.PutUint32(b[:], v)
	g.writeRaw(b[:])
}

func (g *GGUFWriter) u64(v uint64) {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], v)
	g.writeRaw(b[:])
}

func (g *GGUFWriter) str(s string) {
	g.u64(uint64(len(s)))
	g.writeRaw([]byte(s))
}

// value writes v's bytes (its type id is written by the caller).
func (g *GGUFWriter) value(v Value) {
	switch {
	case v.typ == TypeString:
		g.str(v.str)
	case v.typ == TypeArray:
		g.array(v.arr)
	default:
		var b [8]byte
		binary.LittleEndian.PutUint64(b[:], v.bits)
		g.writeRaw(b[:v.typ.fixedSize()])
	}
}

func (g *GGUFWriter) array(a *array) {
	g.u32(uint32(a.elem))
	g.u64(uint64(a.n))
	switch a.elem {
	case TypeString:
		for _, s := range a.strs {
			g.str(s)
		}
	case TypeArray:
		for _, e := range a.arrs {
			g.array(e.arr)
		}
	default:
		g.writeRaw(a.raw)
	}
}

// checkValue refuses values the reader could not read back: unknown types,
// arrays without contents, nesting deeper than the reader allows.
func checkValue(key string, v Value, depth int) error {
	switch {
	case v.typ == TypeString || v.typ.fixedSize() > 0:
		return nil
	case v.typ != TypeArray:
		return fmt.Errorf("gguf write: metadata key %q has unknown value type %d", key, uint32(v.typ))
	}
	if depth >= maxNesting {
		return fmt.Errorf("gguf write: metadata key %q nests arrays deeper than %d", key, maxNesting)
	}
	a := v.arr
	if a == nil {
		return fmt.Errorf("gguf write: metadata key %q is an array value without contents", key)
	}
	switch {
	case a.elem == TypeString:
		if len(a.strs) != a.n {
			return fmt.Errorf("gguf write: metadata key %q: malformed string array", key)
		}
	case a.elem == TypeArray:
		if len(a.arrs) != a.n {
			return fmt.Errorf("gguf write: metadata key %q: malformed nested array", key)
		}
		for _, e := range a.arrs {
			if e.typ != TypeArray {
				return fmt.Errorf("gguf write: metadata key %q: nested element is %s, want array", key, e.typ)
			}
			if err := checkValue(key, e, depth+1); err != nil {
				return err
			}
		}
	case a.elem.fixedSize() > 0:
		if len(a.raw) != a.n*a.elem.fixedSize() {
			return fmt.Errorf("gguf write: metadata key %q: malformed %s array", key, a.elem)
		}
	default:
		return fmt.Errorf("gguf write: metadata key %q is an array of unknown value type %d", key, uint32(a.elem))
	}
	return nil
}
