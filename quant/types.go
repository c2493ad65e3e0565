// Package quant owns the GGUF-compatible block formats: their layout, bytes per
// weight, dequantization, dot products against f32 activations on the CPU, and
// quantization from f32 with llama.cpp's reference algorithms.
package quant

import (
	"fmt"
	"math"
)

// Type is a ggml tensor type. The numeric values are the ids GGUF stores, so a
// Type read from a file needs no translation.
type Type uint32

// ggml type ids (ggml.h). Gaps are ids llama.cpp has retired.
const (
	F32     Type = 0
	F16     Type = 1
	Q4_0    Type = 2
	Q4_1    Type = 3
	Q5_0    Type = 6
	Q5_1    Type = 7
	Q8_0    Type = 8
	Q8_1    Type = 9
	Q2_K    Type = 10
	Q3_K    Type = 11
	Q4_K    Type = 12
	Q5_K    Type = 13
	Q6_K    Type = 14
	Q8_K    Type = 15
	IQ2_XXS Type = 16
	IQ2_XS  Type = 17
	IQ3_XXS Type = 18
	IQ1_S   Type = 19
	IQ4_NL  Type = 20
	IQ3_S   Type = 21
	IQ2_S   Type = 22
	IQ4_XS  Type = 23
	I8      Type = 24
	I16     Type = 25
	I32     Type = 26
	I64     Type = 27
	F64     Type = 28
	IQ1_M   Type = 29
	BF16    Type = 30
	TQ1_0   Type = 34
	TQ2_0   Type = 35
	MXFP4   Type = 39
)

// layout describes one type's block: elems weights stored in bytes bytes.
type layout struct {
	name  string
	elems int
	bytes int
}

var layouts = map[Type]layout{
	F32: {"F32", 1, 4}, F16: {"F16", 1, 2}, BF16: {"BF16", 1, 2}, F64: {"F64", 1, 8},
	I8: {"I8", 1, 1}, I16: {"I16", 1, 2}, I32: {"I32", 1, 4}, I64: {"I64", 1, 8},
	Q4_0: {"Q4_0", 32, 18}, Q4_1: {"Q4_1", 32, 20}, Q5_0: {"Q5_0", 32, 22}, Q5_1: {"Q5_1", 32, 24},
	Q8_0: {"Q8_0", 32, 34}, Q8_1: {"Q8_1", 32, 36},
	Q2_K: {"Q2_K", 256, 84}, Q3_K: {"Q3_K", 256, 110}, Q4_K: {"Q4_K", 256, 144},
	Q5_K: {"Q5_K", 256, 176}, Q6_K: {"Q6_K", 256, 210}, Q8_K: {"Q8_K", 256, 292},
	IQ2_XXS: {"IQ2_XXS", 256, 66}, IQ2_XS: {"IQ2_XS", 256, 74}, IQ3_XXS: {"IQ3_XXS", 256, 98},
	IQ1_S: {"IQ1_S", 256, 50}, IQ4_NL: {"IQ4_NL", 32, 18}, IQ3_S: {"IQ3_S", 256, 110},
	IQ2_S: {"IQ2_S", 256, 82}, IQ4_XS: {"IQ4_XS", 256, 136}, IQ1_M: {"IQ1_M", 256, 56},
	TQ1_0: {"TQ1_0", 256, 54}, TQ2_0: {"TQ2_0", 256, 66}, MXFP4: {"MXFP4", 32, 17},
}

// Known reports whether t is a ggml type id this package recognises (it may
// still be one we cannot compute with; see Supported).
func (t Type) Known() bool { _, ok := layouts[t]; return ok }

func (t Type) String() string {
	if l, ok := layouts[t]; ok {
		return l.name
	}
	return fmt.Sprintf("type(%d)", uint32(t))
}

// BlockElems is the number of weights in one block (1 for plain types).
func (t Type) BlockElems() int { return layouts[t].elems }

// BlockBytes is the size in bytes of one block.
func (t Type) BlockBytes() int { return layouts[t].bytes }

// BitsPerWeight is the storage cost of one weight, scales included.
func (t Type) BitsPerWeight() float64 {
	l := layouts[t]
	if l.elems == 0 {
		return 0
	}
	return float64(l.bytes*8) / float64(l.elems)
}

// ParseType returns the type named s (as String prints it).
func ParseType(s string) (Type, error) {
	for t, l := range layouts {
		if l.name == s {
			return t, nil
		}
	}
	return 0, fmt.Errorf("quant: unknown format %q", s)
}

// RowBytes is the byte size of a row of n weights of type t. It fails when t is
// unknown or n is not a whole number of blocks.
func (t Type) RowBytes(n int) (int, error) {
	l, ok := layouts[t]
	if !ok {
		return 0, fmt.Errorf("quant: unknown type id %d", uint32(t))
	}
	if n < 0 || n%l.elems != 0 {
		return 0, fmt.Errorf("quant: %s rows hold multiples of %d weights, not %d", l.name, l.elems, n)
	}
	return n / l.elems * l.bytes, nil
}

// TensorBytes is the byte size of a tensor of n weights of type t, with
// overflow checked (n comes from files we do not trust).
func (t Type) TensorBytes(n uint64) (uint64, error) {
	l, ok := layouts[t]
	if !ok {
		return 0, fmt.Errorf("quant: unknown type id %d", uint32(t))
	}
	if n%uint64(l.elems) != 0 {
		return 0, fmt.Errorf("quant: %s tensors hold multiples of %d weights, not %d", l.name, l.elems, n)
	}
	blocks := n / uint64(l.elems)
	if blocks > math.MaxInt64/uint64(l.bytes) {
		return 0, fmt.Errorf("quant: %s tensor of %d weights overflows", l.name, n)
	}
	return blocks * uint64(l.bytes), nil
}
