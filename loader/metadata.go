package loader

import (
	"encoding/binary"
	"fmt"
	"math"
)

// ValueType is a GGUF metadata value type id (gguf_type in gguf.h).
type ValueType uint32

// GGUF metadata value types, numbered as the file stores them.
const (
	TypeUint8   ValueType = 0
	TypeInt8    ValueType = 1
	TypeUint16  ValueType = 2
	TypeInt16   ValueType = 3
	TypeUint32  ValueType = 4
	TypeInt32   ValueType = 5
	TypeFloat32 ValueType = 6
	TypeBool    ValueType = 7
	TypeString  ValueType = 8
	TypeArray   ValueType = 9
	TypeUint64  ValueType = 10
	TypeInt64   ValueType = 11
	TypeFloat64 ValueType = 12
)

var valueTypeNames = [...]string{"u8", "i8", "u16", "i16", "u32", "i32", "f32", "bool", "string", "array", "u64", "i64", "f64"}

func (t ValueType) String() string {
	if int(t) < len(valueTypeNames) {
		return valueTypeNames[t]
	}
	return fmt.Sprintf("valuetype(%d)", uint32(t))
}

// fixedSize is the stored size of a fixed-width type, 0 for string/array or
// unknown ids.
func (t ValueType) fixedSize() int {
	switch t {
	case TypeUint8, TypeInt8, TypeBool:
		return 1
	case TypeUint16, TypeInt16:
		return 2
	case TypeUint32, TypeInt32, TypeFloat32:
		return 4
	case TypeUint64, TypeInt64, TypeFloat64:
		return 8
	}
	return 0
}

func (t ValueType) isInt() bool {
	switch t {
	case TypeUint8, TypeInt8, TypeUint16, TypeInt16, TypeUint32, TypeInt32, TypeUint64, TypeInt64:
		return true
	}
	return false
}

func (t ValueType) isSigned() bool {
	return t == TypeInt8 || t == TypeInt16 || t == TypeInt32 || t == TypeInt64
}

// Value is one metadata value. Scalars keep their raw little-endian bits;
// arrays of fixed-width elements keep the file's bytes as they are, so a
// 32000-entry score table costs its own size and no more.
type Value struct {
	typ  ValueType
	bits uint64 // fixed-width scalars, zero-extended raw bits
	str  string
	arr  *array
}

type array struct {
	elem ValueType
	n    int
	raw  []byte   // fixed-width elements, little-endian
	strs []string // string elements
	arrs []Value  // nested array elements (each of type TypeArray)
}

// Type is the value's type id.
func (v Value) Type() ValueType { return v.typ }

// ElemType is the element type of an array value (TypeArray's only).
func (v Value) ElemType() ValueType {
	if v.arr == nil {
		return 0
	}
	return v.arr.elem
}

// Len is the element count of an array value, 0 for scalars.
func (v Value) Len() int {
	if v.arr == nil {
		return 0
	}
	return v.arr.n
}

// Index returns element i of an array value.
func (v Value) Index(i int) (Value, bool) {
	a := v.arr
	if a == nil || i < 0 || i >= a.n {
		return Value{}, false
	}
	switch {
	case a.elem == TypeString:
		return Value{typ: TypeString, str: a.strs[i]}, true
	case a.elem == TypeArray:
		return a.arrs[i], true
	default:
		sz := a.elem.fixedSize()
		return Value{typ: a.elem, bits: leBits(a.raw[i*sz : (i+1)*sz])}, true
	}
}

func leBits(b []byte) uint64 {
	switch len(b) {
	case 1:
		return uint64(b[0])
	case 2:
		return uint64(binary.LittleEndian.Uint16(b))
	case 4:
		return uint64(binary.LittleEndian.Uint32(b))
	case 8:
		return binary.LittleEndian.Uint64(b)
	}
	return 0
}

// asInt64 gives a signed view of an integer scalar (u64 beyond MaxInt64 fails).
func (v Value) asInt64() (int64, bool) {
	switch v.typ {
	case TypeInt8:
		return int64(int8(v.bits)), true
	case TypeInt16:
		return int64(int16(v.bits)), true
	case TypeInt32:
		return int64(int32(v.bits)), true
	case TypeInt64:
		return int64(v.bits), true
	case TypeUint8, TypeUint16, TypeUint32:
		return int64(v.bits), true
	case TypeUint64:
		if v.bits > math.MaxInt64 {
			return 0, false
		}
		return int64(v.bits), true
	}
	return 0, false
}

func (v Value) asFloat() (float64, bool) {
	switch v.typ {
	case TypeFloat32:
		return float64(math.Float32frombits(uint32(v.bits))), true
	case TypeFloat64:
		return math.Float64frombits(v.bits), true
	}
	if v.typ == TypeUint64 {
		return float64(v.bits), true
	}
	if i, ok := v.asInt64(); ok {
		return float64(i), true
	}
	return 0, false
}

// Constructors, used when metadata is synthesised (safetensors + config.json).

// stringValue makes a string value.
func stringValue(s string) Value { return Value{typ: TypeString, str: s} }

// uint32Value makes a u32 value.
func uint32Value(u uint32) Value { return Value{typ: TypeUint32, bits: uint64(u)} }

// float32Value makes an f32 value.
func float32Value(f float32) Value { return Value{typ: TypeFloat32, bits: uint64(math.Float32bits(f))} }

// Metadata is a GGUF key/value table in file order.
type Metadata struct {
	keys  []string
	vals  []Value
	index map[string]int
}

// set adds or replaces key.
func (m *Metadata) set(key string, v Value) {
	if m.index == nil {
		m.index = make(map[string]int)
	}
	if i, ok := m.index[key]; ok {
		m.vals[i] = v
		return
	}
	m.index[key] = len(m.keys)
	m.keys = append(m.keys, key)
	m.vals = append(m.vals, v)
}

// Get returns the value stored under key.
func (m *Metadata) Get(key string) (Value, bool) {
	i, ok := m.index[key]
	if !ok {
		return Value{}, false
	}
	return m.vals[i], true
}

// Has reports whether key is present.
func (m *Metadata) Has(key string) bool { _, ok := m.index[key]; return ok }

// Keys lists the keys in file order.
func (m *Metadata) Keys() []string { return append([]string(nil), m.keys...) }

// Len is the number of keys.
func (m *Metadata) Len() int { return len(m.keys) }

func (m *Metadata) lookup(key string, want string) (Value, error) {
	v, ok := m.Get(key)
	if !ok {
		return Value{}, fmt.Errorf("loader: metadata key %q missing (want %s)", key, want)
	}
	return v, nil
}

func typeErr(key string, v Value, want string) error {
	t := v.typ.String()
	if v.typ == TypeArray {
		t = fmt.Sprintf("array of %s", v.arr.elem)
	}
	return fmt.Errorf("loader: metadata key %q is %s, want %s", key, t, want)
}

// String returns a string value.
func (m *Metadata) String(key string) (string, error) {
	v, err := m.lookup(key, "string")
	if err != nil {
		return "", err
	}
	if v.typ != TypeString {
		return "", typeErr(key, v, "string")
	}
	return v.str, nil
}

// Uint returns a value of any integer type as uint64; negative values fail.
func (m *Metadata) Uint(key string) (uint64, error) {
	v, err := m.lookup(key, "unsigned integer")
	if err != nil {
		return 0, err
	}
	if !v.typ.isInt() {
		return 0, typeErr(key, v, "integer")
	}
	if v.typ == TypeUint64 {
		return v.bits, nil
	}
	i, _ := v.asInt64()
	if i < 0 {
		return 0, fmt.Errorf("loader: metadata key %q is negative (%d)", key, i)
	}
	return uint64(i), nil
}

// Int returns a value of any integer type as int64; u64 values above MaxInt64
// fail.
func (m *Metadata) Int(key string) (int64, error) {
	v, err := m.lookup(key, "integer")
	if err != nil {
		return 0, err
	}
	if !v.typ.isInt() {
		return 0, typeErr(key, v, "integer")
	}
	i, ok := v.asInt64()
	if !ok {
		return 0, fmt.Errorf("loader: metadata key %q (%d) overflows int64", key, v.bits)
	}
	return i, nil
}

// Float returns an f32 or f64 value (integers are converted too).
func (m *Metadata) Float(key string) (float64, error) {
	v, err := m.lookup(key, "float")
	if err != nil {
		return 0, err
	}
	f, ok := v.asFloat()
	if !ok {
		return 0, typeErr(key, v, "float")
	}
	return f, nil
}

// Bool returns a bool value.
func (m *Metadata) Bool(key string) (bool, error) {
	v, err := m.lookup(key, "bool")
	if err != nil {
		return false, err
	}
	if v.typ != TypeBool {
		return false, typeErr(key, v, "bool")
	}
	return v.bits != 0, nil
}

// Strings returns an array of strings.
func (m *Metadata) Strings(key string) ([]string, error) {
	v, err := m.lookup(key, "array of string")
	if err != nil {
		return nil, err
	}
	if v.typ != TypeArray || v.arr.elem != TypeString {
		return nil, typeErr(key, v, "array of string")
	}
	return append([]string(nil), v.arr.strs...), nil
}

// Float32s returns an array of f32 (f64 elements are narrowed).
func (m *Metadata) Float32s(key string) ([]float32, error) {
	v, err := m.lookup(key, "array of f32")
	if err != nil {
		return nil, err
	}
	if v.typ != TypeArray || (v.arr.elem != TypeFloat32 && v.arr.elem != TypeFloat64) {
		return nil, typeErr(key, v, "array of f32")
	}
	out := make([]float32, v.arr.n)
	for i := range out {
		e, _ := v.Index(i)
		f, _ := e.asFloat()
		out[i] = float32(f)
	}
	return out, nil
}

// Int32s returns an array of any integer type whose elements all fit int32.
func (m *Metadata) Int32s(key string) ([]int32, error) {
	v, err := m.lookup(key, "array of i32")
	if err != nil {
		return nil, err
	}
	if v.typ != TypeArray || !v.arr.elem.isInt() {
		return nil, typeErr(key, v, "array of i32")
	}
	out := make([]int32, v.arr.n)
	for i := range out {
		e, _ := v.Index(i)
		x, ok := e.asInt64()
		if !ok || x < math.MinInt32 || x > math.MaxInt32 {
			return nil, fmt.Errorf("loader: metadata key %q element %d does not fit int32", key, i)
		}
		out[i] = int32(x)
	}
	return out, nil
}
