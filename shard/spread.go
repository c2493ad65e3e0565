package shard

import "fmt"

// Spread places the layers evenly, by count, over every node in the order
// given (at most one node per layer), ignoring speed. It is for operators
// and tests that want every node to hold a stage — Place would leave out a
// node that does not shorten the slowest stage. Memory is still a hard limit.
// old (may be nil) is what nodes held before, for the move counts.
func Spread(m ModelShape, nodes []Node, cfg PlanConfig, old *Plan) (*Plan, error) {
	ncfg, err := cfg.normalized()
	if err != nil {
		return nil, err
	}
	if err := validate(&m, nodes); err != nil {
		return nil, err
	}
	c := newCosts(&m, nodes, ncfg)
	k := min(len(nodes), c.L)
	sp := split{}
	for j := 0; j < k; j++ {
		sp.order = append(sp.order, j)
		sp.ends = append(sp.ends, c.L*(j+1)/k)
	}
	start := 0
	for j, end := range sp.ends {
		if !c.fits(j, start, end) {
			return nil, fmt.Errorf("shard: node %s cannot hold layers [%d,%d) of an even spread: it needs %s, offers %s",
				nodes[j].ID, start, end, fmtGiB(c.memory(start, end)), fmtGiB(nodes[j].MemoryBytes))
		}
		start = end
	}
	p := c.plan(sp, old)
	p.Epoch = 1
	if old != nil {
		p.Epoch = old.Epoch + 1
	}
	return p, nil
}
