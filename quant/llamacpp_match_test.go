package quant_test

import (
	"bytes"
	"fmt"
	"path/filepath"
	"sort"
	"testing"

	"github.com/tabshard/tabshard/internal/testdata"
	"github.com/tabshard/tabshard/loader"
	"github.com/tabshard/tabshard/quant"
)

// refTensors reads every tensor of the F16 reference file as float32.
func refTensors(t *testing.T, path string) map[string][]float32 {
	t.Helper()
	m, err := loader.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	out := make(map[string][]float32, len(m.Tensors))
	for _, ti := range m.Tensors {
		raw, err := m.ReadTensor(ti.Name)
		if err != nil {
			t.Fatal(err)
		}
		f := make([]float32, ti.Elements())
		if err := quant.Dequantize(ti.Type, raw, f); err != nil {
			t.Fatalf("%s: %v", ti.Name, err)
		}
		out[ti.Name] = f
	}
	return out
}

// TestQuantizeMatchesLlamaCpp re-quantizes the F16 weights of austen-22m and
// compares with the files llama-quantize wrote: every byte must agree.
func TestQuantizeMatchesLlamaCpp(t *testing.T) {
	f16Path := testdata.Path(t, "austen-22m/gguf/austen-22m-F16.gguf")
	ref := refTensors(t, f16Path)
	files, _ := filepath.Glob(filepath.Join(filepath.Dir(f16Path), "austen-22m-*.gguf"))
	type tally struct{ matched, total int }
	perType := map[quant.Type]*tally{}
	for _, path := range files {
		if path == f16Path {
			continue
		}
		m, err := loader.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		for _, ti := range m.Tensors {
			if ti.Type == quant.F32 || ti.Type == quant.F16 {
				continue
			}
			src, ok := ref[ti.Name]
			if !ok {
				t.Errorf("%s: %s not in the F16 file", filepath.Base(path), ti.Name)
				continue
			}
			want, err := m.ReadTensor(ti.Name)
			if err != nil {
				t.Fatal(err)
			}
			got := make([]byte, len(want))
			if err := quant.Quantize(ti.Type, src, got); err != nil {
				t.Errorf("%s %s: %v", ti.Name, ti.Type, err)
				continue
			}
			c := perType[ti.Type]
			if c == nil {
				c = &tally{}
				perType[ti.Type] = c
			}
			c.total++
			if bytes.Equal(got, want) {
				c.matched++
				continue
			}
			bb := ti.Type.BlockBytes()
			bad, first := 0, -1
			for i := 0; i < len(want); i += bb {
				if !bytes.Equal(got[i:i+bb], want[i:i+bb]) {
					if first < 0 {
						first = i / bb
					}
					bad++
				}
			}
			t.Errorf("%s %s (%s): %d of %d blocks differ, first block %d\n got %x\nwant %x",
				filepath.Base(path), ti.Name, ti.Type, bad, len(want)/bb, first,
				got[first*bb:(first+1)*bb], want[first*bb:(first+1)*bb])
		}
		m.Close()
	}
	var types []quant.Type
	for ty := range perType {
		types = append(types, ty)
	}
	sort.Slice(types, func(i, j int) bool { return types[i] < types[j] })
	for _, ty := range types {
		c := perType[ty]
		t.Log(fmt.Sprintf("%-5s %d/%d tensors byte-identical", ty, c.matched, c.total))
	}
	if len(types) == 0 {
		t.Fatal("no quantized tensors found")
	}
}
