package loader

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime/metrics"
	"sort"
	"strconv"
	"testing"

	"github.com/tabshard/tabshard/quant"
)

// heapAllocated is the process's cumulative heap allocation. It is counted
// per span refill for small objects, so it is exact only to a constant,
// which allocSlack absorbs.
func heapAllocated() uint64 {
	s := []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// allocBound is what parsing an input of n bytes may allocate: a small
// multiple of the input (each parsed item costs a few times its encoding)
// plus fixed overhead. A parser that trusted a count or length from the
// input would blow far past it.
func allocBound(n int) uint64 { return 32*uint64(n) + allocSlack }

const allocSlack = 2 << 20

func FuzzGGUF(f *testing.F) {
	for _, s := range ggufSeeds() {
		f.Add(s.data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		before := heapAllocated()
		m, err := openBytes(data)
		if used := heapAllocated() - before; used > allocBound(len(data)) {
			t.Fatalf("parsing %d bytes allocated %d (err %v)", len(data), used, err)
		}
		if err != nil {
			return
		}
		checkModelInvariants(t, m, int64(len(data)))
	})
}

func FuzzSafetensors(f *testing.F) {
	for _, s := range safetensorsSeeds() {
		f.Add(s.data)
	}
	cfg := mustTinyConfig()
	f.Fuzz(func(t *testing.T, data []byte) {
		before := heapAllocated()
		m, err := OpenSafetensors(cfg, []SafetensorsShard{{Name: "fuzz", R: bytes.NewReader(data), Size: int64(len(data))}})
		if used := heapAllocated() - before; used > allocBound(len(data)) {
			t.Fatalf("parsing %d bytes allocated %d (err %v)", len(data), used, err)
		}
		if err != nil {
			// The header parser alone must also hold up (most inputs fail
			// the tiny config's tensor checks before reaching it fully).
			_, _ = parseSafetensorsHeader(bytes.NewReader(data), int64(len(data)))
			return
		}
		checkModelInvariants(t, m, int64(len(data)))
	})
}

// checkModelInvariants exercises everything a caller can reach on a model
// that opened: tensors lie inside the file, read back at their size, and
// every metadata accessor answers without panicking.
func checkModelInvariants(t *testing.T, m *Model, size int64) {
	for _, ti := range m.Tensors {
		if ti.Offset < 0 || ti.Size < 0 || ti.Offset > size || ti.Size > size-ti.Offset {
			t.Fatalf("tensor %q [%d,+%d) outside %d bytes", ti.Name, ti.Offset, ti.Size, size)
		}
		b, err := m.ReadTensor(ti.Name)
		if err != nil || int64(len(b)) != ti.Size {
			t.Fatalf("ReadTensor(%q): %d bytes, %v", ti.Name, len(b), err)
		}
		_ = ti.DimsString()
	}
	_ = m.Summary()
	for _, e := range m.Meta.Entries() {
		k := e.Key
		_, _ = m.Meta.String(k)
		_, _ = m.Meta.Uint(k)
		_, _ = m.Meta.Int(k)
		_, _ = m.Meta.Float(k)
		_, _ = m.Meta.Bool(k)
		_, _ = m.Meta.Strings(k)
		_, _ = m.Meta.Float32s(k)
		_, _ = m.Meta.Int32s(k)
	}
}

type seed struct {
	name string
	data []byte
}

// truncations adds prefixes of b cut at a few interesting fractions.
func truncations(name string, b []byte) []seed {
	var out []seed
	for _, frac := range []int{1, 3, 5, 7, 9} {
		n := len(b) * frac / 10
		out = append(out, seed{fmt.Sprintf("%s-trunc%d", name, n), b[:n]})
	}
	return out
}

func ggufSeeds() []seed {
	valid := validGGUF().bytes()
	v2 := validGGUF()
	v2.version = 2
	a64 := validGGUF()
	a64.kv.Reset()
	a64.nKV = 0
	a64.u32("general.alignment", 64)
	a64.align = 64
	vocab := newGGUF().str("tokenizer.ggml.model", "llama").
		arr("tokenizer.ggml.tokens", TypeString, 3, append(append(strBytes("<unk>"), strBytes("<s>")...), strBytes("</s>")...)).
		arr("tokenizer.ggml.scores", TypeFloat32, 3, le([]float32{0, 0, -1})).
		arr("tokenizer.ggml.token_type", TypeInt32, 3, le([]int32{2, 3, 3}))
	quants := newGGUF()
	for _, ty := range []quant.Type{quant.Q4_0, quant.Q4_K, quant.Q6_K, quant.BF16, quant.IQ4_NL} {
		quants.tensor("t."+ty.String(), ty, []uint64{256}, seq(256/ty.BlockElems()*ty.BlockBytes()))
	}
	seeds := []seed{
		{"valid-v3", valid},
		{"valid-v2", v2.bytes()},
		{"align64", a64.bytes()},
		{"vocab-only", vocab.bytes()},
		{"quant-types", quants.bytes()},
	}
	seeds = append(seeds, truncations("valid", valid)...)
	badMagic := append([]byte(nil), valid...)
	copy(badMagic, "GGML")
	bigEndian := append([]byte(nil), valid...)
	binary.BigEndian.PutUint32(bigEndian[4:], 3)
	v1 := validGGUF()
	v1.version = 1
	huge := validGGUF()
	huge.tensorCount = u64p(1 << 60)
	overlap := validGGUF()
	overlap.tensors[1].offset = u64p(0)
	seeds = append(seeds,
		seed{"bad-magic", badMagic},
		seed{"big-endian", bigEndian},
		seed{"version1", v1.bytes()},
		seed{"unknown-type", validGGUF().tensor("x", quant.Type(99), []uint64{4}, seq(4)).bytes()},
		seed{"dims-overflow", newGGUF().tensor("x", quant.F32, []uint64{1 << 32, 1 << 32}, nil).bytes()},
		seed{"absurd-tensor-count", huge.bytes()},
		seed{"absurd-array", newGGUF().arr("k", TypeUint64, 1<<61, nil).bytes()},
		seed{"bad-alignment", newGGUF().u32("general.alignment", 48).bytes()},
		seed{"duplicate-tensor", validGGUF().tensor("a.weight", quant.F32, []uint64{1}, seq(4)).bytes()},
		seed{"overlap", overlap.bytes()},
	)
	return seeds
}

func safetensorsSeeds() []seed {
	valid := buildSafetensors(tinyEntries())
	seeds := []seed{{"valid-tiny", valid}}
	seeds = append(seeds, truncations("valid", valid)...)
	hugeLen := append([]byte(nil), valid...)
	binary.LittleEndian.PutUint64(hugeLen, math.MaxUint64)
	seeds = append(seeds,
		seed{"huge-header-length", hugeLen},
		seed{"duplicate", withHeader(`{"a":{"dtype":"F16","shape":[1],"data_offsets":[0,2]},"a":{"dtype":"F16","shape":[1],"data_offsets":[2,4]}}`, make([]byte, 4))},
		seed{"dtype-i64", withHeader(`{"a":{"dtype":"I64","shape":[1],"data_offsets":[0,8]}}`, make([]byte, 8))},
		seed{"overlap", withHeader(`{"a":{"dtype":"F16","shape":[2],"data_offsets":[0,4]},"b":{"dtype":"F16","shape":[2],"data_offsets":[2,6]}}`, make([]byte, 6))},
		seed{"size-mismatch", withHeader(`{"a":{"dtype":"F16","shape":[3],"data_offsets":[0,8]}}`, make([]byte, 8))},
		seed{"trailing-garbage", withHeader(`{"a":{"dtype":"F16","shape":[1],"data_offsets":[0,2]}} x`, make([]byte, 2))},
		seed{"shape-overflow", withHeader(`{"a":{"dtype":"F16","shape":[4294967296,4294967296],"data_offsets":[0,8]}}`, make([]byte, 8))},
	)
	return seeds
}

// The committed corpus under testdata/fuzz is exactly what the seed
// builders produce; LOADER_WRITE_CORPUS=1 rewrites it.
func TestFuzzCorpus(t *testing.T) {
	for target, seeds := range map[string][]seed{"FuzzGGUF": ggufSeeds(), "FuzzSafetensors": safetensorsSeeds()} {
		dir := filepath.Join("testdata", "fuzz", target)
		names := make([]string, 0, len(seeds))
		for _, s := range seeds {
			content := "go test fuzz v1\n[]byte(" + strconv.Quote(string(s.data)) + ")\n"
			p := filepath.Join(dir, "seed-"+s.name)
			names = append(names, s.name)
			if os.Getenv("LOADER_WRITE_CORPUS") == "1" {
				if err := os.MkdirAll(dir, 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
					t.Fatal(err)
				}
				continue
			}
			got, err := os.ReadFile(p)
			if err != nil || string(got) != content {
				t.Errorf("%s is missing or stale (%v); run LOADER_WRITE_CORPUS=1 go test ./loader -run TestFuzzCorpus", p, err)
			}
		}
		sort.Strings(names)
		for i := 1; i < len(names); i++ {
			if names[i] == names[i-1] {
				t.Errorf("%s: seed name %q used twice", target, names[i])
			}
		}
	}
}
