package shard_test

import (
	"context"
	"testing"

	"github.com/tabshard/tabshard/internal/testdata"
	"github.com/tabshard/tabshard/kernels/cpu"
	"github.com/tabshard/tabshard/loader"
	"github.com/tabshard/tabshard/model"
	"github.com/tabshard/tabshard/shard"
)

// argmax returns the first index of the largest value.
func argmax(v []float32) int32 {
	best := 0
	for i := range v {
		if v[i] > v[best] {
			best = i
		}
	}
	return int32(best)
}

// TestStagesMatchEngine chains three stages in one process and runs two
// sessions through them in shared batches (their positions interleaved):
// each session's greedy tokens must equal the single-process engine's.
func TestStagesMatchEngine(t *testing.T) {
	src, err := loader.Open(testdata.Path(t, "austen-22m/gguf/austen-22m-Q4_K_M.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	cfg, err := model.ConfigFromMeta(&src.Meta, src.Tensors)
	if err != nil {
		t.Fatal(err)
	}
	dev, _ := cpu.New(0)
	prompts := [][]int32{{1, 9038, 2501, 263, 931, 29892}, {1, 450, 7250}}
	const steps = 12

	// Reference: the engine, one session at a time.
	e, err := model.NewEngine(dev, src, cfg, model.EngineOptions{Context: 64})
	if err != nil {
		t.Fatal(err)
	}
	var want [][]int32
	for _, p := range prompts {
		var toks []int32
		err := e.Generate(context.Background(), p, steps, -1, model.NewSampler(model.SamplerConfig{}), func(id int32, _ float32) bool {
			toks = append(toks, id)
			return true
		})
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, toks)
	}
	e.Close()

	sc := shard.StageConfig{Slots: 2, Context: 64, MaxBatch: 16}
	var stages []*shard.Stage
	for _, part := range []model.Part{{First: 0, Last: 3}, {First: 3, Last: 6}, {First: 6, Last: 8}} {
		s, err := shard.NewStage(dev, src, cfg, part, sc)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Release()
		stages = append(stages, s)
	}
	// Step 0 runs both prompts in one batch; later steps one row per session.
	got := make([][]int32, len(prompts))
	var rows []shard.Row
	for slot, p := range prompts {
		for i, id := range p {
			rows = append(rows, shard.Row{Slot: int32(slot), Pos: int32(i), Token: id, Logits: i == len(p)-1})
		}
	}
	for step := 0; step < steps; step++ {
		var hidden []float32
		for _, s := range stages {
			if hidden, err = s.Forward(rows, hidden); err != nil {
				t.Fatal(err)
			}
		}
		var next []shard.Row
		for slot := range prompts {
			id := argmax(hidden[slot*cfg.Vocab : (slot+1)*cfg.Vocab])
			got[slot] = append(got[slot], id)
			next = append(next, shard.Row{Slot: int32(slot), Pos: int32(len(prompts[slot]) + step), Token: id, Logits: true})
		}
		rows = next
	}
	for i := range prompts {
		for j := range want[i] {
			if got[i][j] != want[i][j] {
				t.Fatalf("session %d: pipeline %v, engine %v", i, got[i], want[i])
			}
		}
	}
}
