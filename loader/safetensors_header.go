package loader

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"sort"

	"github.com/tabshard/tabshard/quant"
)

// maxSafetensorsHeader bounds the JSON header, as the reference safetensors
// implementation does (100 MB); real headers are kilobytes.
const maxSafetensorsHeader = 100 << 20

// stTensor is one entry of a safetensors header, validated.
type stTensor struct {
	name  string
	typ   quant.Type
	shape []uint64 // PyTorch order, outermost first
	begin int64    // absolute offset in the file
	size  int64
}

// stHeader is a parsed safetensors file header.
type stHeader struct {
	dataStart int64 // 8 + header length
	tensors   []stTensor
}

// stEntry is a header entry as JSON spells it.
type stEntry struct {
	Dtype       string   `json:"dtype"`
	Shape       []uint64 `json:"shape"`
	DataOffsets []uint64 `json:"data_offsets"`
}

// safetensorsDtypes maps the dtypes we load to ggml types; others named by
// the format are recognised only to be refused by name.
var safetensorsDtypes = map[string]quant.Type{"F32": quant.F32, "F16": quant.F16, "BF16": quant.BF16}

var otherSafetensorsDtypes = map[string]bool{
	"BOOL": true, "U8": true, "I8": true, "I16": true, "U16": true, "I32": true, "U32": true,
	"I64": true, "U64": true, "F64": true, "F8_E5M2": true, "F8_E4M3": true, "F8_E8M0": true,
	"F6_E2M3": true, "F6_E3M2": true, "F4": true, "C64": true,
}

// parseSafetensorsHeader reads and validates the header of a safetensors file
// of size bytes: the u64 header length, the JSON table, dtypes, shapes and
// data offsets (within the file, sized exactly, not overlapping).
func parseSafetensorsHeader(r io.ReaderAt, size int64) (*stHeader, error) {
	var lenBuf [8]byte
	if size < 8 {
		return nil, fmt.Errorf("safetensors: file of %d bytes is too short for a header", size)
	}
	if _, err := r.ReadAt(lenBuf[:], 0); err != nil {
		return nil, fmt.Errorf("safetensors: reading header length: %w", err)
	}
	n := binary.LittleEndian.Uint64(lenBuf[:])
	if n < 2 || n > maxSafetensorsHeader || n > uint64(size-8) {
		return nil, fmt.Errorf("safetensors: header length %d is impossible (file is %d bytes, limit %d)", n, size, maxSafetensorsHeader)
	}
	hdr := make([]byte, n)
	if got, err := r.ReadAt(hdr, 8); got != len(hdr) {
		return nil, fmt.Errorf("safetensors: reading %d-byte header: %w", n, err)
	}
	if hdr[0] != '{' {
		return nil, fmt.Errorf("safetensors: header does not start with a JSON object")
	}
	h := &stHeader{dataStart: 8 + int64(n)}
	entries, err := decodeSafetensorsJSON(hdr)
	if err != nil {
		return nil, err
	}
	dataLen := uint64(size - h.dataStart)
	for _, e := range entries {
		t, err := validateSafetensorsEntry(e.name, e.entry, dataLen)
		if err != nil {
			return nil, err
		}
		t.begin += h.dataStart
		h.tensors = append(h.tensors, t)
	}
	// Overlap check over a sorted copy; keep file order for the caller.
	sorted := append([]stTensor(nil), h.tensors...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].begin < sorted[j].begin })
	var end int64
	var last string
	for _, t := range sorted {
		if t.size == 0 {
			continue
		}
		if t.begin < end {
			return nil, fmt.Errorf("safetensors: tensors %q and %q overlap", last, t.name)
		}
		end, last = t.begin+t.size, t.name
	}
	return h, nil
}

type namedEntry struct {
	name  string
	entry stEntry
}

// decodeSafetensorsJSON walks the header object token by token so duplicate
// names are caught (encoding/json would silently keep the last).
func decodeSafetensorsJSON(hdr []byte) ([]namedEntry, error) {
	dec := json.NewDecoder(bytes.NewReader(hdr))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, fmt.Errorf("safetensors: header is not a JSON object")
	}
	seen := make(map[string]bool)
	var out []namedEntry
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("safetensors: header JSON: %w", err)
		}
		name, ok := tok.(string)
		if !ok {
			return nil, fmt.Errorf("safetensors: header JSON: key is not a string")
		}
		if seen[name] {
			return nil, fmt.Errorf("safetensors: duplicate tensor name %q", name)
		}
		seen[name] = true
		if name == "__metadata__" {
			var meta map[string]string
			if err := dec.Decode(&meta); err != nil {
				return nil, fmt.Errorf("safetensors: __metadata__ is not a map of strings: %w", err)
			}
			continue
		}
		var e stEntry
		if err := dec.Decode(&e); err != nil {
			return nil, fmt.Errorf("safetensors: tensor %q entry: %w", name, err)
		}
		out = append(out, namedEntry{name, e})
	}
	if tok, err := dec.Token(); err != nil || tok != json.Delim('}') {
		return nil, fmt.Errorf("safetensors: header JSON object is not closed")
	}
	// Writers may pad the header with spaces; anything else is corruption.
	rest := hdr[dec.InputOffset():]
	if len(bytes.TrimRight(rest, " \t\r\n\x00")) != 0 {
		return nil, fmt.Errorf("safetensors: %d bytes of trailing garbage after the header JSON", len(rest))
	}
	return out, nil
}

func validateSafetensorsEntry(name string, e stEntry, dataLen uint64) (stTensor, error) {
	t := stTensor{name: name, shape: e.Shape}
	typ, ok := safetensorsDtypes[e.Dtype]
	if !ok {
		if otherSafetensorsDtypes[e.Dtype] {
			return t, fmt.Errorf("safetensors: tensor %q has dtype %s; only F32, F16 and BF16 are supported", name, e.Dtype)
		}
		return t, fmt.Errorf("safetensors: tensor %q has unknown dtype %q", name, e.Dtype)
	}
	t.typ = typ
	if len(e.Shape) > ggmlMaxDims {
		return t, fmt.Errorf("safetensors: tensor %q has %d dims, at most %d are supported", name, len(e.Shape), ggmlMaxDims)
	}
	if len(e.DataOffsets) != 2 {
		return t, fmt.Errorf("safetensors: tensor %q data_offsets has %d values, want 2", name, len(e.DataOffsets))
	}
	begin, end := e.DataOffsets[0], e.DataOffsets[1]
	if begin > end || end > dataLen {
		return t, fmt.Errorf("safetensors: tensor %q data_offsets [%d, %d) are outside the %d data bytes", name, begin, end, dataLen)
	}
	want, err := tensorSize(name, typ, e.Shape)
	if err != nil {
		return t, fmt.Errorf("safetensors: %w", err)
	}
	if uint64(want) != end-begin {
		return t, fmt.Errorf("safetensors: tensor %q holds %d bytes, but shape %v of %s needs %d", name, end-begin, e.Shape, e.Dtype, want)
	}
	t.begin, t.size = int64(begin), want
	return t, nil
}
