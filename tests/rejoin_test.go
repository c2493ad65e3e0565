package tests

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/tabshard/tabshard/internal/testdata"
)

// TestNodesRejoinAfterSignalingLoss: the signaling server drops every
// connection (its front restarting, a network blip); the native nodes
// reconnect under new peer ids, are planned in again, and a new client's
// greedy generation equals the one before the drop.
func TestNodesRejoinAfterSignalingLoss(t *testing.T) {
	path := testdata.Path(t, "austen-22m/gguf/austen-22m-Q4_K_M.gguf")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	c := startCluster(t, path, 2)
	prompt := []int32{1, 9038, 2501, 263, 931, 29892}
	want := generate(ctx, t, c.client(ctx), prompt, 16)
	before := c.planner.Stages()
	dropped := time.Now()
	c.lis.dropAll()
	for {
		stages := c.planner.Stages()
		if len(stages) == 2 && !slices.ContainsFunc(stages, func(id string) bool { return slices.Contains(before, id) }) {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("the nodes were not planned in again: %s", c.planner.Current())
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("planned in again %v after the drop: %s", time.Since(dropped).Round(time.Millisecond), c.planner.Current())
	got := generate(ctx, t, c.client(ctx), prompt, 16)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("after the rejoin:\n got  %v\n want %v", got, want)
	}
}
