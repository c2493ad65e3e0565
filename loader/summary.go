package loader

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/tabshard/tabshard/quant"
)

// MetaEntry is one metadata key for display: its type and a short printable
// value (long strings and arrays are abbreviated).
type MetaEntry struct {
	Key   string
	Type  string // "u32", "string", "array[string]", ...
	Value string
}

// Entries lists the metadata in file order for an inspect command.
func (m *Metadata) Entries() []MetaEntry {
	out := make([]MetaEntry, len(m.keys))
	for i, k := range m.keys {
		v := m.vals[i]
		out[i] = MetaEntry{Key: k, Type: v.TypeName(), Value: v.Short()}
	}
	return out
}

// TypeName is the value's type, with the element type for arrays.
func (v Value) TypeName() string {
	if v.typ == TypeArray && v.arr != nil {
		return "array[" + v.arr.elem.String() + "]"
	}
	return v.typ.String()
}

const (
	shortStringMax = 60 // characters of a string shown before "…"
	shortArrayMax  = 4  // elements of an array shown
)

// Short is a one-line printable form of the value.
func (v Value) Short() string {
	switch {
	case v.typ == TypeString:
		s := v.str
		if r := []rune(s); len(r) > shortStringMax {
			s = string(r[:shortStringMax]) + "…"
		}
		return strconv.Quote(s)
	case v.typ == TypeBool:
		return strconv.FormatBool(v.bits != 0)
	case v.typ == TypeFloat32 || v.typ == TypeFloat64:
		f, _ := v.asFloat()
		bitsz := 64
		if v.typ == TypeFloat32 {
			bitsz = 32
		}
		return strconv.FormatFloat(f, 'g', -1, bitsz)
	case v.typ == TypeUint64:
		return strconv.FormatUint(v.bits, 10)
	case v.typ.isInt():
		i, _ := v.asInt64()
		return strconv.FormatInt(i, 10)
	case v.typ == TypeArray && v.arr != nil:
		var b strings.Builder
		fmt.Fprintf(&b, "[%d]{", v.arr.n)
		for i := 0; i < v.arr.n && i < shortArrayMax; i++ {
			if i > 0 {
				b.WriteString(", ")
			}
			e, _ := v.Index(i)
			b.WriteString(e.Short())
		}
		if v.arr.n > shortArrayMax {
			b.WriteString(", …")
		}
		b.WriteString("}")
		return b.String()
	}
	return "?"
}

// TypeTotal is the share of a model stored in one tensor type.
type TypeTotal struct {
	Type    quant.Type
	Tensors int
	Params  uint64
	Bytes   int64
}

// Summary is what an inspect command prints about a model.
type Summary struct {
	Format  string
	Version uint32 // GGUF version, 0 for safetensors
	Tensors int
	Params  uint64 // total weights over all tensors
	Bytes   int64  // total tensor data bytes
	ByType  []TypeTotal
	// BitsPerWeight is Bytes*8/Params, the average storage cost.
	BitsPerWeight float64
}

// Summary totals the tensor table by type.
func (m *Model) Summary() Summary {
	s := Summary{Format: m.Format, Version: m.Version, Tensors: len(m.Tensors)}
	by := make(map[quant.Type]*TypeTotal)
	for _, t := range m.Tensors {
		tt := by[t.Type]
		if tt == nil {
			tt = &TypeTotal{Type: t.Type}
			by[t.Type] = tt
		}
		n := t.Elements()
		tt.Tensors++
		tt.Params += n
		tt.Bytes += t.Size
		s.Params += n
		s.Bytes += t.Size
	}
	for _, tt := range by {
		s.ByType = append(s.ByType, *tt)
	}
	sort.Slice(s.ByType, func(i, j int) bool { return s.ByType[i].Bytes > s.ByType[j].Bytes })
	if s.Params > 0 {
		s.BitsPerWeight = float64(s.Bytes) * 8 / float64(s.Params)
	}
	return s
}

// DimsString prints dims in ggml order, e.g. "256×32000".
func (t TensorInfo) DimsString() string {
	parts := make([]string, len(t.Dims))
	for i, d := range t.Dims {
		parts[i] = strconv.FormatUint(d, 10)
	}
	return strings.Join(parts, "×")
}
