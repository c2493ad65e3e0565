//go:build !js

package shard

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/tabshard/tabshard/swarm"
)

// SwarmPlanner plans a swarm as its membership changes: it is the
// swarm.Planner the signaling server calls. The first plan is made once
// MinNodes nodes have joined; after that every join, leave or loss re-plans
// with least movement (Replan), and each peer gets its new assignment.
// Clients get the plan too (their Stage is -1) so they can reach stage 0.
type SwarmPlanner struct {
	Shape    ModelShape
	Manifest swarm.ManifestRef
	Config   PlanConfig
	MinNodes int
	// Spread gives every node a stage, layers split evenly by count (see
	// Spread), instead of balancing by speed with least movement.
	Spread bool
	Logger *slog.Logger

	mu    sync.Mutex
	plan  *Plan
	epoch uint64
	last  []swarm.PipelineStage
}

var _ swarm.Planner = (*SwarmPlanner)(nil)

// Plan implements swarm.Planner.
func (p *SwarmPlanner) Plan(ctx context.Context, ev swarm.Event, view swarm.SwarmView) ([]swarm.Assignment, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	log := p.Logger
	if log == nil {
		log = slog.Default()
	}
	if ev.Kind == swarm.EventReady {
		return nil, nil
	}
	if ev.Kind == swarm.EventJoined && ev.Peer.Role == swarm.RoleClient {
		if p.last == nil {
			return nil, nil
		}
		return []swarm.Assignment{{Peer: ev.Peer.ID, Assign: p.assign(-1)}}, nil
	}
	var nodes []Node
	for _, peer := range view.Peers {
		if peer.Role != swarm.RoleNode || peer.Capabilities == nil {
			continue
		}
		c := peer.Capabilities
		nodes = append(nodes, Node{
			ID:             peer.ID,
			MemoryBytes:    c.MemoryBudgetBytes,
			BytesPerSecond: max(c.MatvecGBps, 1e-3) * 1e9,
			Latency:        time.Duration(c.LatencyMillis * float64(time.Millisecond) / 2),
		})
	}
	if p.plan == nil && len(nodes) < max(p.MinNodes, 1) {
		log.Info("planner: waiting for nodes", "have", len(nodes), "want", max(p.MinNodes, 1))
		return nil, nil
	}
	if len(nodes) == 0 {
		p.plan, p.last = nil, nil
		return nil, nil
	}
	var next *Plan
	var err error
	switch {
	case p.Spread:
		next, err = Spread(p.Shape, nodes, p.Config, p.plan)
	case p.plan == nil:
		next, err = Place(p.Shape, nodes, p.Config)
	default:
		next, err = Replan(p.plan, p.Shape, nodes, p.Config)
	}
	if err != nil {
		log.Warn("planner: no plan", "event", ev.Kind, "peer", ev.Peer.ID, "err", err)
		return nil, nil
	}
	stages := make([]swarm.PipelineStage, len(next.Stages))
	for i, a := range next.Stages {
		stages[i] = swarm.PipelineStage{Peer: a.Node, Layers: swarm.LayerRange{Start: a.First, End: a.End}}
	}
	if samePipeline(stages, p.last) {
		// Nothing moves (say, a node joined but is not needed): only the
		// newcomer hears the plan, as a standby, or as the stage it already
		// holds when the plan in force counted it before its join event was
		// processed (a standby sent then stopped a serving stage and stalled
		// the ring).
		if ev.Kind == swarm.EventJoined {
			stage := -1
			for i, st := range stages {
				if st.Peer == ev.Peer.ID {
					stage = i
				}
			}
			return []swarm.Assignment{{Peer: ev.Peer.ID, Assign: p.assign(stage)}}, nil
		}
		return nil, nil
	}
	p.plan, p.last = next, stages
	p.epoch = max(p.epoch, view.Epoch) + 1
	log.Info("planner: new plan", "epoch", p.epoch, "plan", next.String(), "moved_layers", next.MovedLayers)
	var out []swarm.Assignment
	for _, peer := range view.Peers {
		stage := -1
		for i, s := range stages {
			if s.Peer == peer.ID {
				stage = i
			}
		}
		out = append(out, swarm.Assignment{Peer: peer.ID, Assign: p.assign(stage)})
	}
	return out, nil
}

// assign (under mu) is the current plan seen by the peer at index stage.
func (p *SwarmPlanner) assign(stage int) *swarm.Assign {
	return &swarm.Assign{Epoch: p.epoch, Manifest: p.Manifest, TotalLayers: len(p.Shape.Layers),
		Pipeline: append([]swarm.PipelineStage(nil), p.last...), Stage: stage}
}

func samePipeline(a, b []swarm.PipelineStage) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// Current describes the plan in force ("no plan" before the first).
func (p *SwarmPlanner) Current() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.plan == nil {
		return "no plan"
	}
	return p.plan.String()
}

// Stages lists the peers of the plan in force, in pipeline order.
func (p *SwarmPlanner) Stages() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var ids []string
	for _, s := range p.last {
		ids = append(ids, s.Peer)
	}
	return ids
}

// Epoch is the epoch of the plan in force.
func (p *SwarmPlanner) Epoch() uint64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.epoch
}
