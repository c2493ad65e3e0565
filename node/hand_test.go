package node

import (
	"testing"

	"github.com/tabshard/tabshard/swarm"
)

// The planner's standby for a newcomer can reach a node that the same
// epoch's plan already made a stage: the node keeps serving. Repeats wait
// until the assignment in hand ends; older epochs are always stale.
func TestHandAssignIgnoresContradictions(t *testing.T) {
	var h handAssign
	steps := []struct {
		epoch uint64
		stage int
		end   uint64 // if non-zero, end this epoch before the assignment
		take  bool
	}{
		{epoch: 1, stage: 3, take: true},
		{epoch: 1, stage: -1, take: false},       // the standby race
		{epoch: 1, stage: 3, take: false},        // a repeat while serving
		{epoch: 1, stage: 3, end: 1, take: true}, // a repeat once it failed
		{epoch: 2, stage: 0, take: true},
		{epoch: 1, stage: 2, take: false},         // stale
		{epoch: 2, stage: 0, end: 1, take: false}, // ending an older epoch changes nothing
		{epoch: 3, stage: -1, take: true},
		{epoch: 3, stage: -1, take: true}, // standby repeats are harmless
		{epoch: 3, stage: 1, take: true},
	}
	for i, st := range steps {
		if st.end != 0 {
			h.end(st.end)
		}
		if got := h.take(&swarm.Assign{Epoch: st.epoch, Stage: st.stage}); got != st.take {
			t.Fatalf("step %d (epoch %d stage %d): take %v, want %v", i, st.epoch, st.stage, got, st.take)
		}
	}
}
