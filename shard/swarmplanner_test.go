//go:build !js

package shard

import (
	"context"
	"testing"

	"github.com/tabshard/tabshard/swarm"
)

// TestJoinAfterPlanKeepsStage: when a node's join event is processed after
// a plan that already includes it (the server planned on another event
// first), the planner must repeat that node's stage, not make it a standby:
// a standby stops a serving stage and the ring stalls.
func TestJoinAfterPlanKeepsStage(t *testing.T) {
	p := &SwarmPlanner{Shape: uniform(8), Config: PlanConfig{Context: 64, Sessions: 1, ScratchBytes: 1 << 20}, MinNodes: 2, Spread: true}
	node := func(id string) swarm.PeerInfo {
		return swarm.PeerInfo{ID: id, Role: swarm.RoleNode, Stage: -1,
			Capabilities: &swarm.Capabilities{MemoryBudgetBytes: 8 << 30, MatvecGBps: 10}}
	}
	a, b := node("a"), node("b")
	view := swarm.SwarmView{Name: "s", Peers: []swarm.PeerInfo{a, b}}
	// b's join is planned first (both nodes already in the view)...
	out, err := p.Plan(context.Background(), swarm.Event{Kind: swarm.EventJoined, Peer: b}, view)
	if err != nil || len(out) != 2 {
		t.Fatalf("first plan: %v, %d assignments", err, len(out))
	}
	stageOf := map[string]int{}
	for _, as := range out {
		stageOf[as.Peer] = as.Assign.Stage
	}
	if stageOf["a"] < 0 || stageOf["b"] < 0 {
		t.Fatalf("both nodes should hold a stage: %v", stageOf)
	}
	// ...then a's own join event arrives: the pipeline is unchanged.
	out, err = p.Plan(context.Background(), swarm.Event{Kind: swarm.EventJoined, Peer: a}, view)
	if err != nil || len(out) != 1 || out[0].Peer != "a" {
		t.Fatalf("late join: %v, %+v", err, out)
	}
	if got := out[0].Assign.Stage; got != stageOf["a"] {
		t.Fatalf("late join of a planned node: stage %d, want its stage %d (a standby would stop it)", got, stageOf["a"])
	}
}
