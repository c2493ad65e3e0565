package model_test

import (
	"context"
	"testing"

	"github.com/tabshard/tabshard/internal/testdata"
	"github.com/tabshard/tabshard/model"
)

// BenchmarkDecode reports decode tokens/s on the CPU device for the
// llama.cpp-quantized files of austen-22m (compare: ../shared/models/
// austen-22m/gguf/BENCH.md; `tabshard bench` prints ratios in one run).
func BenchmarkDecode(b *testing.B) {
	for _, f := range []string{"F16", "Q8_0", "Q4_K_M", "Q2_K"} {
		b.Run(f, func(b *testing.B) {
			e := openEngine(b, testdata.Path(b, "austen-22m/gguf/austen-22m-"+f+".gguf"))
			greedy := model.NewSampler(model.SamplerConfig{})
			prompt := []int32{1, 9038, 2501, 263, 931, 29892}
			b.ResetTimer()
			n := 0
			for n < b.N {
				err := e.Generate(context.Background(), prompt, min(b.N-n, 256), -1, greedy, func(int32, float32) bool {
					n++
					return true
				})
				if err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "tok/s")
		})
	}
}
