package shard

import (
	"errors"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/tabshard/tabshard/quant"
)

const gib = 1 << 30

func tensorBytes(t *testing.T, typ quant.Type, rows, cols uint64) uint64 {
	t.Helper()
	b, err := typ.TensorBytes(rows * cols)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// useMoreBits is llama.cpp's choice of layers that get a larger format in
// the K-quant mixes (first and last eighth, and every third in between).
func useMoreBits(i, n int) bool { return i < n/8 || i >= 7*n/8 || (i-n/8)%3 == 2 }

// llama13B is a 13B LLaMA (40 layers, dim 5120, FFN 13824, vocab 32000,
// 40 KV heads) quantized with a mix shaped like llama.cpp's Q3_K_M, one notch
// smaller so that only Q2_K/Q3_K/Q4_K occur: attn_q/attn_k Q2_K, attn_v
// Q4_K, attn_output/ffn_gate/ffn_up Q3_K, ffn_down Q4_K on use_more_bits
// layers and Q3_K elsewhere, token_embd Q2_K, output Q4_K, norms F32. The KV
// cache is Q8_0: K and V rows of 5120 per token per layer.
func llama13B(t *testing.T) ModelShape {
	const dim, ffn, vocab, layers = 5120, 13824, 32000, 40
	var m ModelShape
	kv := 2 * tensorBytes(t, quant.Q8_0, 1, dim)
	for i := 0; i < layers; i++ {
		down := quant.Q3_K
		if useMoreBits(i, layers) {
			down = quant.Q4_K
		}
		w := 2*tensorBytes(t, quant.F32, 1, dim) + // attn_norm, ffn_norm
			2*tensorBytes(t, quant.Q2_K, dim, dim) + // attn_q, attn_k
			tensorBytes(t, quant.Q4_K, dim, dim) + // attn_v
			tensorBytes(t, quant.Q3_K, dim, dim) + // attn_output
			2*tensorBytes(t, quant.Q3_K, ffn, dim) + // ffn_gate, ffn_up
			tensorBytes(t, down, dim, ffn) // ffn_down
		m.Layers = append(m.Layers, LayerShape{WeightBytes: w, KVBytesPerToken: kv})
	}
	m.EmbedBytes = tensorBytes(t, quant.Q2_K, vocab, dim)
	m.HeadBytes = tensorBytes(t, quant.F32, 1, dim) + tensorBytes(t, quant.Q4_K, vocab, dim)
	return m
}

// uniform is a model of n layers of 100 MiB, a 65 MiB head and 50 MiB of
// embeddings: easy numbers for re-plan tests.
func uniform(n int) ModelShape {
	m := ModelShape{EmbedBytes: 50 << 20, HeadBytes: 65 << 20}
	for i := 0; i < n; i++ {
		m.Layers = append(m.Layers, LayerShape{WeightBytes: 100 << 20, KVBytesPerToken: 1 << 10})
	}
	return m
}

func equalNodes(n int, mem uint64, bps float64) []Node {
	var out []Node
	for i := 0; i < n; i++ {
		out = append(out, Node{ID: string(rune('a' + i)), MemoryBytes: mem, BytesPerSecond: bps, Latency: time.Millisecond})
	}
	return out
}

// checkPlan verifies the invariants every plan must satisfy.
func checkPlan(t *testing.T, p *Plan, m ModelShape, nodes []Node, cfg PlanConfig) {
	t.Helper()
	if err := p.check(len(m.Layers)); err != nil {
		t.Fatalf("%v: %v", p, err)
	}
	byID := map[string]Node{}
	for _, n := range nodes {
		byID[n.ID] = n
	}
	var bottleneck time.Duration
	for _, a := range p.Stages {
		n, ok := byID[a.Node]
		if !ok {
			t.Fatalf("stage on unknown node %q", a.Node)
		}
		var w, kv uint64
		for l := a.First; l < a.End; l++ {
			w += m.Layers[l].WeightBytes
			kv += m.Layers[l].KVBytesPerToken * uint64(cfg.Context*cfg.Sessions)
		}
		compute := w
		if a.Head {
			w += m.HeadBytes
			compute += m.HeadBytes
		}
		if a.Embed {
			w += m.EmbedBytes
		}
		if a.WeightBytes != w || a.KVBytes != kv || a.MemoryBytes != w+kv+cfg.ScratchBytes {
			t.Errorf("%s: bytes %d/%d/%d, want %d/%d/%d", a.Node, a.WeightBytes, a.KVBytes, a.MemoryBytes, w, kv, w+kv+cfg.ScratchBytes)
		}
		if a.MemoryBytes > n.MemoryBytes {
			t.Errorf("%s: needs %d bytes, has %d", a.Node, a.MemoryBytes, n.MemoryBytes)
		}
		want := time.Duration(float64(compute) / n.BytesPerSecond * 1e9)
		if d := a.Compute - want; d < -time.Microsecond || d > time.Microsecond {
			t.Errorf("%s: compute %v, want %v", a.Node, a.Compute, want)
		}
		bottleneck = max(bottleneck, a.Time)
	}
	if p.Bottleneck != bottleneck {
		t.Errorf("bottleneck %v, stages say %v", p.Bottleneck, bottleneck)
	}
	if len(p.Stages)+len(p.Unused) != len(nodes) {
		t.Errorf("%d stages + %d unused for %d nodes", len(p.Stages), len(p.Unused), len(nodes))
	}
}

func maxCompute(p *Plan) time.Duration {
	var c time.Duration
	for _, a := range p.Stages {
		c = max(c, a.Compute)
	}
	return c
}

func TestPlace13BOnFourSmallNodes(t *testing.T) {
	m := llama13B(t)
	var total uint64
	for _, l := range m.Layers {
		total += l.WeightBytes
	}
	t.Logf("13B mix: layers %.3f GiB, embeddings %.1f MiB, head %.1f MiB", float64(total)/gib, float64(m.EmbedBytes)/(1<<20), float64(m.HeadBytes)/(1<<20))
	nodes := equalNodes(4, 1.5*gib, 50e9)
	cfg := PlanConfig{Context: 512, Sessions: 1, ScratchBytes: 16 << 20}
	p, err := Place(m, nodes, cfg)
	if err != nil {
		t.Fatal(err)
	}
	checkPlan(t, p, m, nodes, cfg)
	for _, a := range p.Stages {
		t.Logf("%s [%2d,%2d) embed=%v head=%v memory %.3f GiB compute %v", a.Node, a.First, a.End, a.Embed, a.Head, float64(a.MemoryBytes)/gib, a.Compute)
	}
	ratio := float64(maxCompute(p)) / float64(p.Ideal)
	t.Logf("slowest stage %v, ideal %v: %.3f× ideal", maxCompute(p), p.Ideal, ratio)
	if len(p.Stages) != 4 {
		t.Fatalf("%d stages, want all 4 nodes (none can hold the model alone)", len(p.Stages))
	}
	if ratio > 1.15 {
		t.Errorf("slowest stage %.3f× the ideal balance, want ≤ 1.15", ratio)
	}
}

func TestPlaceHeterogeneous(t *testing.T) {
	m := llama13B(t)
	nodes := []Node{
		{ID: "laptop", MemoryBytes: 4 * gib, BytesPerSecond: 100e9, Latency: time.Millisecond},
		{ID: "desktop-gpu", MemoryBytes: 8 * gib, BytesPerSecond: 400e9, Latency: time.Millisecond},
		{ID: "far-away", MemoryBytes: 16 * gib, BytesPerSecond: 5e9, Latency: 80 * time.Millisecond},
		{ID: "phone", MemoryBytes: 2 * gib, BytesPerSecond: 25e9, Latency: 2 * time.Millisecond},
	}
	cfg := PlanConfig{Context: 2048, Sessions: 2, ScratchBytes: 64 << 20}
	p, err := Place(m, nodes, cfg)
	if err != nil {
		t.Fatal(err)
	}
	checkPlan(t, p, m, nodes, cfg)
	t.Log(p)
	if len(p.Unused) != 1 || p.Unused[0] != "far-away" {
		t.Errorf("unused %v, want the slow, distant node alone", p.Unused)
	}
	layers := map[string]int{}
	for _, a := range p.Stages {
		layers[a.Node] = a.End - a.First
	}
	if !(layers["desktop-gpu"] > layers["laptop"] && layers["laptop"] > layers["phone"]) {
		t.Errorf("layers %v do not follow throughput", layers)
	}
	// The best any split can do, checked by brute force over every order and
	// every split of these nodes.
	bf := bruteBottleneck(t, m, nodes, cfg)
	if float64(p.Bottleneck) > float64(bf)*(1+DefaultTolerance)+1 {
		t.Errorf("bottleneck %v, brute force finds %v", p.Bottleneck, bf)
	}
	if ratio := float64(maxCompute(p)) / float64(p.Ideal); ratio > 1.25 {
		t.Errorf("slowest stage %.3f× ideal", ratio)
	}

	// A memory-poor fast node gets only what fits.
	nodes[1].MemoryBytes = 1 * gib
	p, err = Place(m, nodes, cfg)
	if err != nil {
		t.Fatal(err)
	}
	checkPlan(t, p, m, nodes, cfg)
	t.Log(p)
}

// bruteBottleneck enumerates every order and every split (memory only) and
// returns the smallest bottleneck.
func bruteBottleneck(t *testing.T, m ModelShape, nodes []Node, cfg PlanConfig) time.Duration {
	c := newCosts(&m, nodes, mustNorm(t, cfg))
	best := math.Inf(1)
	for _, o := range candidateOrders(nodes) {
		forEachSplit(c.L, len(o), func(ends []int) {
			worst, start := 0.0, 0
			for j, e := range ends {
				if e == start {
					continue
				}
				if !c.fits(o[j], start, e) {
					return
				}
				worst = math.Max(worst, c.secs(o[j], start, e))
				start = e
			}
			best = math.Min(best, worst)
		})
	}
	return seconds(best)
}

func mustNorm(t *testing.T, cfg PlanConfig) PlanConfig {
	n, err := cfg.normalized()
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// forEachSplit calls f with every non-decreasing ends[0..k) ending at L.
func forEachSplit(L, k int, f func(ends []int)) {
	ends := make([]int, k)
	var rec func(j, lo int)
	rec = func(j, lo int) {
		if j == k-1 {
			ends[j] = L
			f(ends)
			return
		}
		for e := lo; e <= L; e++ {
			ends[j] = e
			rec(j+1, e)
		}
	}
	rec(0, 0)
}

func TestPlaceMatchesBruteForce(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for trial := 0; trial < 60; trial++ {
		L := 1 + rng.IntN(9)
		m := ModelShape{EmbedBytes: uint64(rng.IntN(50)), HeadBytes: uint64(rng.IntN(80))}
		for i := 0; i < L; i++ {
			m.Layers = append(m.Layers, LayerShape{WeightBytes: 10 + uint64(rng.IntN(90)), KVBytesPerToken: uint64(rng.IntN(3))})
		}
		var nodes []Node
		for i := 0; i < 1+rng.IntN(4); i++ {
			nodes = append(nodes, Node{ID: string(rune('p' + i)), MemoryBytes: uint64(50 + rng.IntN(600)),
				BytesPerSecond: float64(1 + rng.IntN(20)), Latency: time.Duration(rng.IntN(3)) * time.Second})
		}
		cfg := PlanConfig{Context: 4, Sessions: 2, ScratchBytes: 5}
		p, err := Place(m, nodes, cfg)
		bf := bruteBottleneck(t, m, nodes, cfg)
		if err != nil {
			var ce *CapacityError
			if !errors.As(err, &ce) || bf != seconds(math.Inf(1)) {
				t.Fatalf("trial %d: %v, but brute force finds a plan with bottleneck %v", trial, err, bf)
			}
			continue
		}
		checkPlan(t, p, m, nodes, cfg)
		if float64(p.Bottleneck) > float64(bf)*(1+DefaultTolerance)+1 {
			t.Fatalf("trial %d: bottleneck %v, brute force %v", trial, p.Bottleneck, bf)
		}
	}
}

func TestPlaceRefusesImpossibleBudgets(t *testing.T) {
	m := llama13B(t)
	cfg := PlanConfig{Context: 512, Sessions: 1, ScratchBytes: 16 << 20}
	_, err := Place(m, equalNodes(4, 1*gib, 50e9), cfg)
	var ce *CapacityError
	if !errors.As(err, &ce) {
		t.Fatalf("4 × 1 GiB: %v, want a *CapacityError", err)
	}
	t.Log(err)
	if ce.Have != 4*gib || ce.Missing != ce.Need-ce.Have || !strings.Contains(err.Error(), "missing") ||
		!strings.Contains(err.Error(), fmtGiB(ce.Missing)) {
		t.Errorf("unclear refusal: %v (%+v)", err, ce)
	}

	// Enough memory in all, but no contiguous split fits: three 1 GiB layers
	// on two nodes that each hold only one.
	m3 := ModelShape{Layers: []LayerShape{{WeightBytes: gib}, {WeightBytes: gib}, {WeightBytes: gib}}}
	_, err = Place(m3, equalNodes(2, 16*gib/10, 1e9), PlanConfig{Context: 1, Sessions: 1})
	if !errors.As(err, &ce) {
		t.Fatalf("packing: %v, want a *CapacityError", err)
	}
	t.Log(err)
	if ce.Covered != 2 || ce.Missing != gib || !strings.Contains(err.Error(), "contiguous") {
		t.Errorf("unclear packing refusal: %v (%+v)", err, ce)
	}
}

func TestPlaceRejectsBadInput(t *testing.T) {
	m := uniform(4)
	good := equalNodes(2, 8*gib, 1e9)
	cfg := PlanConfig{Context: 16, Sessions: 1}
	cases := []struct {
		name  string
		m     ModelShape
		nodes []Node
		cfg   PlanConfig
	}{
		{"no layers", ModelShape{}, good, cfg},
		{"no nodes", m, nil, cfg},
		{"duplicate id", m, []Node{good[0], good[0]}, cfg},
		{"zero throughput", m, []Node{{ID: "x", MemoryBytes: gib}}, cfg},
		{"NaN throughput", m, []Node{{ID: "x", MemoryBytes: gib, BytesPerSecond: math.NaN()}}, cfg},
		{"negative latency", m, []Node{{ID: "x", MemoryBytes: gib, BytesPerSecond: 1, Latency: -1}}, cfg},
		{"no context", m, good, PlanConfig{Sessions: 1}},
		{"huge reservation", m, good, PlanConfig{Context: 1 << 20, Sessions: 1 << 10}},
		{"NaN tolerance", m, good, PlanConfig{Context: 1, Sessions: 1, Tolerance: math.NaN()}},
		{"empty layer", ModelShape{Layers: []LayerShape{{}}}, good, cfg},
	}
	for _, c := range cases {
		if p, err := Place(c.m, c.nodes, c.cfg); err == nil {
			t.Errorf("%s: placed %v", c.name, p)
		}
	}
}

// bruteMinMove returns the fewest moved bytes of any split of nodes in order
// that fits memory and keeps every stage within bound seconds.
func bruteMinMove(t *testing.T, c *costs, order []int, held map[int]Assignment, bound float64) (uint64, bool) {
	best, found := uint64(math.MaxUint64), false
	forEachSplit(c.L, len(order), func(ends []int) {
		var moved uint64
		start := 0
		for j, e := range ends {
			if e == start {
				continue
			}
			if !c.fits(order[j], start, e) || c.secs(order[j], start, e) > bound {
				return
			}
			moved += c.movedBytes(held[order[j]], start, e)
			start = e
		}
		if moved < best {
			best, found = moved, true
		}
	})
	return best, found
}

func remove(nodes []Node, id string) []Node {
	var out []Node
	for _, n := range nodes {
		if n.ID != id {
			out = append(out, n)
		}
	}
	return out
}

func TestReplanLeaveMovesOnlyTheGap(t *testing.T) {
	m := uniform(40)
	nodes := equalNodes(4, 4*gib, 10e9)
	cfg := PlanConfig{Context: 1024, Sessions: 2}
	old, err := Place(m, nodes, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Log(old)
	gone, _ := old.Stage("b")
	p, err := Replan(old, m, remove(nodes, "b"), cfg)
	if err != nil {
		t.Fatal(err)
	}
	checkPlan(t, p, m, remove(nodes, "b"), cfg)
	t.Log(p)
	if p.Epoch != old.Epoch+1 {
		t.Errorf("epoch %d after %d", p.Epoch, old.Epoch)
	}
	if want := gone.End - gone.First; p.MovedLayers != want || want != 10 {
		t.Errorf("moved %d layers, want the %d the leaving node held", p.MovedLayers, want)
	}
	for _, a := range old.Stages {
		if a.Node == "b" {
			continue
		}
		now, ok := p.Stage(a.Node)
		if !ok || now.First > a.First || now.End < a.End {
			t.Errorf("survivor %s held [%d,%d), now %+v", a.Node, a.First, a.End, now)
		}
	}

	if want := bruteReplanMin(t, old, m, remove(nodes, "b"), cfg); p.MovedBytes != want {
		t.Errorf("moved %d bytes, brute-force minimum %d", p.MovedBytes, want)
	}

	// The first node leaving: only b borders the gap, and taking all of it
	// (20 layers) would break the balance bound (a fresh 3-node plan's
	// bottleneck is 14 layers, +15% allows 16). So b takes [0,16) and the
	// embeddings, c takes 16..19 from b's old range: 10 + 4 layers move.
	p, err = Replan(old, m, remove(nodes, "a"), cfg)
	if err != nil {
		t.Fatal(err)
	}
	checkPlan(t, p, m, remove(nodes, "a"), cfg)
	t.Log(p)
	if p.MovedLayers != 14 || p.MovedBytes != 14*(100<<20)+m.EmbedBytes {
		t.Errorf("first node left: moved %d layers / %d bytes", p.MovedLayers, p.MovedBytes)
	}
	if want := bruteReplanMin(t, old, m, remove(nodes, "a"), cfg); p.MovedBytes != want {
		t.Errorf("moved %d bytes, brute-force minimum %d", p.MovedBytes, want)
	}
}

// bruteReplanMin is the fewest bytes any plan may move from old to nodes
// under Replan's constraints (survivors in their old order, at most one
// newcomer in any slot, balance within the default slack of a fresh plan),
// found by enumerating every split.
func bruteReplanMin(t *testing.T, old *Plan, m ModelShape, nodes []Node, cfg PlanConfig) uint64 {
	t.Helper()
	c := newCosts(&m, nodes, mustNorm(t, cfg))
	_, best, ok := c.place()
	if !ok {
		t.Fatal("no fresh plan")
	}
	held := map[int]Assignment{}
	var base []int
	for _, st := range old.Stages {
		for i, n := range nodes {
			if n.ID == st.Node {
				held[i] = st
				base = append(base, i)
			}
		}
	}
	orders := [][]int{base}
	for i := range nodes {
		if _, ok := held[i]; ok {
			continue
		}
		if len(orders) > 1 || len(base) == len(nodes) {
			t.Fatal("bruteReplanMin handles one newcomer")
		}
		orders = nil
		for pos := 0; pos <= len(base); pos++ {
			orders = append(orders, insertAt(base, pos, i))
		}
	}
	want, found := uint64(math.MaxUint64), false
	for _, o := range orders {
		if v, ok := bruteMinMove(t, c, o, held, best*(1+DefaultReplanSlack)); ok {
			want, found = min(want, v), true
		}
	}
	if !found {
		t.Fatal("brute force finds no plan")
	}
	return want
}

// TestReplan13BLeave: five 1.5 GiB nodes hold the 13B model; one leaves and
// the remaining four are so full that layers must shift along the whole
// pipeline. Exactly the brute-force minimum moves.
func TestReplan13BLeave(t *testing.T) {
	m := llama13B(t)
	nodes := equalNodes(5, 1.5*gib, 50e9)
	cfg := PlanConfig{Context: 512, Sessions: 1, ScratchBytes: 16 << 20}
	old, err := Place(m, nodes, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Log(old)
	left := remove(nodes, "c")
	p, err := Replan(old, m, left, cfg)
	if err != nil {
		t.Fatal(err)
	}
	checkPlan(t, p, m, left, cfg)
	t.Logf("%v: moved %d layers, %.1f MiB", p, p.MovedLayers, float64(p.MovedBytes)/(1<<20))

	if want := bruteReplanMin(t, old, m, left, cfg); p.MovedBytes != want {
		t.Errorf("moved %d bytes, brute-force minimum is %d", p.MovedBytes, want)
	}
	// Memory forces 10/11/11/8-like ranges on four nodes, so beyond the 8
	// layers that left, boundaries shift: exactly 10 layers move.
	if p.MovedLayers != 10 {
		t.Errorf("moved %d layers, want 10", p.MovedLayers)
	}
	gone, _ := old.Stage("c")
	if p.MovedLayers < gone.End-gone.First {
		t.Errorf("moved %d layers, fewer than the %d that left", p.MovedLayers, gone.End-gone.First)
	}
	fresh, _ := Place(m, left, cfg)
	freshMoved, _ := movedAgainst(newCosts(&m, left, mustNorm(t, cfg)), fresh, old)
	t.Logf("a fresh plan would move %d layers", freshMoved)
}

// movedAgainst counts the layers plan p moves relative to old.
func movedAgainst(c *costs, p, old *Plan) (int, uint64) {
	var layers int
	var bytes uint64
	for _, a := range p.Stages {
		l, b := c.moved(a, old)
		layers += l
		bytes += b
	}
	return layers, bytes
}

func TestReplanJoin(t *testing.T) {
	m := uniform(40)
	nodes := equalNodes(4, 8*gib, 10e9)
	cfg := PlanConfig{Context: 1024, Sessions: 2}
	old, err := Place(m, nodes, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Log(old)
	joined := append(equalNodes(5, 8*gib, 10e9)[4:], nodes...) // the newcomer first: order must not matter
	p, err := Replan(old, m, joined, cfg)
	if err != nil {
		t.Fatal(err)
	}
	checkPlan(t, p, m, joined, cfg)
	t.Logf("%v: moved %d layers", p, p.MovedLayers)
	a, ok := p.Stage("e")
	if !ok {
		t.Fatal("the joining node was not used")
	}
	// Five equal nodes: a fresh plan's bottleneck is 8 layers + head; within
	// 15% each stage may hold 9, so the newcomer takes at least 4 layers.
	// Inserted mid-pipeline it absorbs both neighbours' excess: 4 layers of
	// its own and one from each side move, 6 in all (a fresh plan moves far
	// more).
	if n := a.End - a.First; n < 4 {
		t.Errorf("newcomer holds %d layers", n)
	}
	if p.MovedLayers != 6 {
		t.Errorf("moved %d layers, want 6", p.MovedLayers)
	}
	c := newCosts(&m, joined, mustNorm(t, cfg))
	fresh, _ := Place(m, joined, cfg)
	freshMoved, _ := movedAgainst(c, fresh, old)
	t.Logf("a fresh plan would move %d layers", freshMoved)
	if p.MovedLayers >= freshMoved {
		t.Errorf("re-plan moved %d layers, a fresh plan %d", p.MovedLayers, freshMoved)
	}
	if float64(p.Bottleneck) > float64(fresh.Bottleneck)*(1+DefaultReplanSlack) {
		t.Errorf("bottleneck %v, fresh %v", p.Bottleneck, fresh.Bottleneck)
	}

	// Brute force over every insertion slot agrees on the minimum.
	if want := bruteReplanMin(t, old, m, joined, cfg); p.MovedBytes != want {
		t.Errorf("moved %d bytes, brute force %d", p.MovedBytes, want)
	}
}

func TestReplanRejectsBadOldPlan(t *testing.T) {
	m := uniform(8)
	nodes := equalNodes(2, 8*gib, 1e9)
	cfg := PlanConfig{Context: 16, Sessions: 1}
	p, err := Place(m, nodes, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Replan(nil, m, nodes, cfg); err == nil {
		t.Error("re-planned without a previous plan")
	}
	if _, err := Replan(p, uniform(9), nodes, cfg); err == nil {
		t.Error("re-planned a plan for another model")
	}
	bad := *p
	bad.Stages = append([]Assignment(nil), p.Stages...)
	bad.Stages[0].End--
	if _, err := Replan(&bad, m, nodes, cfg); err == nil {
		t.Error("re-planned a plan with a gap")
	}
}
