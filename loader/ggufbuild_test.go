package loader

import (
	"bytes"
	"encoding/binary"
	"math"

	"github.com/tabshard/tabshard/quant"
)

// ggufBuilder writes small GGUF files for tests and fuzz seeds. Fields left
// at zero get valid defaults; the override fields let a test corrupt exactly
// one thing.
type ggufBuilder struct {
	version uint32
	kv      bytes.Buffer
	nKV     uint64
	tensors []testTensor
	align   uint64 // data alignment used to lay out offsets; 0 means 32

	// Overrides written instead of the true values when non-nil.
	tensorCount *uint64
	kvCount     *uint64
}

type testTensor struct {
	name   string
	dims   []uint64
	typ    quant.Type
	data   []byte
	offset *uint64 // relative offset override
}

func newGGUF() *ggufBuilder { return &ggufBuilder{version: 3} }

func putU32(b *bytes.Buffer, v uint32) { _ = binary.Write(b, binary.LittleEndian, v) }
func putU64(b *bytes.Buffer, v uint64) { _ = binary.Write(b, binary.LittleEndian, v) }
func putStr(b *bytes.Buffer, s string) { putU64(b, uint64(len(s))); b.WriteString(s) }

// raw adds a key whose value bytes (after the type) are given verbatim.
func (g *ggufBuilder) raw(key string, t ValueType, val []byte) *ggufBuilder {
	putStr(&g.kv, key)
	putU32(&g.kv, uint32(t))
	g.kv.Write(val)
	g.nKV++
	return g
}

func le(v any) []byte {
	var b bytes.Buffer
	_ = binary.Write(&b, binary.LittleEndian, v)
	return b.Bytes()
}

func strBytes(s string) []byte { var b bytes.Buffer; putStr(&b, s); return b.Bytes() }

func (g *ggufBuilder) str(key, v string) *ggufBuilder { return g.raw(key, TypeString, strBytes(v)) }
func (g *ggufBuilder) u32(key string, v uint32) *ggufBuilder {
	return g.raw(key, TypeUint32, le(v))
}
func (g *ggufBuilder) f32(key string, v float32) *ggufBuilder {
	return g.raw(key, TypeFloat32, le(math.Float32bits(v)))
}

// arr adds an array of fixed-width or string elements given as encoded bytes.
func (g *ggufBuilder) arr(key string, elem ValueType, n uint64, body []byte) *ggufBuilder {
	var b bytes.Buffer
	putU32(&b, uint32(elem))
	putU64(&b, n)
	b.Write(body)
	return g.raw(key, TypeArray, b.Bytes())
}

func (g *ggufBuilder) tensor(name string, typ quant.Type, dims []uint64, data []byte) *ggufBuilder {
	g.tensors = append(g.tensors, testTensor{name: name, dims: dims, typ: typ, data: data})
	return g
}

func (g *ggufBuilder) bytes() []byte {
	var b bytes.Buffer
	b.WriteString("GGUF")
	putU32(&b, g.version)
	nt := uint64(len(g.tensors))
	if g.tensorCount != nil {
		nt = *g.tensorCount
	}
	nkv := g.nKV
	if g.kvCount != nil {
		nkv = *g.kvCount
	}
	putU64(&b, nt)
	putU64(&b, nkv)
	b.Write(g.kv.Bytes())
	align := g.align
	if align == 0 {
		align = 32
	}
	var off uint64
	for _, t := range g.tensors {
		putStr(&b, t.name)
		putU32(&b, uint32(len(t.dims)))
		for _, d := range t.dims {
			putU64(&b, d)
		}
		putU32(&b, uint32(t.typ))
		o := off
		if t.offset != nil {
			o = *t.offset
		}
		putU64(&b, o)
		off += (uint64(len(t.data)) + align - 1) &^ (align - 1)
	}
	if len(g.tensors) == 0 {
		return b.Bytes()
	}
	for b.Len()%int(align) != 0 {
		b.WriteByte(0)
	}
	// Pad between tensors but not after the last, so every truncation cuts
	// into tensor data.
	for i, t := range g.tensors {
		b.Write(t.data)
		for i < len(g.tensors)-1 && b.Len()%int(align) != 0 {
			b.WriteByte(0)
		}
	}
	return b.Bytes()
}

// seq returns n bytes 0, 1, 2, ... so misplaced bytes show.
func seq(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + 3)
	}
	return b
}

// validGGUF is a small file exercising every metadata type, nested arrays
// and three tensors.
func validGGUF() *ggufBuilder {
	g := newGGUF().
		str("general.architecture", "llama").
		u32("general.alignment", 32).
		u32("llama.block_count", 1).
		raw("k.u8", TypeUint8, []byte{200}).
		raw("k.i8", TypeInt8, []byte{0xff}).
		raw("k.u16", TypeUint16, le(uint16(65535))).
		raw("k.i16", TypeInt16, le(int16(-300))).
		raw("k.i32", TypeInt32, le(int32(-5))).
		f32("k.f32", 1.5).
		raw("k.bool", TypeBool, []byte{1}).
		raw("k.u64", TypeUint64, le(uint64(math.MaxUint64))).
		raw("k.i64", TypeInt64, le(int64(-1<<40))).
		raw("k.f64", TypeFloat64, le(math.Float64bits(2.25))).
		arr("k.strs", TypeString, 2, append(strBytes("a"), strBytes("bc")...)).
		arr("k.f32s", TypeFloat32, 2, le([]float32{0.5, -1})).
		arr("k.i32s", TypeInt32, 3, le([]int32{-1, 0, 7}))
	// An array of two arrays of u8: [[1,2],[3]].
	var nested bytes.Buffer
	putU32(&nested, uint32(TypeUint8))
	putU64(&nested, 2)
	nested.Write([]byte{1, 2})
	putU32(&nested, uint32(TypeUint8))
	putU64(&nested, 1)
	nested.Write([]byte{3})
	g.arr("k.nested", TypeArray, 2, nested.Bytes())
	g.tensor("a.weight", quant.F32, []uint64{4, 2}, seq(32))
	g.tensor("b.weight", quant.F16, []uint64{3}, seq(6))
	g.tensor("c.weight", quant.Q8_0, []uint64{32, 1}, seq(34))
	return g
}
