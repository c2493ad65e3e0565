package model_test

import (
	"context"
	"encoding/json"
	"math"
	"os"
	"sort"
	"testing"

	"github.com/tabshard/tabshard/internal/testdata"
	"github.com/tabshard/tabshard/kernels/cpu"
	"github.com/tabshard/tabshard/loader"
	"github.com/tabshard/tabshard/model"
)

// referenceCase is one prompt of austen-22m/reference.json, computed in f32
// from the f16 weights by the model's authors (not by us).
type referenceCase struct {
	InputIDs   []int32   `json:"input_ids"`
	Greedy48   []int32   `json:"greedy_48"`
	LastLogits []float32 `json:"last_logits"`
}

func loadReference(t *testing.T) map[string]referenceCase {
	t.Helper()
	b, err := os.ReadFile(testdata.Path(t, "austen-22m/reference.json"))
	if err != nil {
		t.Fatal(err)
	}
	var ref struct {
		Cases map[string]referenceCase `json:"cases"`
	}
	if err := json.Unmarshal(b, &ref); err != nil {
		t.Fatal(err)
	}
	return ref.Cases
}

func openEngine(t testing.TB, path string) *model.Engine {
	t.Helper()
	src, err := loader.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { src.Close() })
	cfg, err := model.ConfigFromMeta(&src.Meta, src.Tensors)
	if err != nil {
		t.Fatal(err)
	}
	dev, err := cpu.New(0)
	if err != nil {
		t.Fatal(err)
	}
	e, err := model.NewEngine(dev, src, cfg, model.EngineOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	return e
}

// TestReferenceGreedy checks acceptance 2 of the engine core: the greedy
// continuation of every reference case equals greedy_48 exactly, and the
// last prompt position's logits are within 1e-3, from both file formats.
func TestReferenceGreedy(t *testing.T) {
	cases := loadReference(t)
	names := make([]string, 0, len(cases))
	for n := range cases {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, file := range []string{"austen-22m/gguf/austen-22m-F16.gguf", "austen-22m"} {
		t.Run(file, func(t *testing.T) {
			e := openEngine(t, testdata.Path(t, file))
			for _, name := range names {
				c := cases[name]
				var last []float32
				err := e.Eval(c.InputIDs, 0, func(i int) bool { return i == len(c.InputIDs)-1 }, func(_ int, l []float32) error {
					last = append([]float32(nil), l...)
					return nil
				})
				if err != nil {
					t.Fatal(err)
				}
				var maxDiff float64
				for i, v := range c.LastLogits {
					maxDiff = math.Max(maxDiff, math.Abs(float64(v-last[i])))
				}
				if maxDiff > 1e-3 {
					t.Errorf("%s: last logits differ by up to %g (limit 1e-3)", name, maxDiff)
				}
				var got []int32
				err = e.Generate(context.Background(), c.InputIDs, len(c.Greedy48), -1, model.NewSampler(model.SamplerConfig{}), func(id int32, _ float32) bool {
					got = append(got, id)
					return true
				})
				if err != nil {
					t.Fatal(err)
				}
				for i := range c.Greedy48 {
					if i >= len(got) || got[i] != c.Greedy48[i] {
						t.Errorf("%s: greedy output diverges at step %d:\n got  %v\n want %v", name, i, got, c.Greedy48)
						break
					}
				}
				t.Logf("%s: %d prompt tokens, logits max diff %.2g, greedy %d/%d match", name, len(c.InputIDs), maxDiff, len(got), len(c.Greedy48))
			}
		})
	}
}
