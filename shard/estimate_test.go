package shard

import (
	"strings"
	"testing"

	"github.com/tabshard/tabshard/kernels"
	"github.com/tabshard/tabshard/kernels/cpu"
	"github.com/tabshard/tabshard/model"
	"github.com/tabshard/tabshard/quant"
)

// austen is austen-22m's shape; the test needs no model file.
var austen = model.Config{Arch: "llama", Layers: 8, Dim: 256, FFN: 768, Heads: 4, KVHeads: 2, HeadDim: 64, Vocab: 32000, Context: 1024}

// TestEstimateMatchesAllocation checks the estimate against what the CPU
// device really allocates: a cache of the estimated context fits the
// budget, one more position per session does not.
func TestEstimateMatchesAllocation(t *testing.T) {
	dev, err := cpu.New(1)
	if err != nil {
		t.Fatal(err)
	}
	defer dev.Close()
	const weights = 11_729_408 // an austen-22m mix's tensor bytes
	cases := []struct {
		budget   uint64
		kv       quant.Type
		sessions int
		scratch  uint64
	}{
		{16 << 20, quant.F32, 1, 1 << 20},
		{24 << 20, quant.F16, 4, 512 << 10},
		{64 << 20, quant.Q8_0, 16, 2 << 20},
		{40 << 20, quant.Q4_0, 3, 0},
		{13_000_000, quant.Q4_0, 2, 100_000},
	}
	for _, c := range cases {
		q := ContextQuery{Model: austen, MemoryBytes: c.budget, WeightBytes: weights, ScratchBytes: c.scratch, KV: c.kv, Sessions: c.sessions}
		e, err := EstimateContext(q)
		if err != nil {
			t.Fatalf("%+v: %v", c, err)
		}
		alloc := func(ctx int) int64 {
			kv, err := dev.NewKVCache(kernels.KVConfig{Layers: austen.Layers, Slots: c.sessions, Context: ctx, KVHeads: austen.KVHeads, HeadDim: austen.HeadDim, Type: c.kv})
			if err != nil {
				t.Fatal(err)
			}
			defer kv.Release()
			return kv.Bytes()
		}
		got := alloc(e.Tokens)
		if uint64(got) != e.KVBytes {
			t.Errorf("%+v: estimate says %d KV bytes, the device allocated %d", c, e.KVBytes, got)
		}
		if weights+c.scratch+uint64(got) > c.budget {
			t.Errorf("%+v: %d tokens allocate %d bytes, over the budget", c, e.Tokens, got)
		}
		if over := alloc(e.Tokens + 1); weights+c.scratch+uint64(over) <= c.budget {
			t.Errorf("%+v: %d tokens would still fit (%d bytes); the estimate %d is short", c, e.Tokens+1, over, e.Tokens)
		}
		t.Logf("budget %d, KV %s, %d sessions: %d tokens each (trained cap %d), %d bytes/token, cache %d bytes",
			c.budget, c.kv, c.sessions, e.Tokens, e.Trained, e.BytesPerToken, got)
	}
}

func TestEstimateRefusesBadQueries(t *testing.T) {
	ok := ContextQuery{Model: austen, MemoryBytes: 32 << 20, WeightBytes: 12 << 20, KV: quant.F16, Sessions: 1}
	for _, c := range []struct {
		name string
		edit func(*ContextQuery)
		want string
	}{
		{"no sessions", func(q *ContextQuery) { q.Sessions = 0 }, "sessions"},
		{"bad format", func(q *ContextQuery) { q.KV = quant.Q2_K }, "not supported"},
		{"weights over budget", func(q *ContextQuery) { q.WeightBytes = 40 << 20 }, "leave nothing"},
		{"too many layers", func(q *ContextQuery) { q.Layers = 9 }, "layers held"},
		{"no room for a token", func(q *ContextQuery) { q.MemoryBytes = q.WeightBytes + 100 }, "no position"},
	} {
		q := ok
		c.edit(&q)
		if _, err := EstimateContext(q); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want an error containing %q", c.name, err, c.want)
		}
	}
}

// TestHugeKVRefused: a context no budget could hold is refused by the
// device, not wrapped into a small allocation (the estimator's sizes come
// from user budgets).
func TestHugeKVRefused(t *testing.T) {
	dev, err := cpu.New(1)
	if err != nil {
		t.Fatal(err)
	}
	defer dev.Close()
	for _, cfg := range []kernels.KVConfig{
		{Layers: 1 << 20, Slots: 1 << 20, Context: 1 << 20, KVHeads: 1 << 10, HeadDim: 64, Type: quant.F32},
		{Layers: 8, Slots: 1 << 30, Context: 1 << 30, KVHeads: 2, HeadDim: 64, Type: quant.Q4_0},
	} {
		if kv, err := dev.NewKVCache(cfg); err == nil {
			t.Errorf("%+v: allocated %d bytes", cfg, kv.Bytes())
			kv.Release()
		}
	}
}
