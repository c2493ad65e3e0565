package loader

import (
	"encoding/binary"
	"fmt"
	"math"
)

// MetaKV is one metadata key and its value, in the order a writer emits them.
type MetaKV struct {
	Key   string
	Value Value
}

// KVs lists the metadata in file order, ready to be edited and written back
// with WriteGGUF (values are shared, not copied: they are immutable).
func (m *Metadata) KVs() []MetaKV {
	out := make([]MetaKV, len(m.keys))
	for i, k := range m.keys {
		out[i] = MetaKV{Key: k, Value: m.vals[i]}
	}
	return out
}

// SetKV replaces key's value in kvs, or appends it when absent, keeping the
// order of the other keys.
func SetKV(kvs []MetaKV, key string, v Value) []MetaKV {
	for i := range kvs {
		if kvs[i].Key == key {
			kvs[i].Value = v
			return kvs
		}
	}
	return append(kvs, MetaKV{Key: key, Value: v})
}

// DeleteKV removes key from kvs (if present), keeping the order of the rest.
func DeleteKV(kvs []MetaKV, key string) []MetaKV {
	out := kvs[:0]
	for _, kv := range kvs {
		if kv.Key != key {
			out = append(out, kv)
		}
	}
	return out
}

// Value constructors for metadata being written. Scalars keep their exact
// GGUF type so a rewritten file stores the same bytes.

// Uint8Value makes a u8 value.
func Uint8Value(x uint8) Value { return Value{typ: TypeUint8, bits: uint64(x)} }

// Int8Value makes an i8 value.
func Int8Value(x int8) Value { return Value{typ: TypeInt8, bits: uint64(uint8(x))} }

// Uint16Value makes a u16 value.
func Uint16Value(x uint16) Value { return Value{typ: TypeUint16, bits: uint64(x)} }

// Int16Value makes an i16 value.
func Int16Value(x int16) Value { return Value{typ: TypeInt16, bits: uint64(uint16(x))} }

// Uint32Value makes a u32 value.
func Uint32Value(x uint32) Value { return uint32Value(x) }

// Int32Value makes an i32 value.
func Int32Value(x int32) Value { return Value{typ: TypeInt32, bits: uint64(uint32(x))} }

// Uint64Value makes a u64 value.
func Uint64Value(x uint64) Value { return Value{typ: TypeUint64, bits: x} }

// Int64Value makes an i64 value.
func Int64Value(x int64) Value { return Value{typ: TypeInt64, bits: uint64(x)} }

// Float32Value makes an f32 value.
func Float32Value(x float32) Value { return float32Value(x) }

// Float64Value makes an f64 value.
func Float64Value(x float64) Value { return Value{typ: TypeFloat64, bits: math.Float64bits(x)} }

// BoolValue makes a bool value.
func BoolValue(x bool) Value {
	if x {
		return Value{typ: TypeBool, bits: 1}
	}
	return Value{typ: TypeBool}
}

// StringValue makes a string value.
func StringValue(s string) Value { return stringValue(s) }

// StringsValue makes an array of strings.
func StringsValue(ss []string) Value {
	return Value{typ: TypeArray, arr: &array{elem: TypeString, n: len(ss), strs: append([]string(nil), ss...)}}
}

// Float32sValue makes an array of f32.
func Float32sValue(xs []float32) Value {
	raw := make([]byte, 4*len(xs))
	for i, x := range xs {
		binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(x))
	}
	return Value{typ: TypeArray, arr: &array{elem: TypeFloat32, n: len(xs), raw: raw}}
}

// Int32sValue makes an array of i32.
func Int32sValue(xs []int32) Value {
	raw := make([]byte, 4*len(xs))
	for i, x := range xs {
		binary.LittleEndian.PutUint32(raw[4*i:], uint32(x))
	}
	return Value{typ: TypeArray, arr: &array{elem: TypeInt32, n: len(xs), raw: raw}}
}

// ArrayValue makes an array of elems, which must all be of type elem (any
// type, nested arrays included).
func ArrayValue(elem ValueType, elems []Value) (Value, error) {
	a := &array{elem: elem, n: len(elems)}
	switch {
	case elem == TypeString:
		a.strs = make([]string, len(elems))
	case elem == TypeArray:
		a.arrs = make([]Value, len(elems))
	case elem.fixedSize() > 0:
		a.raw = make([]byte, 0, len(elems)*elem.fixedSize())
	default:
		return Value{}, fmt.Errorf("loader: array of unknown value type %d", uint32(elem))
	}
	for i, e := range elems {
		if e.typ != elem {
			return Value{}, fmt.Errorf("loader: array element %d is %s, want %s", i, e.typ, elem)
		}
		switch {
		case elem == TypeString:
			a.strs[i] = e.str
		case elem == TypeArray:
			if e.arr == nil {
				return Value{}, fmt.Errorf("loader: array element %d is an empty array value", i)
			}
			a.arrs[i] = e
		default:
			var b [8]byte
			binary.LittleEndian.PutUint64(b[:], e.bits)
			a.raw = append(a.raw, b[:elem.fixedSize()]...)
		}
	}
	return Value{typ: TypeArray, arr: a}, nil
}
