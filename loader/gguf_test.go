package loader

import (
	"bytes"
	"encoding/binary"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/tabshard/tabshard/quant"
)

func openBytes(b []byte) (*Model, error) { return OpenGGUF(bytes.NewReader(b), int64(len(b))) }

func TestGGUFValid(t *testing.T) {
	for _, v := range []uint32{2, 3} {
		g := validGGUF()
		g.version = v
		m, err := openBytes(g.bytes())
		if err != nil {
			t.Fatalf("v%d: %v", v, err)
		}
		if m.Version != v || m.Alignment != 32 || len(m.Tensors) != 3 {
			t.Fatalf("v%d: version %d alignment %d tensors %d", v, m.Version, m.Alignment, len(m.Tensors))
		}
		for _, tt := range validGGUF().tensors {
			got, err := m.ReadTensor(tt.name)
			if err != nil || !bytes.Equal(got, tt.data) {
				t.Errorf("%s: %v, bytes equal %v", tt.name, err, bytes.Equal(got, tt.data))
			}
			info, _ := m.Tensor(tt.name)
			if info.Type != tt.typ || !slices.Equal(info.Dims, tt.dims) || info.Offset%32 != 0 {
				t.Errorf("%s: %+v", tt.name, info)
			}
		}
		if _, err := m.ReadTensor("nope"); err == nil {
			t.Error("ReadTensor of a missing name succeeded")
		}
	}
}

func TestMetadataGetters(t *testing.T) {
	m, err := openBytes(validGGUF().bytes())
	if err != nil {
		t.Fatal(err)
	}
	md := &m.Meta
	check := func(what string, ok bool) {
		t.Helper()
		if !ok {
			t.Error(what)
		}
	}
	u, err := md.Uint("k.u8")
	check("u8", err == nil && u == 200)
	u, err = md.Uint("k.u64")
	check("u64", err == nil && u == math.MaxUint64)
	_, err = md.Uint("k.i8")
	check("negative i8 refused by Uint", err != nil && strings.Contains(err.Error(), "negative"))
	i, err := md.Int("k.i16")
	check("i16", err == nil && i == -300)
	i, err = md.Int("k.i64")
	check("i64", err == nil && i == -1<<40)
	_, err = md.Int("k.u64")
	check("u64 beyond int64 refused by Int", err != nil)
	f, err := md.Float("k.f64")
	check("f64", err == nil && f == 2.25)
	f, err = md.Float("k.f32")
	check("f32", err == nil && f == 1.5)
	b, err := md.Bool("k.bool")
	check("bool", err == nil && b)
	s, err := md.String("general.architecture")
	check("string", err == nil && s == "llama")
	ss, err := md.Strings("k.strs")
	check("strings", err == nil && slices.Equal(ss, []string{"a", "bc"}))
	fs, err := md.Float32s("k.f32s")
	check("f32s", err == nil && slices.Equal(fs, []float32{0.5, -1}))
	is, err := md.Int32s("k.i32s")
	check("i32s", err == nil && slices.Equal(is, []int32{-1, 0, 7}))
	_, err = md.String("k.u8")
	check("type mismatch refused", err != nil && strings.Contains(err.Error(), "u8"))
	_, err = md.Uint("missing")
	check("missing key refused", err != nil && strings.Contains(err.Error(), "missing"))
	check("Has", md.Has("k.nested") && !md.Has("nope"))
	nv, _ := md.Get("k.nested")
	inner, ok := nv.Index(0)
	check("nested", ok && nv.Len() == 2 && inner.Len() == 2 && inner.ElemType() == TypeUint8)
	e1, _ := inner.Index(1)
	check("nested element", e1.Short() == "2")
	check("nested short", nv.Short() == "[2]{[2]{1, 2}, [1]{3}}")
	check("keys in file order", md.Keys()[0] == "general.architecture" && len(md.Keys()) == md.Len())
	entries := md.Entries()
	check("entries", len(entries) == md.Len() && entries[len(entries)-1].Type == "array[array]")
	sum := m.Summary()
	check("summary", sum.Tensors == 3 && sum.Params == 8+3+32 && sum.Bytes == 32+6+34 && len(sum.ByType) == 3)
}

// wantErr opens b and requires an error mentioning every fragment.
func wantErr(t *testing.T, b []byte, fragments ...string) {
	t.Helper()
	_, err := openBytes(b)
	if err == nil {
		t.Fatalf("opened; want error mentioning %q", fragments)
	}
	for _, f := range fragments {
		if !strings.Contains(err.Error(), f) {
			t.Fatalf("error %q does not mention %q", err, f)
		}
	}
}

func u64p(v uint64) *uint64 { return &v }

func TestGGUFTruncated(t *testing.T) {
	full := validGGUF().bytes()
	for n := 0; n < len(full); n++ {
		if _, err := openBytes(full[:n]); err == nil {
			t.Fatalf("prefix of %d of %d bytes opened", n, len(full))
		}
	}
	wantErr(t, full[:8], "truncated")
}

func TestGGUFBadHeader(t *testing.T) {
	wantErr(t, []byte("GGU"), "too short")
	b := validGGUF().bytes()
	copy(b, "GGML")
	wantErr(t, b, "magic")
	for v, msg := range map[uint32]string{1: "version 1", 4: "unsupported version 4", 0: "unsupported version 0"} {
		g := validGGUF()
		g.version = v
		wantErr(t, g.bytes(), msg)
	}
	b = validGGUF().bytes()
	binary.BigEndian.PutUint32(b[4:], 3)
	wantErr(t, b, "big-endian")
}

func TestGGUFUnknownTypes(t *testing.T) {
	g := validGGUF().tensor("weird.weight", quant.Type(99), []uint64{4}, seq(4))
	wantErr(t, g.bytes(), "unknown ggml type id 99", "weird.weight")
	wantErr(t, validGGUF().raw("k.bad", ValueType(13), []byte{0}).bytes(), "unknown value type 13", "k.bad")
	wantErr(t, validGGUF().arr("k.badarr", ValueType(77), 1, []byte{0}).bytes(), "unknown value type 77")
}

func TestGGUFTensorPastEnd(t *testing.T) {
	b := validGGUF().bytes()
	wantErr(t, b[:len(b)-8], "c.weight", "past the end")
	g := validGGUF()
	g.tensors[0].offset = u64p(1 << 40)
	wantErr(t, g.bytes(), "a.weight", "past the end")
	g = validGGUF()
	g.tensors[0].offset = u64p(math.MaxUint64 &^ 31)
	wantErr(t, g.bytes(), "a.weight", "past the end")
}

func TestGGUFDimsOverflow(t *testing.T) {
	wantErr(t, newGGUF().tensor("x", quant.F32, []uint64{1 << 32, 1 << 32}, nil).bytes(), "overflow")
	wantErr(t, newGGUF().tensor("x", quant.F32, []uint64{math.MaxUint64}, nil).bytes(), "x")
	// Elements fit int64 but bytes do not.
	wantErr(t, newGGUF().tensor("x", quant.F32, []uint64{1 << 62}, nil).bytes(), "overflow")
	wantErr(t, newGGUF().tensor("x", quant.F32, []uint64{1, 1, 1, 1, 1}, seq(4)).bytes(), "5 dims")
	wantErr(t, newGGUF().tensor("x", quant.Q8_0, []uint64{16, 2}, seq(34)).bytes(), "block size")
}

func TestGGUFAbsurdCounts(t *testing.T) {
	g := validGGUF()
	g.tensorCount = u64p(1 << 60)
	wantErr(t, g.bytes(), "tensor count", "impossible")
	g = validGGUF()
	g.kvCount = u64p(math.MaxUint64)
	wantErr(t, g.bytes(), "key/value count", "impossible")
	var s bytes.Buffer
	putU64(&s, 1<<50)
	wantErr(t, newGGUF().raw("k", TypeString, s.Bytes()).bytes(), "length", "impossible")
	wantErr(t, newGGUF().arr("k", TypeUint64, 1<<61, nil).bytes(), "array length", "impossible")
	wantErr(t, newGGUF().arr("k", TypeString, 1<<40, nil).bytes(), "array length", "impossible")
	wantErr(t, newGGUF().arr("k", TypeArray, 1<<40, nil).bytes(), "array length", "impossible")
	// Arrays nested deeper than maxNesting.
	var deep bytes.Buffer
	for range maxNesting + 1 {
		putU32(&deep, uint32(TypeArray))
		putU64(&deep, 1)
	}
	putU32(&deep, uint32(TypeUint8))
	putU64(&deep, 0)
	wantErr(t, newGGUF().raw("k", TypeArray, deep.Bytes()).bytes(), "nests")
}

func TestGGUFBadAlignment(t *testing.T) {
	for _, a := range []uint32{0, 3, 48} {
		g := newGGUF().u32("general.alignment", a)
		wantErr(t, g.bytes(), "general.alignment", "power of two")
	}
	wantErr(t, newGGUF().str("general.alignment", "32").bytes(), "general.alignment")
	// A power of two other than 32 lays data out differently and works.
	g := validGGUF()
	g.kv.Reset()
	g.nKV = 0
	g.u32("general.alignment", 64)
	g.align = 64
	m, err := openBytes(g.bytes())
	if err != nil {
		t.Fatal(err)
	}
	if b, err := m.ReadTensor("c.weight"); err != nil || !bytes.Equal(b, seq(34)) {
		t.Fatalf("alignment 64: %v", err)
	}
	g = validGGUF()
	g.tensors[1].offset = u64p(40)
	wantErr(t, g.bytes(), "not a multiple of the alignment")
}

func TestGGUFDuplicates(t *testing.T) {
	wantErr(t, validGGUF().tensor("a.weight", quant.F32, []uint64{1}, seq(4)).bytes(), "duplicate tensor name", "a.weight")
	wantErr(t, validGGUF().u32("llama.block_count", 2).bytes(), "duplicate metadata key", "llama.block_count")
	g := validGGUF()
	g.tensors[1].offset = u64p(0)
	wantErr(t, g.bytes(), "overlap")
}

func TestOpenRefusesGGUFSplit(t *testing.T) {
	b := validGGUF().raw("split.count", TypeUint16, le(uint16(3))).bytes()
	dir := writeDir(t, "", map[string][]byte{"m-00001-of-00003.gguf": b})
	_, err := Open(filepath.Join(dir, "m-00001-of-00003.gguf"))
	if err == nil || !strings.Contains(err.Error(), "gguf-split") {
		t.Fatalf("got %v, want a gguf-split refusal", err)
	}
	dir = writeDir(t, "", map[string][]byte{"m.gguf": validGGUF().bytes(), "x.bin": []byte("not a model at all")})
	m, err := Open(filepath.Join(dir, "m.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 34)
	if err := m.ReadTensorInto("c.weight", buf); err != nil || !bytes.Equal(buf, seq(34)) {
		t.Fatalf("ReadTensorInto: %v", err)
	}
	if err := m.ReadTensorInto("c.weight", buf[:3]); err == nil {
		t.Fatal("short buffer accepted")
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := m.ReadTensor("c.weight"); err == nil {
		t.Fatal("read after Close succeeded")
	}
	if _, err := Open(filepath.Join(dir, "x.bin")); err == nil || !strings.Contains(err.Error(), "neither GGUF nor safetensors") {
		t.Fatal("opened a file that is neither GGUF nor safetensors")
	}
}
