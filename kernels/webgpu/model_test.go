//go:build !js

package webgpu

import (
	"context"
	"encoding/json"
	"math"
	"os"
	"sort"
	"testing"

	"github.com/tabshard/tabshard/internal/testdata"
	"github.com/tabshard/tabshard/loader"
	"github.com/tabshard/tabshard/model"
)

// TestReferenceGreedy runs the whole austen-22m model from the F16 GGUF on
// this device and checks issue 3's acceptance 2 for F16: each reference
// case's greedy continuation equals greedy_48 and the last prompt
// position's logits are within 1e-3 of reference.json.
func TestReferenceGreedy(t *testing.T) {
	if testing.Short() {
		t.Skip("whole-model run")
	}
	raw, err := os.ReadFile(testdata.Path(t, "austen-22m/reference.json"))
	if err != nil {
		t.Fatal(err)
	}
	var ref struct {
		Cases map[string]struct {
			InputIDs   []int32   `json:"input_ids"`
			Greedy48   []int32   `json:"greedy_48"`
			LastLogits []float32 `json:"last_logits"`
		} `json:"cases"`
	}
	if err := json.Unmarshal(raw, &ref); err != nil {
		t.Fatal(err)
	}
	src, err := loader.Open(testdata.Path(t, "austen-22m/gguf/austen-22m-F16.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	cfg, err := model.ConfigFromMeta(&src.Meta, src.Tensors)
	if err != nil {
		t.Fatal(err)
	}
	dev := open(t, Options{})
	e, err := model.NewEngine(dev, src, cfg, model.EngineOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	names := make([]string, 0, len(ref.Cases))
	for n := range ref.Cases {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		c := ref.Cases[name]
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
		match := 0
		for match < len(c.Greedy48) && match < len(got) && got[match] == c.Greedy48[match] {
			match++
		}
		if match < len(c.Greedy48) {
			t.Errorf("%s: greedy output diverges at step %d:\n got  %v\n want %v", name, match, got, c.Greedy48)
		}
		t.Logf("%s: %d prompt tokens, last logits max diff %.2g, greedy %d/%d match", name, len(c.InputIDs), maxDiff, match, len(c.Greedy48))
	}
}
