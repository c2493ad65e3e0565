package quant

import (
	"fmt"
	"math"
	"sort"
)

// Candidate is one format a tensor may take and the loss measured when that
// tensor alone is stored in it (the rest of the model unchanged). Losses
// are in any additive unit (the precision package uses the mean KL
// divergence of the output distribution, in nats per token); the adaptive
// mode assumes the losses of different tensors add up.
type Candidate struct {
	Type Type
	Loss float64
}

// Sensitivity lists the candidate formats of one tensor.
type Sensitivity struct {
	Name       string
	Candidates []Candidate
}

// Scope says which tensors a budget counts.
type Scope int

const (
	// ScopeAll counts every tensor: embeddings, output head, norms, blocks.
	ScopeAll Scope = iota
	// ScopeBlocks counts the tensors of the transformer blocks only; the
	// others take the base policy's formats and are not counted.
	ScopeBlocks
)

// Budget bounds the stored bytes of the tensors in Scope.
type Budget struct {
	Bytes uint64
	Scope Scope
}

// BitsBudget converts bits per weight over the tensors in scope to bytes.
func BitsBudget(bits float64, scope Scope, tensors []TensorSpec) (Budget, error) {
	if !(bits > 0) || math.IsInf(bits, 0) {
		return Budget{}, fmt.Errorf("quant: budget of %v bits per weight is not a positive number", bits)
	}
	var w uint64
	for _, t := range tensors {
		if _, layer := ClassifyTensor(t.Name); scope == ScopeAll || layer >= 0 {
			w += t.Elements()
		}
	}
	return Budget{Bytes: uint64(math.Floor(bits * float64(w) / 8)), Scope: scope}, nil
}

// knapsackStates bounds the dynamic programme's byte resolution: costs are
// rounded up to budget/knapsackStates, so a plan it returns always fits.
const knapsackStates = 1 << 15

// Adaptive chooses, for every tensor that has a Sensitivity, the candidate
// that minimises the total loss with the tensors in the budget's scope
// fitting in budget.Bytes; every other tensor takes base's format. It is an
// exact multiple-choice knapsack over bytes rounded up to budget/32768.
// It fails when even the smallest candidates do not fit, naming the least
// budget that would.
func Adaptive(tensors []TensorSpec, base Policy, sens []Sensitivity, budget Budget) (Plan, error) {
	if budget.Scope != ScopeAll && budget.Scope != ScopeBlocks {
		return Plan{}, fmt.Errorf("quant: adaptive: unknown budget scope %d", int(budget.Scope))
	}
	plan, err := base.Apply(tensors)
	if err != nil {
		return Plan{}, err
	}
	plan.Name = fmt.Sprintf("adaptive %.2f MB", float64(budget.Bytes)/1e6)
	byName := make(map[string]int, len(plan.Tensors))
	for i, t := range plan.Tensors {
		byName[t.Name] = i
	}
	inScope := func(p Planned) bool { return budget.Scope == ScopeAll || p.Layer >= 0 }

	// Each group is one tensor's feasible candidates, each with its size.
	type option struct {
		p    Planned
		loss float64
	}
	var groups [][]option
	var groupIdx []int
	var fixed uint64
	seen := make(map[string]bool, len(sens))
	for _, s := range sens {
		i, ok := byName[s.Name]
		if !ok {
			return Plan{}, fmt.Errorf("quant: adaptive: sensitivity for %q, which the model does not have", s.Name)
		}
		if seen[s.Name] {
			return Plan{}, fmt.Errorf("quant: adaptive: tensor %q has two sensitivity entries", s.Name)
		}
		seen[s.Name] = true
		t := plan.Tensors[i]
		if !inScope(t) {
			return Plan{}, fmt.Errorf("quant: adaptive: tensor %q is outside the budget's scope", s.Name)
		}
		var opts []option
		for _, c := range s.Candidates {
			if err := checkFormat(s.Name, c.Type); err != nil {
				return Plan{}, fmt.Errorf("quant: adaptive: %w", err)
			}
			if math.IsNaN(c.Loss) || math.IsInf(c.Loss, 0) {
				return Plan{}, fmt.Errorf("quant: adaptive: tensor %q format %s has loss %v", s.Name, c.Type, c.Loss)
			}
			p, err := planTensor(t.TensorSpec, t.Role, t.Layer, c.Type)
			if err != nil {
				return Plan{}, fmt.Errorf("quant: adaptive: %w", err)
			}
			opts = append(opts, option{p, c.Loss})
		}
		if len(opts) == 0 {
			return Plan{}, fmt.Errorf("quant: adaptive: tensor %q has no candidate formats", s.Name)
		}
		groups = append(groups, opts)
		groupIdx = append(groupIdx, i)
	}
	for _, t := range plan.Tensors {
		if inScope(t) && !seen[t.Name] {
			fixed += t.Bytes
		}
	}
	least := fixed
	for _, g := range groups {
		m := g[0].p.Bytes
		for _, o := range g[1:] {
			m = min(m, o.p.Bytes)
		}
		least += m
	}
	if least > budget.Bytes {
		return Plan{}, fmt.Errorf("quant: adaptive: a budget of %d bytes is below the smallest possible model (%d bytes with the smallest candidate formats)", budget.Bytes, least)
	}
	free := budget.Bytes - fixed
	quantum := max(1, (free+knapsackStates-1)/knapsackStates)
	states := int(free / quantum)
	cost := func(b uint64) int { return int((b + quantum - 1) / quantum) }

	// best[c] is the least loss of the groups so far within c quanta;
	// choice[g][c] the option group g took there.
	inf := math.Inf(1)
	best := make([]float64, states+1)
	next := make([]float64, states+1)
	choice := make([][]int8, len(groups))
	for gi, g := range groups {
		choice[gi] = make([]int8, states+1)
		for c := range next {
			next[c] = inf
			for oi, o := range g {
				w := cost(o.p.Bytes)
				if w <= c && best[c-w]+o.loss < next[c] {
					next[c], choice[gi][c] = best[c-w]+o.loss, int8(oi)
				}
			}
		}
		best, next = next, best
	}
	if math.IsInf(best[states], 1) {
		// Rounding costs up can lose a plan that fits by a few bytes.
		return Plan{}, fmt.Errorf("quant: adaptive: no plan fits %d bytes at this resolution (the smallest is %d bytes)", budget.Bytes, least)
	}
	c := states
	for gi := len(groups) - 1; gi >= 0; gi-- {
		o := groups[gi][choice[gi][c]]
		plan.Tensors[groupIdx[gi]] = o.p
		c -= cost(o.p.Bytes)
	}
	return plan, nil
}

// PredictedLoss sums the measured loss of each tensor's planned format
// (tensors without a measurement, or in an unmeasured format, count 0 and
// are reported in missing).
func PredictedLoss(p Plan, sens []Sensitivity) (loss float64, missing []string) {
	by := make(map[string]Sensitivity, len(sens))
	for _, s := range sens {
		by[s.Name] = s
	}
	for _, t := range p.Tensors {
		s, ok := by[t.Name]
		found := false
		for _, c := range s.Candidates {
			if c.Type == t.Type {
				loss += c.Loss
				found = true
			}
		}
		if ok && !found {
			missing = append(missing, t.Name)
		}
	}
	sort.Strings(missing)
	return loss, missing
}
