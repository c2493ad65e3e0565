package loader

import (
	"bytes"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/tabshard/tabshard/internal/testdata"
	"github.com/tabshard/tabshard/quant"
)

// rewrite copies m's metadata and tensors through WriteGGUF.
func rewrite(t *testing.T, m *Model) []byte {
	t.Helper()
	ts := make([]TensorToWrite, len(m.Tensors))
	for i, info := range m.Tensors {
		data, err := m.ReadTensor(info.Name)
		if err != nil {
			t.Fatal(err)
		}
		ts[i] = TensorToWrite{TensorSpec{info.Name, info.Type, info.Dims}, data}
	}
	var buf bytes.Buffer
	n, err := WriteGGUF(&buf, m.Meta.KVs(), ts)
	if err != nil {
		t.Fatal(err)
	}
	if n != int64(buf.Len()) {
		t.Fatalf("WriteGGUF reported %d bytes, wrote %d", n, buf.Len())
	}
	return buf.Bytes()
}

// sameModel checks two models hold the same metadata (types and bits) and
// tensors (specs and bytes).
func sameModel(t *testing.T, a, b *Model) {
	t.Helper()
	if !reflect.DeepEqual(a.Meta.keys, b.Meta.keys) || !reflect.DeepEqual(a.Meta.vals, b.Meta.vals) {
		t.Fatal("metadata differs")
	}
	if len(a.Tensors) != len(b.Tensors) {
		t.Fatalf("%d tensors vs %d", len(a.Tensors), len(b.Tensors))
	}
	for i, x := range a.Tensors {
		y := b.Tensors[i]
		if x.Name != y.Name || x.Type != y.Type || !reflect.DeepEqual(x.Dims, y.Dims) || x.Size != y.Size {
			t.Fatalf("tensor %d: %+v vs %+v", i, x, y)
		}
		da, err1 := a.ReadTensor(x.Name)
		db, err2 := b.ReadTensor(y.Name)
		if err1 != nil || err2 != nil || !bytes.Equal(da, db) {
			t.Fatalf("tensor %q data differs (%v, %v)", x.Name, err1, err2)
		}
	}
}

// Rewriting a reference file reads back identically and, since llama.cpp's
// writer lays files out the same way, is byte-identical to the original.
func TestWriteGGUFReference(t *testing.T) {
	for _, name := range []string{"F16", "Q4_K_M"} {
		t.Run(name, func(t *testing.T) {
			path := testdata.Path(t, "austen-22m/gguf/austen-22m-"+name+".gguf")
			m, err := Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			out := rewrite(t, m)
			back, err := openBytes(out)
			if err != nil {
				t.Fatal(err)
			}
			sameModel(t, m, back)
			orig, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(orig, out) {
				i := 0
				for i < len(orig) && i < len(out) && orig[i] == out[i] {
					i++
				}
				t.Errorf("rewrite is not byte-identical: %d vs %d bytes, first difference at %d", len(out), len(orig), i)
			} else {
				t.Logf("rewrite of %s is byte-identical (%d bytes)", name, len(out))
			}
		})
	}
}

// Every value type, nested arrays included, survives a write and a read.
func TestWriteGGUFAllValueTypes(t *testing.T) {
	inner1 := Int32sValue([]int32{1, -2})
	inner2 := Float32sValue([]float32{0.5})
	nested, err := ArrayValue(TypeArray, []Value{inner1, inner2})
	if err != nil {
		t.Fatal(err)
	}
	u16s, err := ArrayValue(TypeUint16, []Value{Uint16Value(7), Uint16Value(65535)})
	if err != nil {
		t.Fatal(err)
	}
	bools, err := ArrayValue(TypeBool, []Value{BoolValue(true), BoolValue(false)})
	if err != nil {
		t.Fatal(err)
	}
	kvs := []MetaKV{
		{"u8", Uint8Value(200)}, {"i8", Int8Value(-5)}, {"u16", Uint16Value(60000)}, {"i16", Int16Value(-300)},
		{"u32", Uint32Value(4e9)}, {"i32", Int32Value(-7)}, {"u64", Uint64Value(1 << 63)}, {"i64", Int64Value(-1 << 40)},
		{"f32", Float32Value(1.5)}, {"f64", Float64Value(-2.25)}, {"bool", BoolValue(true)}, {"str", StringValue("héllo")},
		{"strs", StringsValue([]string{"a", "", "ccc"})}, {"nested", nested}, {"u16s", u16s}, {"bools", bools},
		{"general.alignment", Uint32Value(64)},
	}
	data := make([]byte, 2*64)
	for i := range data {
		data[i] = byte(i)
	}
	var buf bytes.Buffer
	if _, err := WriteGGUF(&buf, kvs, []TensorToWrite{
		{TensorSpec{"a", quant.F16, []uint64{64, 1}}, data[:128]},
		{TensorSpec{"b", quant.F32, []uint64{3}}, data[:12]},
	}); err != nil {
		t.Fatal(err)
	}
	m, err := openBytes(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if m.Alignment != 64 || buf.Len()%64 != 0 {
		t.Errorf("alignment %d, file %d bytes", m.Alignment, buf.Len())
	}
	for _, kv := range kvs {
		got, ok := m.Meta.Get(kv.Key)
		if !ok || !reflect.DeepEqual(got, kv.Value) {
			t.Errorf("%s: got %+v, want %+v", kv.Key, got, kv.Value)
		}
	}
	if b, err := m.ReadTensor("b"); err != nil || !bytes.Equal(b, data[:12]) {
		t.Errorf("tensor b: %v", err)
	}
	if info, _ := m.Tensor("b"); info.Offset%64 != 0 {
		t.Errorf("tensor b at %d", info.Offset)
	}
}

// Carrying a model's metadata over with a change (what quantize does).
func TestWriteGGUFEditedMeta(t *testing.T) {
	m, err := openBytes(validGGUF().bytes())
	if err != nil {
		t.Fatal(err)
	}
	kvs := SetKV(m.Meta.KVs(), "general.file_type", Uint32Value(15))
	kvs = SetKV(kvs, "k.strs", StringValue("changed"))
	kvs = DeleteKV(kvs, "k.u8")
	var buf bytes.Buffer
	if _, err := WriteGGUF(&buf, kvs, nil); err != nil {
		t.Fatal(err)
	}
	back, err := openBytes(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if ft, _ := back.Meta.Uint("general.file_type"); ft != 15 {
		t.Errorf("file_type %d", ft)
	}
	if s, _ := back.Meta.String("k.strs"); s != "changed" {
		t.Errorf("k.strs %q", s)
	}
	if back.Meta.Has("k.u8") || back.Meta.Len() != m.Meta.Len() || back.Meta.Keys()[m.Meta.Len()-1] != "general.file_type" {
		t.Errorf("keys %v", back.Meta.Keys())
	}
}

func TestWriteGGUFRefuses(t *testing.T) {
	ok := TensorSpec{"x", quant.F32, []uint64{4}}
	cases := []struct {
		name string
		meta []MetaKV
		ts   []TensorToWrite
		want string
	}{
		{"dup key", []MetaKV{{"a", Uint8Value(1)}, {"a", Uint8Value(2)}}, nil, "duplicate metadata key"},
		{"bad alignment", []MetaKV{{"general.alignment", Uint32Value(48)}}, nil, "power of two"},
		{"bad value type", []MetaKV{{"a", Value{typ: 99}}}, nil, "unknown value type"},
		{"array without contents", []MetaKV{{"a", Value{typ: TypeArray}}}, nil, "without contents"},
		{"dup tensor", nil, []TensorToWrite{{ok, make([]byte, 16)}, {ok, make([]byte, 16)}}, "duplicate tensor"},
		{"short data", nil, []TensorToWrite{{ok, make([]byte, 15)}}, "is 15 bytes, want 16"},
		{"unknown type", nil, []TensorToWrite{{TensorSpec{"x", quant.Type(200), []uint64{4}}, nil}}, "unknown ggml type"},
		{"partial block", nil, []TensorToWrite{{TensorSpec{"x", quant.Q4_0, []uint64{4}}, nil}}, "block size"},
		{"too many dims", nil, []TensorToWrite{{TensorSpec{"x", quant.F32, []uint64{1, 1, 1, 1, 1}}, nil}}, "dims"},
	}
	for _, c := range cases {
		_, err := WriteGGUF(&bytes.Buffer{}, c.meta, c.ts)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err %v, want %q", c.name, err, c.want)
		}
	}
	if _, err := ArrayValue(TypeUint8, []Value{Uint16Value(1)}); err == nil {
		t.Error("mixed array accepted")
	}
	g, err := NewGGUFWriter(&bytes.Buffer{}, nil, []TensorSpec{ok})
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Finish(); err == nil || !strings.Contains(err.Error(), "only 0 of 1") {
		t.Errorf("Finish before tensors: %v", err)
	}
}

// FuzzGGUFRewrite: any file the reader accepts is written back by
// WriteGGUF into a file that reads back with the same metadata (types and
// bits) and the same tensors; rewriting that again is byte-identical.
func FuzzGGUFRewrite(f *testing.F) {
	for _, s := range ggufSeeds() {
		f.Add(s.data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := openBytes(data)
		if err != nil {
			return
		}
		out := rewrite(t, m)
		back, err := openBytes(out)
		if err != nil {
			t.Fatalf("rewrite does not read back: %v", err)
		}
		sameModel(t, m, back)
		if again := rewrite(t, back); !bytes.Equal(again, out) {
			t.Fatal("second rewrite differs from the first")
		}
	})
}
