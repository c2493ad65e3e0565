package quant_test

import (
	"fmt"
	"path/filepath"
	"sort"
	"testing"

	"github.com/tabshard/tabshard/internal/testdata"
	"github.com/tabshard/tabshard/loader"
	"github.com/tabshard/tabshard/quant"
)

// fileErrorBound is the largest relative RMS error a tensor llama-quantize
// wrote may show against its F16 original, per format: about 1.3× the worst
// seen in the austen-22m files (measured 0.0054, 0.018, 0.036, 0.072, 0.088,
// 0.153, 0.300 in this order).
var fileErrorBound = map[quant.Type]float64{
	quant.Q8_0: 0.008, quant.Q6_K: 0.025, quant.Q5_K: 0.05, quant.Q4_K: 0.10,
	quant.Q4_0: 0.12, quant.Q3_K: 0.20, quant.Q2_K: 0.40,
}

// TestDequantizeLlamaCppTensors decodes every quantized tensor of the
// llama.cpp files and checks it is close to the F16 weights it came from.
func TestDequantizeLlamaCppTensors(t *testing.T) {
	f16Path := testdata.Path(t, "austen-22m/gguf/austen-22m-F16.gguf")
	ref := refTensors(t, f16Path)
	files, _ := filepath.Glob(filepath.Join(filepath.Dir(f16Path), "austen-22m-*.gguf"))
	worst := map[quant.Type]float64{}
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
			raw, err := m.ReadTensor(ti.Name)
			if err != nil {
				t.Fatal(err)
			}
			got := make([]float32, ti.Elements())
			if err := quant.Dequantize(ti.Type, raw, got); err != nil {
				t.Fatalf("%s: %v", ti.Name, err)
			}
			e := relRMS(got, ref[ti.Name])
			worst[ti.Type] = max(worst[ti.Type], e)
			bound, ok := fileErrorBound[ti.Type]
			if !ok {
				t.Errorf("%s: no bound for %s", ti.Name, ti.Type)
			} else if e > bound {
				t.Errorf("%s %s (%s): relative RMS error %.4f above %.4f", filepath.Base(path), ti.Name, ti.Type, e, bound)
			}
		}
		m.Close()
	}
	var types []quant.Type
	for ty := range worst {
		types = append(types, ty)
	}
	sort.Slice(types, func(i, j int) bool { return types[i] < types[j] })
	for _, ty := range types {
		t.Log(fmt.Sprintf("%-5s worst relative RMS error vs F16 %.4f (bound %.2f)", ty, worst[ty], fileErrorBound[ty]))
	}
}
