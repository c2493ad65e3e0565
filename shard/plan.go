package shard

import (
	"errors"
	"fmt"
	"math"
	"sort"
	"strings"
	"time"
)

// The planner decides which contiguous range of layers each node holds.
//
// Cost model. A decode step pushes one position of every session in flight
// through every stage. A stage streams its weights once per step (matvec is
// memory-bound, so a batch of rows costs about what one row costs), so its
// time per step is
//
//	(bytes of its layers + head bytes if last) / node.BytesPerSecond + node.Latency
//
// where Latency is the node's outgoing link (to the next stage, or the ring
// hop back to stage 0 and the client). The embedding table costs memory on
// the first stage but no time (one row is read per token).
//
// Place minimises the bottleneck, the slowest stage's time, which bounds the
// pipeline's throughput when many sessions are in flight. Among plans within
// Tolerance of the best bottleneck it then minimises the sum of stage times,
// which is one token's trip round the ring: that is what leaves a node
// unused when it cannot lower the bottleneck by more than Tolerance (a slow
// node, a far one, or one with too little memory for a single layer).
//
// Memory is a hard constraint: a stage's weights, plus KV for Context tokens ×
// Sessions at each of its layers, plus ScratchBytes, must fit its node's
// MemoryBytes.

// LayerShape is the cost of one transformer layer.
type LayerShape struct {
	WeightBytes     uint64 // all of the layer's tensors as stored (mixed formats allowed)
	KVBytesPerToken uint64 // K and V cache bytes for one token at this layer
}

// ModelShape is what the planner needs to know about a model.
type ModelShape struct {
	Layers     []LayerShape
	EmbedBytes uint64 // token embeddings, held by the first stage
	HeadBytes  uint64 // output norm + lm_head, held (and run) by the last stage
}

// Node is one participant's measured capacity.
type Node struct {
	ID             string
	MemoryBytes    uint64        // budget for weights, KV cache and scratch
	BytesPerSecond float64       // weight bytes per second its matvec streams (measured)
	Latency        time.Duration // one-way latency of its outgoing link
}

// PlanConfig holds the reservation and the planner's policy knobs.
type PlanConfig struct {
	Context      int    // tokens of KV reserved per session
	Sessions     int    // sessions served at once
	ScratchBytes uint64 // per-stage working memory (activations, staging buffers)
	// Tolerance: a plan whose bottleneck is within this fraction of the best
	// may be chosen for a shorter ring trip (fewer or faster nodes). 0 means
	// DefaultTolerance; negative means none.
	Tolerance float64
	// ReplanSlack: a re-plan keeps ranges (moving as little as possible) as
	// long as its bottleneck stays within this fraction of a fresh plan's.
	// 0 means DefaultReplanSlack; negative means none (always rebalance).
	ReplanSlack float64
}

// Policy defaults.
const (
	DefaultTolerance   = 0.02
	DefaultReplanSlack = 0.15
)

// Assignment is one stage of a plan.
type Assignment struct {
	Node        string
	First, End  int  // layers [First, End)
	Embed, Head bool // holds the embeddings (first stage) / norm + lm_head (last stage)
	WeightBytes uint64
	KVBytes     uint64
	MemoryBytes uint64        // WeightBytes + KVBytes + scratch: what the node must have
	Compute     time.Duration // per step: bytes read / node.BytesPerSecond
	Time        time.Duration // Compute + node.Latency
}

// Plan is a pipeline: stages in order, covering layers [0, Layers) exactly.
type Plan struct {
	Epoch  uint64 // 1 for a first plan; each re-plan adds one
	Layers int
	Stages []Assignment
	Unused []string // nodes given no layers
	// Bottleneck is the slowest stage's Time; Ideal is the compute time per
	// stage if the used nodes could split the work continuously in
	// proportion to their speed (a lower bound on the slowest Compute).
	Bottleneck time.Duration
	Ideal      time.Duration
	// MovedLayers and MovedBytes are what nodes must load that they did not
	// hold before (Replan), or everything (Place).
	MovedLayers int
	MovedBytes  uint64
}

// Stage returns the assignment of node id, if it has one.
func (p *Plan) Stage(id string) (Assignment, bool) {
	for _, a := range p.Stages {
		if a.Node == id {
			return a, true
		}
	}
	return Assignment{}, false
}

func (p *Plan) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "plan %d: bottleneck %v (ideal %v)", p.Epoch, p.Bottleneck, p.Ideal)
	for _, a := range p.Stages {
		fmt.Fprintf(&b, "; %s [%d,%d)", a.Node, a.First, a.End)
	}
	return b.String()
}

// CapacityError says the nodes cannot hold the model, and by how much.
type CapacityError struct {
	Need uint64 // bytes the model needs in all (weights, KV, one stage's scratch)
	Have uint64 // bytes the nodes offer in all
	// Missing: when Have < Need, the shortfall; otherwise what a further node
	// would need to hold the layers after Covered, the longest prefix that
	// some order of the nodes fits.
	Missing uint64
	Covered int
	Layers  int
}

func (e *CapacityError) Error() string {
	if e.Have < e.Need {
		return fmt.Sprintf("shard: cannot place the model: it needs %s (weights, KV and scratch) but the nodes offer %s; %s missing",
			fmtGiB(e.Need), fmtGiB(e.Have), fmtGiB(e.Missing))
	}
	return fmt.Sprintf("shard: cannot place the model: the nodes offer %s, more than the %s it needs, but no split into contiguous ranges fits; "+
		"at best layers [0,%d) of %d fit; the rest needs %s on a further node", fmtGiB(e.Have), fmtGiB(e.Need), e.Covered, e.Layers, fmtGiB(e.Missing))
}

func fmtGiB(b uint64) string { return fmt.Sprintf("%.2f GiB", float64(b)/(1<<30)) }

// Limits on inputs (far above any real model or device; they keep the
// arithmetic below in range).
const (
	maxLayers      = 1 << 12
	maxNodes       = 256
	maxBytes       = 1 << 50
	maxTokens      = 1 << 24 // Context × Sessions
	maxBytesPerSec = 1e15
)

// exhaustiveNodes: up to this many nodes Place tries every pipeline order;
// beyond, it tries choices of first and last node (among the endCandidates
// with the most memory, as the embeddings and head need it) with the others
// in the caller's order. The order only decides who carries the embeddings
// and the head, and where heavier layers fall; the split itself is exact.
const (
	exhaustiveNodes = 5
	endCandidates   = 8
)

func (c *PlanConfig) normalized() (PlanConfig, error) {
	n := *c
	if n.Context < 1 || n.Sessions < 1 || int64(n.Context)*int64(n.Sessions) > maxTokens {
		return n, fmt.Errorf("shard: reserve for %d tokens × %d sessions: want ≥ 1 each, at most %d tokens in all", n.Context, n.Sessions, maxTokens)
	}
	if n.ScratchBytes > maxBytes {
		return n, fmt.Errorf("shard: scratch of %d bytes is implausible", n.ScratchBytes)
	}
	for _, f := range []*float64{&n.Tolerance, &n.ReplanSlack} {
		if math.IsNaN(*f) || math.IsInf(*f, 0) || *f > 10 {
			return n, fmt.Errorf("shard: tolerance or slack %v out of range", *f)
		}
	}
	if n.Tolerance == 0 {
		n.Tolerance = DefaultTolerance
	}
	if n.ReplanSlack == 0 {
		n.ReplanSlack = DefaultReplanSlack
	}
	n.Tolerance = max(n.Tolerance, 0)
	n.ReplanSlack = max(n.ReplanSlack, 0)
	return n, nil
}

func validate(m *ModelShape, nodes []Node) error {
	if len(m.Layers) == 0 || len(m.Layers) > maxLayers {
		return fmt.Errorf("shard: model of %d layers (want 1..%d)", len(m.Layers), maxLayers)
	}
	if m.EmbedBytes > maxBytes || m.HeadBytes > maxBytes {
		return errors.New("shard: embedding or head size is implausible")
	}
	for i, l := range m.Layers {
		if l.WeightBytes == 0 || l.WeightBytes > maxBytes || l.KVBytesPerToken > 1<<30 {
			return fmt.Errorf("shard: layer %d: %d weight bytes, %d KV bytes per token", i, l.WeightBytes, l.KVBytesPerToken)
		}
	}
	if len(nodes) == 0 || len(nodes) > maxNodes {
		return fmt.Errorf("shard: %d nodes (want 1..%d)", len(nodes), maxNodes)
	}
	seen := make(map[string]bool, len(nodes))
	for _, n := range nodes {
		switch {
		case n.ID == "":
			return errors.New("shard: node without an id")
		case seen[n.ID]:
			return fmt.Errorf("shard: node %q listed twice", n.ID)
		case n.MemoryBytes > maxBytes:
			return fmt.Errorf("shard: node %q memory of %d bytes is implausible", n.ID, n.MemoryBytes)
		case !(n.BytesPerSecond > 0) || n.BytesPerSecond > maxBytesPerSec:
			return fmt.Errorf("shard: node %q throughput %v bytes/s (want a measured value > 0)", n.ID, n.BytesPerSecond)
		case n.Latency < 0 || n.Latency > time.Hour:
			return fmt.Errorf("shard: node %q latency %v", n.ID, n.Latency)
		}
		seen[n.ID] = true
	}
	return nil
}

// costs precomputes prefix sums so a range's bytes, memory and time are O(1).
type costs struct {
	m        *ModelShape
	cfg      PlanConfig
	nodes    []Node
	L        int
	weights  []uint64 // prefix sums of layer weight bytes
	kv       []uint64 // prefix sums of KV bytes for the whole reservation
	tokens   uint64
	headSecs float64
}

func newCosts(m *ModelShape, nodes []Node, cfg PlanConfig) *costs {
	c := &costs{m: m, cfg: cfg, nodes: nodes, L: len(m.Layers), tokens: uint64(cfg.Context) * uint64(cfg.Sessions)}
	c.weights = make([]uint64, c.L+1)
	c.kv = make([]uint64, c.L+1)
	for i, l := range m.Layers {
		// Inputs are bounded (validate), so these sums stay far below 2^64.
		c.weights[i+1] = c.weights[i] + l.WeightBytes
		c.kv[i+1] = c.kv[i] + l.KVBytesPerToken*c.tokens
	}
	return c
}

// weightBytes of [a,b) with the embeddings and head it implies.
func (c *costs) weightBytes(a, b int) uint64 {
	w := c.weights[b] - c.weights[a]
	if a == 0 {
		w += c.m.EmbedBytes
	}
	if b == c.L {
		w += c.m.HeadBytes
	}
	return w
}

func (c *costs) memory(a, b int) uint64 {
	return c.weightBytes(a, b) + c.kv[b] - c.kv[a] + c.cfg.ScratchBytes
}

func (c *costs) fits(node, a, b int) bool { return c.memory(a, b) <= c.nodes[node].MemoryBytes }

// computeSecs of [a,b) on node: the layers and, on the last stage, the head.
func (c *costs) computeSecs(node, a, b int) float64 {
	read := c.weights[b] - c.weights[a]
	if b == c.L {
		read += c.m.HeadBytes
	}
	return float64(read) / c.nodes[node].BytesPerSecond
}

func (c *costs) secs(node, a, b int) float64 {
	return c.computeSecs(node, a, b) + c.nodes[node].Latency.Seconds()
}

// split is a candidate plan: for each node of order, its range end; a node
// whose end equals the previous end is unused.
type split struct {
	order []int
	ends  []int
}

// minBottleneck finds, for nodes in this order (any may stay unused), the
// smallest achievable bottleneck, by dynamic programming over the range ends:
// best[j][e] is the smallest bottleneck covering layers [0,e) with the first
// j nodes. O(len(order)·L²).
func (c *costs) minBottleneck(order []int) (float64, bool) {
	L := c.L
	prev := make([]float64, L+1)
	cur := make([]float64, L+1)
	for e := range prev {
		prev[e] = math.Inf(1)
	}
	prev[0] = 0
	for _, node := range order {
		for e := 0; e <= L; e++ {
			cur[e] = prev[e] // node unused
			// Walking s down grows the range, so memory and time only grow:
			// stop once it no longer fits or cannot beat the best so far.
			for s := e - 1; s >= 0; s-- {
				t := c.secs(node, s, e)
				if t >= cur[e] || !c.fits(node, s, e) {
					break
				}
				if v := math.Max(prev[s], t); v < cur[e] {
					cur[e] = v
				}
			}
		}
		prev, cur = cur, prev
	}
	return prev[L], !math.IsInf(prev[L], 1)
}

// score orders candidate splits lexicographically: primary, then secondary.
type score struct{ primary, secondary float64 }

func (a score) less(b score) bool {
	if a.primary != b.primary {
		return a.primary < b.primary
	}
	return a.secondary < b.secondary
}

// bestSplit finds the split of this order that minimises cost subject to
// every used stage taking at most bound seconds and fitting in memory.
// stageCost gives a stage's contribution; combine adds it to a prefix's
// score. Both are monotone, so the DP is exact.
func (c *costs) bestSplit(order []int, bound float64, stageCost func(node, a, b int) score, combine func(prefix, stage score) score) (split, score, bool) {
	L := c.L
	inf := score{math.Inf(1), math.Inf(1)}
	best := make([][]score, len(order)+1)
	from := make([][]int, len(order)+1)
	for j := range best {
		best[j] = make([]score, L+1)
		from[j] = make([]int, L+1)
		for e := range best[j] {
			best[j][e] = inf
		}
	}
	best[0][0] = score{}
	for j, node := range order {
		for e := 0; e <= L; e++ {
			best[j+1][e], from[j+1][e] = best[j][e], e
			// As in minBottleneck, ranges only grow as s walks down.
			for s := e - 1; s >= 0; s-- {
				if !c.fits(node, s, e) || c.secs(node, s, e) > bound {
					break
				}
				if math.IsInf(best[j][s].primary, 1) {
					continue
				}
				if v := combine(best[j][s], stageCost(node, s, e)); v.less(best[j+1][e]) {
					best[j+1][e], from[j+1][e] = v, s
				}
			}
		}
	}
	final := best[len(order)][L]
	if math.IsInf(final.primary, 1) {
		return split{}, final, false
	}
	sp := split{order: order, ends: make([]int, len(order))}
	e := L
	for j := len(order); j > 0; j-- {
		sp.ends[j-1] = e
		e = from[j][e]
	}
	return sp, final, true
}

// Place makes a fresh plan: contiguous ranges in pipeline order that
// minimise the bottleneck, then the ring trip (see the cost model above).
func Place(m ModelShape, nodes []Node, cfg PlanConfig) (*Plan, error) {
	if err := validate(&m, nodes); err != nil {
		return nil, err
	}
	cfg, err := cfg.normalized()
	if err != nil {
		return nil, err
	}
	c := newCosts(&m, nodes, cfg)
	sp, _, ok := c.place()
	if !ok {
		return nil, c.capacityError()
	}
	p := c.plan(sp, nil)
	p.Epoch = 1
	return p, nil
}

// place returns the chosen split and the smallest bottleneck (seconds) any
// order achieves.
func (c *costs) place() (split, float64, bool) {
	orders := candidateOrders(c.nodes)
	best := math.Inf(1)
	for _, o := range orders {
		if t, ok := c.minBottleneck(o); ok && t < best {
			best = t
		}
	}
	if math.IsInf(best, 1) {
		return split{}, best, false
	}
	bound := best * (1 + c.cfg.Tolerance)
	var chosen split
	chosenScore := score{math.Inf(1), math.Inf(1)}
	for _, o := range orders {
		sp, s, ok := c.bestSplit(o, bound, c.tripCost, sumMax)
		if ok && s.less(chosenScore) {
			chosen, chosenScore = sp, s
		}
	}
	return chosen, best, true
}

// tripCost: a stage adds its time to the ring trip; the bottleneck breaks ties.
func (c *costs) tripCost(node, a, b int) score {
	t := c.secs(node, a, b)
	return score{t, t}
}

func sumMax(p, s score) score {
	return score{p.primary + s.primary, math.Max(p.secondary, s.secondary)}
}

// candidateOrders lists the pipeline orders Place tries, the caller's order
// first (so ties keep it).
func candidateOrders(nodes []Node) [][]int {
	n := len(nodes)
	ident := make([]int, n)
	for i := range ident {
		ident[i] = i
	}
	if n <= exhaustiveNodes {
		var out [][]int
		permute(append([]int(nil), ident...), 0, &out)
		return out
	}
	ends := append([]int(nil), ident...)
	sort.SliceStable(ends, func(a, b int) bool { return nodes[ends[a]].MemoryBytes > nodes[ends[b]].MemoryBytes })
	ends = ends[:min(n, endCandidates)]
	out := [][]int{ident}
	for _, first := range ends {
		for _, last := range ends {
			if first == last || (first == 0 && last == n-1) {
				continue
			}
			o := []int{first}
			for _, i := range ident {
				if i != first && i != last {
					o = append(o, i)
				}
			}
			out = append(out, append(o, last))
		}
	}
	return out
}

// permute appends every permutation of a[k:] (prefix fixed) to out, in
// lexicographic order of indices when a starts sorted.
func permute(a []int, k int, out *[][]int) {
	if k == len(a) {
		*out = append(*out, append([]int(nil), a...))
		return
	}
	for i := k; i < len(a); i++ {
		// rotate a[i] to position k to keep lexicographic order
		v := a[i]
		copy(a[k+1:i+1], a[k:i])
		a[k] = v
		permute(a, k+1, out)
		copy(a[k:i], a[k+1:i+1])
		a[i] = v
	}
}

// capacityError explains an infeasible placement.
func (c *costs) capacityError() error {
	e := &CapacityError{Layers: c.L}
	e.Need = c.memory(0, c.L)
	for _, n := range c.nodes {
		e.Have += n.MemoryBytes
	}
	if e.Have < e.Need {
		e.Missing = e.Need - e.Have
		return e
	}
	// Enough in all, but ranges do not pack: find the longest prefix some
	// order covers (memory only), and what the rest would need on one more
	// node.
	bestCovered := 0
	for _, o := range candidateOrders(c.nodes) {
		covered := 0
		for _, node := range o {
			e := covered
			for e < c.L && c.fits(node, covered, e+1) {
				e++
			}
			covered = e
		}
		bestCovered = max(bestCovered, covered)
	}
	e.Covered = bestCovered
	e.Missing = c.memory(bestCovered, c.L)
	return e
}

// plan turns a split into a Plan; old (may be nil) is what nodes held before.
func (c *costs) plan(sp split, old *Plan) *Plan {
	p := &Plan{Layers: c.L}
	start := 0
	var speed float64
	used := make(map[int]bool)
	for j, node := range sp.order {
		end := sp.ends[j]
		if end == start {
			continue
		}
		n := c.nodes[node]
		a := Assignment{
			Node: n.ID, First: start, End: end, Embed: start == 0, Head: end == c.L,
			WeightBytes: c.weightBytes(start, end),
			KVBytes:     c.kv[end] - c.kv[start],
			MemoryBytes: c.memory(start, end),
			Compute:     seconds(c.computeSecs(node, start, end)),
			Time:        seconds(c.secs(node, start, end)),
		}
		p.Stages = append(p.Stages, a)
		p.Bottleneck = max(p.Bottleneck, a.Time)
		speed += n.BytesPerSecond
		used[node] = true
		layers, bytes := c.moved(a, old)
		p.MovedLayers += layers
		p.MovedBytes += bytes
		start = end
	}
	for i, n := range c.nodes {
		if !used[i] {
			p.Unused = append(p.Unused, n.ID)
		}
	}
	p.Ideal = seconds(float64(c.weights[c.L]+c.m.HeadBytes) / speed)
	return p
}

// moved counts what node a.Node must load for a that it did not hold in old.
func (c *costs) moved(a Assignment, old *Plan) (layers int, bytes uint64) {
	var was Assignment
	if old != nil {
		was, _ = old.Stage(a.Node)
	}
	for l := a.First; l < a.End; l++ {
		if l < was.First || l >= was.End {
			layers++
			bytes += c.m.Layers[l].WeightBytes
		}
	}
	if a.Embed && !was.Embed {
		bytes += c.m.EmbedBytes
	}
	if a.Head && !was.Head {
		bytes += c.m.HeadBytes
	}
	return layers, bytes
}

func seconds(s float64) time.Duration { return time.Duration(math.Round(s * 1e9)) }
