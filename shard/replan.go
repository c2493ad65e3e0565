package shard

import (
	"errors"
	"fmt"
	"math"
)

// Replan adapts old to a changed node set (nodes that left are absent from
// nodes, new ones are present; survivors may report new measurements).
//
// Objective: minimise the weight bytes nodes must load that they do not
// already hold (layers, embeddings, head), subject to
//   - memory: every stage fits its node, as in Place;
//   - balance: the bottleneck is at most (1 + ReplanSlack) × the best
//     bottleneck a fresh plan achieves on the new node set;
//   - order: survivors keep their pipeline order; each newcomer is inserted
//     where it costs the fewest moved bytes;
//
// breaking ties by the lower bottleneck. Shrinking a range costs nothing, so
// when a node leaves, its neighbours extend over the gap and nothing else
// moves unless memory or balance forces it; a joining node takes layers from
// the stages around its slot only as far as balance requires. When no plan in
// the survivors' order meets the constraints, Replan returns the fresh plan
// (counting what it moves).
func Replan(old *Plan, m ModelShape, nodes []Node, cfg PlanConfig) (*Plan, error) {
	if err := validate(&m, nodes); err != nil {
		return nil, err
	}
	cfg, err := cfg.normalized()
	if err != nil {
		return nil, err
	}
	if err := old.check(len(m.Layers)); err != nil {
		return nil, err
	}
	c := newCosts(&m, nodes, cfg)
	fresh, best, ok := c.place()
	if !ok {
		return nil, c.capacityError()
	}
	bound := best * (1 + cfg.ReplanSlack)

	index := make(map[string]int, len(nodes))
	for i, n := range nodes {
		index[n.ID] = i
	}
	held := make([]Assignment, len(nodes)) // zero value: holds nothing
	var order []int
	for _, a := range old.Stages {
		if i, ok := index[a.Node]; ok {
			held[i] = a
			order = append(order, i)
		}
	}
	cost := func(node, a, b int) score { return score{float64(c.movedBytes(held[node], a, b)), c.secs(node, a, b)} }
	inOld := make(map[int]bool, len(order))
	for _, i := range order {
		inOld[i] = true
	}
	for i := range nodes {
		if inOld[i] {
			continue
		}
		// Insert newcomer i where the resulting plan moves least.
		bestPos, bestScore := len(order), score{math.Inf(1), math.Inf(1)}
		for pos := 0; pos <= len(order); pos++ {
			cand := insertAt(order, pos, i)
			if _, s, ok := c.bestSplit(cand, bound, cost, sumMax); ok && s.less(bestScore) {
				bestPos, bestScore = pos, s
			}
		}
		order = insertAt(order, bestPos, i)
	}

	sp, _, ok := c.bestSplit(order, bound, cost, sumMax)
	if !ok {
		sp = fresh
	}
	p := c.plan(sp, old)
	p.Epoch = old.Epoch + 1
	return p, nil
}

// movedBytes is what a node holding was must load to hold [a,b) (with the
// embeddings and head that range implies).
func (c *costs) movedBytes(was Assignment, a, b int) uint64 {
	moved := c.weights[b] - c.weights[a]
	if lo, hi := max(a, was.First), min(b, was.End); lo < hi {
		moved -= c.weights[hi] - c.weights[lo]
	}
	if a == 0 && !was.Embed {
		moved += c.m.EmbedBytes
	}
	if b == c.L && !was.Head {
		moved += c.m.HeadBytes
	}
	return moved
}

func insertAt(order []int, pos, v int) []int {
	out := make([]int, 0, len(order)+1)
	out = append(out, order[:pos]...)
	out = append(out, v)
	return append(out, order[pos:]...)
}

// check verifies that p is a plan of a model with layers layers: contiguous
// ranges from 0 to layers, distinct nodes, flags consistent.
func (p *Plan) check(layers int) error {
	if p == nil {
		return errors.New("shard: re-plan without a previous plan")
	}
	if p.Layers != layers {
		return fmt.Errorf("shard: previous plan is for %d layers, the model has %d", p.Layers, layers)
	}
	next := 0
	seen := make(map[string]bool, len(p.Stages))
	for i, a := range p.Stages {
		if a.First != next || a.End <= a.First || a.End > layers || seen[a.Node] ||
			a.Embed != (a.First == 0) || a.Head != (a.End == layers) {
			return fmt.Errorf("shard: previous plan's stage %d (%q [%d,%d)) is inconsistent", i, a.Node, a.First, a.End)
		}
		seen[a.Node] = true
		next = a.End
	}
	if next != layers {
		return fmt.Errorf("shard: previous plan covers layers [0,%d) of %d", next, layers)
	}
	return nil
}
