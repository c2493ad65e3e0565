package quant

import (
	"fmt"
	"strings"
	"testing"
)

// llamaSpecs is a LLaMA shape like austen-22m's (dim 256, ffn 768, 2 KV
// heads of 64, vocab 32000).
func llamaSpecs(layers int) []TensorSpec {
	s := []TensorSpec{{"token_embd.weight", []uint64{256, 32000}}}
	for l := 0; l < layers; l++ {
		p := fmt.Sprintf("blk.%d.", l)
		s = append(s,
			TensorSpec{p + "attn_norm.weight", []uint64{256}},
			TensorSpec{p + "attn_q.weight", []uint64{256, 256}},
			TensorSpec{p + "attn_k.weight", []uint64{256, 128}},
			TensorSpec{p + "attn_v.weight", []uint64{256, 128}},
			TensorSpec{p + "attn_output.weight", []uint64{256, 256}},
			TensorSpec{p + "ffn_norm.weight", []uint64{256}},
			TensorSpec{p + "ffn_gate.weight", []uint64{256, 768}},
			TensorSpec{p + "ffn_up.weight", []uint64{256, 768}},
			TensorSpec{p + "ffn_down.weight", []uint64{768, 256}},
		)
	}
	return append(s, TensorSpec{"output_norm.weight", []uint64{256}}, TensorSpec{"output.weight", []uint64{256, 32000}})
}

func TestClassifyTensor(t *testing.T) {
	for name, want := range map[string]struct {
		r Role
		l int
	}{
		"token_embd.weight": {RoleTokenEmbd, -1}, "output.weight": {RoleOutput, -1},
		"blk.3.attn_v.weight": {RoleAttnV, 3}, "blk.12.ffn_down.weight": {RoleFFNDown, 12},
		"blk.0.ffn_norm.weight": {RoleNorm, 0}, "rope_freqs.weight": {RoleOther, -1}, "blk.x.attn_q.weight": {RoleOther, -1},
	} {
		if r, l := ClassifyTensor(name); r != want.r || l != want.l {
			t.Errorf("%s: got %v layer %d, want %v layer %d", name, r, l, want.r, want.l)
		}
	}
}

// TestUniformBytes checks plan sizes against the llama.cpp files of
// austen-22m: Q8_0 everywhere is 24,110,080 tensor bytes (PERPLEXITY.md).
func TestUniformBytes(t *testing.T) {
	p, err := UniformPolicy(Q8_0).Apply(llamaSpecs(8))
	if err != nil {
		t.Fatal(err)
	}
	if p.Bytes() != 24_110_080 || p.Weights() != 22_679_808 {
		t.Fatalf("Q8_0 plan: %d bytes of %d weights, want 24110080 of 22679808", p.Bytes(), p.Weights())
	}
	for _, tp := range p.Tensors {
		if tp.Role == RoleNorm && tp.Type != F32 {
			t.Errorf("norm %s planned as %s", tp.Name, tp.Type)
		}
	}
}

func TestProfilesOrderAndEdges(t *testing.T) {
	specs := llamaSpecs(8)
	var last uint64 = 1 << 62
	for _, pr := range Profiles {
		pol, err := pr.Policy()
		if err != nil {
			t.Fatal(err)
		}
		p, err := pol.Apply(specs)
		if err != nil {
			t.Fatal(err)
		}
		if p.Bytes() >= last {
			t.Errorf("profile %s (%d bytes) is not smaller than the one before", pr, p.Bytes())
		}
		last = p.Bytes()
		t.Logf("%s: %d bytes, %.2f bits/weight, blocks %.2f", pr, p.Bytes(), p.BitsPerWeight(), p.BlockBitsPerWeight())
	}
	pol, _ := ProfileBalanced.Policy()
	p, _ := pol.Apply(specs)
	for name, want := range map[string]Type{"blk.0.attn_v.weight": Q6_K, "blk.7.ffn_down.weight": Q6_K, "blk.3.ffn_down.weight": Q4_K, "output.weight": Q6_K} {
		if got, _ := p.Format(name); got != want {
			t.Errorf("balanced %s: %s, want %s", name, got, want)
		}
	}
	if _, err := ParseProfile("tiny"); err == nil {
		t.Error("unknown profile accepted")
	}
}

// TestBadPoliciesRefused: unknown formats, formats a row cannot hold,
// budgets below the smallest model, pins of absent tensors.
func TestBadPoliciesRefused(t *testing.T) {
	specs := llamaSpecs(2)
	odd := append(llamaSpecs(1), TensorSpec{"blk.0.extra.weight", []uint64{96, 4}})
	bad := []struct {
		name  string
		run   func() error
		where string
	}{
		{"unknown format", func() error { _, err := UniformPolicy(Type(99)).Apply(specs); return err }, "unknown format"},
		{"unsupported format", func() error { _, err := UniformPolicy(IQ2_XS).Apply(specs); return err }, "cannot be used"},
		{"Q8_K weights", func() error { _, err := UniformPolicy(Q8_K).Apply(specs); return err }, "cannot be used"},
		{"row too short", func() error { _, err := UniformPolicy(Q4_K).Apply(odd); return err }, "multiple of 256"},
		{"missing pin", func() error {
			_, err := Policy{Name: "p", Formats: Uniform(Q4_0), Tensors: []TensorFormat{{"blk.9.attn_q.weight", Q8_0}}}.Apply(specs)
			return err
		}, "does not have"},
		{"budget too small", func() error {
			_, err := Adaptive(specs, UniformPolicy(Q8_0), uniformSens(specs, 1), Budget{Bytes: 1000})
			return err
		}, "below the smallest possible"},
		{"bits budget not positive", func() error { _, err := BitsBudget(-1, ScopeAll, specs); return err }, "positive"},
		{"sensitivity for absent tensor", func() error {
			_, err := Adaptive(specs, UniformPolicy(Q8_0), []Sensitivity{{"nope", []Candidate{{Q4_K, 1}}}}, Budget{Bytes: 1 << 30})
			return err
		}, "does not have"},
		{"candidate row too short", func() error {
			_, err := Adaptive(odd, UniformPolicy(Q8_0), []Sensitivity{{"blk.0.extra.weight", []Candidate{{Q2_K, 1}}}}, Budget{Bytes: 1 << 30})
			return err
		}, "multiple of 256"},
	}
	for _, b := range bad {
		err := b.run()
		if err == nil || !strings.Contains(err.Error(), b.where) {
			t.Errorf("%s: got %v, want an error containing %q", b.name, err, b.where)
		}
	}
	// Q4_0 holds rows of 96 (blocks of 32): the same odd tensor is fine.
	if _, err := UniformPolicy(Q4_0).Apply(odd); err != nil {
		t.Errorf("Q4_0 on 96-wide rows: %v", err)
	}
}

// uniformSens gives every matrix the candidates Q2_K..Q8_0 with a loss
// that halves per step up, scaled by the tensor's weight count.
func uniformSens(specs []TensorSpec, scale float64) []Sensitivity {
	var out []Sensitivity
	for _, s := range specs {
		if !s.matrix() {
			continue
		}
		w := float64(s.Elements()) * scale
		out = append(out, Sensitivity{s.Name, []Candidate{{Q2_K, 16 * w}, {Q3_K, 8 * w}, {Q4_K, 4 * w}, {Q5_K, 2 * w}, {Q6_K, w}, {Q8_0, w / 4}}})
	}
	return out
}

// TestAdaptiveIsOptimal compares the knapsack with brute force on a small
// model and checks that budgets are respected.
func TestAdaptiveIsOptimal(t *testing.T) {
	specs := llamaSpecs(1)[:4] // token_embd, attn_norm, attn_q, attn_k
	sens := []Sensitivity{
		{"token_embd.weight", []Candidate{{Q2_K, 0.030}, {Q3_K, 0.009}, {Q4_K, 0.002}, {Q6_K, 0.0001}}},
		{"blk.0.attn_q.weight", []Candidate{{Q2_K, 0.004}, {Q4_K, 0.0003}, {Q8_0, 0}}},
		{"blk.0.attn_k.weight", []Candidate{{Q2_K, 0.010}, {Q3_K, 0.001}, {Q8_0, 0}}},
	}
	base := UniformPolicy(F16)
	for _, budget := range []uint64{2_750_000, 3_000_000, 3_600_000, 4_700_000, 7_000_000} {
		p, err := Adaptive(specs, base, sens, Budget{Bytes: budget})
		if err != nil {
			t.Fatalf("budget %d: %v", budget, err)
		}
		if p.Bytes() > budget {
			t.Errorf("budget %d: plan is %d bytes", budget, p.Bytes())
		}
		got, _ := PredictedLoss(p, sens)
		best := bruteForce(t, specs, sens, budget)
		if got > best+1e-12 {
			t.Errorf("budget %d: knapsack loss %g, brute force %g", budget, got, best)
		}
	}
}

func bruteForce(t *testing.T, specs []TensorSpec, sens []Sensitivity, budget uint64) float64 {
	byName := map[string]TensorSpec{}
	for _, s := range specs {
		byName[s.Name] = s
	}
	var fixed uint64
	for _, s := range specs {
		if !s.matrix() {
			fixed += s.Elements() * 4
		}
	}
	best := 1e300
	var rec func(i int, bytes uint64, loss float64)
	rec = func(i int, bytes uint64, loss float64) {
		if bytes > budget {
			return
		}
		if i == len(sens) {
			best = min(best, loss)
			return
		}
		for _, c := range sens[i].Candidates {
			n, err := c.Type.TensorBytes(byName[sens[i].Name].Elements())
			if err != nil {
				t.Fatal(err)
			}
			rec(i+1, bytes+n, loss+c.Loss)
		}
	}
	rec(0, fixed, 0)
	return best
}

func TestAdaptiveBlocksScope(t *testing.T) {
	specs := llamaSpecs(8)
	var blockSens []Sensitivity
	for _, s := range uniformSens(specs, 1e-9) {
		if _, l := ClassifyTensor(s.Name); l >= 0 {
			blockSens = append(blockSens, s)
		}
	}
	base, _ := ProfileBalanced.Policy()
	for _, bits := range []float64{2.75, 3.0, 4.0} {
		b, err := BitsBudget(bits, ScopeBlocks, specs)
		if err != nil {
			t.Fatal(err)
		}
		p, err := Adaptive(specs, base, blockSens, b)
		if err != nil {
			t.Fatalf("%.2f bpw: %v", bits, err)
		}
		if got := p.BlockBitsPerWeight(); got > bits {
			t.Errorf("%.2f bpw over blocks: plan has %.4f", bits, got)
		}
		if f, _ := p.Format("output.weight"); f != Q6_K {
			t.Errorf("output outside the scope should keep the base's Q6_K, got %s", f)
		}
	}
	// Q2_K (2.625 bits) is the smallest candidate: 2.5 bits cannot be met.
	b, _ := BitsBudget(2.5, ScopeBlocks, specs)
	if _, err := Adaptive(specs, base, blockSens, b); err == nil || !strings.Contains(err.Error(), "below the smallest") {
		t.Errorf("2.5 bpw over blocks: got %v", err)
	}
	// A sensitivity outside the scope is a caller error.
	if _, err := Adaptive(specs, base, uniformSens(specs, 1), b); err == nil || !strings.Contains(err.Error(), "outside the budget's scope") {
		t.Errorf("out-of-scope sensitivity: got %v", err)
	}
}
