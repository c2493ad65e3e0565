package loader

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"strconv"
)

// decoder reads little-endian GGUF fields sequentially from a ReaderAt and
// always knows how many bytes of the file remain, so every length read from
// the file can be checked against what the file could possibly hold before
// anything is allocated for it.
type decoder struct {
	r    *bufio.Reader
	pos  int64 // bytes consumed so far
	size int64 // total file size
	buf  [8]byte
}

func newDecoder(r io.ReaderAt, size int64) *decoder {
	// The buffer never exceeds the file, so tiny inputs stay cheap.
	buf := int64(64 << 10)
	if size < buf {
		buf = max(size, 16)
	}
	return &decoder{r: bufio.NewReaderSize(io.NewSectionReader(r, 0, size), int(buf)), size: size}
}

func (d *decoder) remaining() int64 { return d.size - d.pos }

// label names the field being read, for errors only. It is formatted on the
// error path alone, so reading a 32000-entry array builds no strings.
type label struct {
	what string // "array length of", "tensor name", ...
	key  string // metadata key or tensor name, may be empty
	idx  int    // array element or tensor number, -1 for none
}

func lbl(what string) label                { return label{what: what, idx: -1} }
func lblKey(what, key string) label        { return label{what: what, key: key, idx: -1} }
func lblIdx(what, key string, i int) label { return label{what: what, key: key, idx: i} }

func (l label) String() string {
	s := l.what
	if l.key != "" {
		s += " " + strconv.Quote(l.key)
	}
	if l.idx >= 0 {
		s += "[" + strconv.Itoa(l.idx) + "]"
	}
	return s
}

// errTruncated names the field that ran past the end of the file.
func (d *decoder) errTruncated(what label) error {
	return fmt.Errorf("gguf: file truncated reading %s at byte %d (file is %d bytes)", what.String(), d.pos, d.size)
}

func (d *decoder) read(p []byte, what label) error {
	if int64(len(p)) > d.remaining() {
		return d.errTruncated(what)
	}
	n, err := io.ReadFull(d.r, p)
	d.pos += int64(n)
	if err != nil {
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return d.errTruncated(what)
		}
		return fmt.Errorf("gguf: reading %s at byte %d: %w", what.String(), d.pos, err)
	}
	return nil
}

func (d *decoder) u32(what label) (uint32, error) {
	if err := d.read(d.buf[:4], what); err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint32(d.buf[:4]), nil
}

func (d *decoder) u64(what label) (uint64, error) {
	if err := d.read(d.buf[:8], what); err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint64(d.buf[:8]), nil
}

// count reads a u64 count of items each taking at least minBytes of the file,
// refusing counts the remaining file cannot hold.
func (d *decoder) count(what label, minBytes int64) (int, error) {
	n, err := d.u64(what)
	if err != nil {
		return 0, err
	}
	if minBytes < 1 {
		minBytes = 1
	}
	if limit := d.remaining() / minBytes; n > uint64(limit) {
		return 0, fmt.Errorf("gguf: %s %d is impossible: %d bytes remain at byte %d", what.String(), n, d.remaining(), d.pos)
	}
	return int(n), nil
}

// str reads a GGUF string: u64 length then bytes.
func (d *decoder) str(what label) (string, error) {
	lw := what
	lw.what += " length"
	n, err := d.count(lw, 1)
	if err != nil {
		return "", err
	}
	b := make([]byte, n)
	if err := d.read(b, what); err != nil {
		return "", err
	}
	return string(b), nil
}

// maxNesting bounds arrays of arrays; real files use at most one level and
// the bound keeps recursion shallow on hostile input.
const maxNesting = 8

// value reads one metadata value of type t.
func (d *decoder) value(t ValueType, key string, depth int) (Value, error) {
	switch {
	case t == TypeString:
		s, err := d.str(lblKey("value of", key))
		return Value{typ: TypeString, str: s}, err
	case t == TypeArray:
		return d.arrayValue(key, -1, depth)
	case t.fixedSize() > 0:
		sz := t.fixedSize()
		if err := d.read(d.buf[:sz], lblKey("value of", key)); err != nil {
			return Value{}, err
		}
		return Value{typ: t, bits: leBits(d.buf[:sz])}, nil
	}
	return Value{}, fmt.Errorf("gguf: metadata key %q has unknown value type %d", key, uint32(t))
}

// arrayValue reads an array; idx is the element of the outermost array being
// read when nested (for errors), -1 at the top.
func (d *decoder) arrayValue(key string, idx, depth int) (Value, error) {
	if depth >= maxNesting {
		return Value{}, fmt.Errorf("gguf: metadata key %q nests arrays deeper than %d", key, maxNesting)
	}
	et, err := d.u32(lblIdx("array element type of", key, idx))
	if err != nil {
		return Value{}, err
	}
	elem := ValueType(et)
	a := &array{elem: elem}
	switch {
	case elem == TypeString:
		// Each string costs at least its 8-byte length.
		if a.n, err = d.count(lblIdx("array length of", key, idx), 8); err != nil {
			return Value{}, err
		}
		a.strs = make([]string, a.n)
		for i := range a.strs {
			if a.strs[i], err = d.str(lblIdx("string", key, i)); err != nil {
				return Value{}, err
			}
		}
	case elem == TypeArray:
		// Each nested array costs at least its type and count (12 bytes).
		if a.n, err = d.count(lblIdx("array length of", key, idx), 12); err != nil {
			return Value{}, err
		}
		a.arrs = make([]Value, a.n)
		for i := range a.arrs {
			if a.arrs[i], err = d.arrayValue(key, i, depth+1); err != nil {
				return Value{}, err
			}
		}
	case elem.fixedSize() > 0:
		sz := elem.fixedSize()
		if a.n, err = d.count(lblIdx("array length of", key, idx), int64(sz)); err != nil {
			return Value{}, err
		}
		a.raw = make([]byte, a.n*sz)
		if err := d.read(a.raw, lblIdx("array data of", key, idx)); err != nil {
			return Value{}, err
		}
	default:
		return Value{}, fmt.Errorf("gguf: metadata key %q is an array of unknown value type %d", key, et)
	}
	return Value{typ: TypeArray, arr: a}, nil
}
