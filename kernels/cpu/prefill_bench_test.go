package cpu_test

import (
	"fmt"
	"testing"

	"github.com/tabshard/tabshard/internal/testdata"
	"github.com/tabshard/tabshard/kernels/cpu"
	"github.com/tabshard/tabshard/loader"
	"github.com/tabshard/tabshard/model"
)

// BenchmarkPrefill evaluates a 64- and a 512-token window of austen-22m
// Q4_K_M on the CPU device (logits of every position, as a perplexity run
// needs) and reports tokens per second: the batched matmul, attention over
// the window and the output head together.
func BenchmarkPrefill(b *testing.B) {
	path := testdata.Path(b, "austen-22m/gguf/austen-22m-Q4_K_M.gguf")
	src, err := loader.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	defer src.Close()
	cfg, err := model.ConfigFromMeta(&src.Meta, src.Tensors)
	if err != nil {
		b.Fatal(err)
	}
	dev, err := cpu.New(0)
	if err != nil {
		b.Fatal(err)
	}
	defer dev.Close()
	e, err := model.NewEngine(dev, src, cfg, model.EngineOptions{Context: 512})
	if err != nil {
		b.Fatal(err)
	}
	defer e.Close()
	for _, n := range []int{64, 512} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			ids := make([]int32, n)
			for i := range ids {
				ids[i] = int32(1 + (i*7919)%(cfg.Vocab-1))
			}
			all := func(int) bool { return true }
			keep := func(int, []float32) error { return nil }
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if err := e.Eval(ids, 0, all, keep); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "tok/s")
		})
	}
}
