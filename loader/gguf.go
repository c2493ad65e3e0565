package loader

import (
	"fmt"
	"io"
	"math"
	"math/bits"
	"sort"

	"github.com/tabshard/tabshard/quant"
)

// GGUF layout constants (gguf.h / ggml.h).
const (
	ggufMagic            = "GGUF"
	ggufDefaultAlignment = 32
	ggmlMaxDims          = 4
	// Smallest possible encodings, used to bound counts by the bytes left:
	// a key/value is a string length, a type and at least one byte of value;
	// a tensor info is a name length, n_dims, a type and an offset.
	minKVBytes     = 8 + 4 + 1
	minTensorBytes = 8 + 4 + 4 + 8
)

// OpenGGUF parses the header, metadata and tensor table of a GGUF file of
// size bytes read through r. Tensor data is not read until ReadTensor. The
// returned Model does not own r: Close does not close it.
func OpenGGUF(r io.ReaderAt, size int64) (*Model, error) {
	if size < 0 {
		return nil, fmt.Errorf("gguf: negative file size %d", size)
	}
	d := newDecoder(r, size)
	m := &Model{Format: FormatGGUF, Files: []string{""}, srcs: []io.ReaderAt{r}}
	if err := parseGGUFHeader(d, m); err != nil {
		return nil, err
	}
	return m, nil
}

func parseGGUFHeader(d *decoder, m *Model) error {
	var magic [4]byte
	if err := d.read(magic[:], lbl("magic")); err != nil {
		return fmt.Errorf("gguf: not a GGUF file: %d bytes is too short for the header", d.size)
	}
	if string(magic[:]) != ggufMagic {
		return fmt.Errorf("gguf: not a GGUF file: magic is %q, want %q", magic[:], ggufMagic)
	}
	version, err := d.u32(lbl("version"))
	if err != nil {
		return err
	}
	switch {
	case version == 2 || version == 3:
	case version == 1:
		return fmt.Errorf("gguf: version 1 files are not supported (32-bit counts, no alignment); re-convert with a current llama.cpp")
	case version != 0 && version&0xffff == 0 && bits.ReverseBytes32(version) <= 3:
		return fmt.Errorf("gguf: file is big-endian (version reads as %#x); only little-endian GGUF is supported", version)
	default:
		return fmt.Errorf("gguf: unsupported version %d (want 2 or 3)", version)
	}
	m.Version = version

	nTensors, err := d.count(lbl("tensor count"), minTensorBytes)
	if err != nil {
		return err
	}
	nKV, err := d.count(lbl("metadata key/value count"), minKVBytes)
	if err != nil {
		return err
	}
	if err := parseGGUFMetadata(d, m, nKV); err != nil {
		return err
	}
	align, err := ggufAlignment(&m.Meta)
	if err != nil {
		return err
	}
	m.Alignment = int64(align)
	return parseGGUFTensors(d, m, nTensors)
}

func parseGGUFMetadata(d *decoder, m *Model, n int) error {
	m.Meta = Metadata{
		keys:  make([]string, 0, n),
		vals:  make([]Value, 0, n),
		index: make(map[string]int, n),
	}
	for i := 0; i < n; i++ {
		key, err := d.str(lblIdx("metadata key", "", i))
		if err != nil {
			return err
		}
		if m.Meta.Has(key) {
			return fmt.Errorf("gguf: duplicate metadata key %q", key)
		}
		t, err := d.u32(lblKey("value type of", key))
		if err != nil {
			return err
		}
		v, err := d.value(ValueType(t), key, 0)
		if err != nil {
			return err
		}
		m.Meta.set(key, v)
	}
	return nil
}

// ggufAlignment returns general.alignment, default 32; it must be a power of
// two because tensor offsets are rounded up to it.
func ggufAlignment(meta *Metadata) (uint64, error) {
	if !meta.Has("general.alignment") {
		return ggufDefaultAlignment, nil
	}
	a, err := meta.Uint("general.alignment")
	if err != nil {
		return 0, fmt.Errorf("gguf: general.alignment: %w", err)
	}
	if a == 0 || a&(a-1) != 0 || a > math.MaxInt32 {
		return 0, fmt.Errorf("gguf: general.alignment %d is not a power of two below 2^31", a)
	}
	return a, nil
}

// rawTensor is a tensor info as stored, before offsets are made absolute.
type rawTensor struct {
	TensorInfo
	rel uint64 // offset relative to the data section
}

func parseGGUFTensors(d *decoder, m *Model, n int) error {
	raws := make([]rawTensor, n)
	m.index = make(map[string]int, n)
	for i := range raws {
		t, err := parseGGUFTensorInfo(d, i)
		if err != nil {
			return err
		}
		if _, dup := m.index[t.Name]; dup {
			return fmt.Errorf("gguf: duplicate tensor name %q", t.Name)
		}
		m.index[t.Name] = i
		raws[i] = t
	}

	// The data section starts at the first aligned offset after the table.
	align := uint64(m.Alignment)
	start := (uint64(d.pos) + align - 1) &^ (align - 1)
	m.DataOffset = int64(start)
	if n > 0 && start > uint64(d.size) {
		return fmt.Errorf("gguf: tensor data would start at byte %d, past the end of the %d-byte file", start, d.size)
	}

	m.Tensors = make([]TensorInfo, n)
	for i, t := range raws {
		if t.rel%align != 0 {
			return fmt.Errorf("gguf: tensor %q offset %d is not a multiple of the alignment %d", t.Name, t.rel, align)
		}
		abs := start + t.rel
		if t.rel > uint64(d.size) || abs > uint64(d.size) || uint64(t.Size) > uint64(d.size)-abs {
			return fmt.Errorf("gguf: tensor %q data (%d bytes at data offset %d, section at %d) runs past the end of the %d-byte file", t.Name, t.Size, t.rel, start, d.size)
		}
		t.Offset = int64(abs)
		m.Tensors[i] = t.TensorInfo
	}
	return checkOverlap(m.Tensors, "gguf")
}

func parseGGUFTensorInfo(d *decoder, i int) (rawTensor, error) {
	var t rawTensor
	name, err := d.str(lblIdx("tensor name", "", i))
	if err != nil {
		return t, err
	}
	t.Name = name
	nd, err := d.u32(lblKey("n_dims of", name))
	if err != nil {
		return t, err
	}
	if nd > ggmlMaxDims {
		return t, fmt.Errorf("gguf: tensor %q has %d dims, at most %d are allowed", name, nd, ggmlMaxDims)
	}
	t.Dims = make([]uint64, nd)
	for j := range t.Dims {
		if t.Dims[j], err = d.u64(lblIdx("dims of", name, j)); err != nil {
			return t, err
		}
	}
	typ, err := d.u32(lblKey("type of", name))
	if err != nil {
		return t, err
	}
	t.Type = quant.Type(typ)
	if !t.Type.Known() {
		return t, fmt.Errorf("gguf: tensor %q has unknown ggml type id %d", name, typ)
	}
	if t.rel, err = d.u64(lblKey("offset of", name)); err != nil {
		return t, err
	}
	if t.Size, err = tensorSize(name, t.Type, t.Dims); err != nil {
		return t, fmt.Errorf("gguf: %w", err)
	}
	return t, nil
}

// tensorSize is the byte size of a tensor, refusing element counts that
// overflow and rows that are not whole blocks.
func tensorSize(name string, typ quant.Type, dims []uint64) (int64, error) {
	n := uint64(1)
	for _, x := range dims {
		hi, lo := bits.Mul64(n, x)
		if hi != 0 || lo > math.MaxInt64 {
			return 0, fmt.Errorf("tensor %q dims %v overflow the element count", name, dims)
		}
		n = lo
	}
	if len(dims) > 0 && dims[0]%uint64(typ.BlockElems()) != 0 {
		return 0, fmt.Errorf("tensor %q row length %d is not a multiple of the %s block size %d", name, dims[0], typ, typ.BlockElems())
	}
	sz, err := typ.TensorBytes(n)
	if err != nil {
		return 0, fmt.Errorf("tensor %q: %w", name, err)
	}
	return int64(sz), nil
}

// checkOverlap refuses tensors of one file whose data ranges overlap: a
// writer never produces them, and a reader trusting them could be tricked
// into aliasing weights.
func checkOverlap(ts []TensorInfo, format string) error {
	byFile := make(map[int][]int)
	for i, t := range ts {
		byFile[t.File] = append(byFile[t.File], i)
	}
	for _, idx := range byFile {
		sort.Slice(idx, func(a, b int) bool { return ts[idx[a]].Offset < ts[idx[b]].Offset })
		var end int64 // furthest end so far, and whose
		var last string
		for _, i := range idx {
			q := ts[i]
			if q.Size == 0 {
				continue
			}
			if q.Offset < end {
				return fmt.Errorf("%s: tensors %q and %q overlap", format, last, q.Name)
			}
			end, last = q.Offset+q.Size, q.Name
		}
	}
	return nil
}
