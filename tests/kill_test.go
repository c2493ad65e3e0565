package tests

import (
	"context"
	"fmt"
	"regexp"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/tabshard/tabshard/internal/testdata"
)

var peerLine = regexp.MustCompile(`msg=joined node=(p-[0-9a-f]+)`)

// peerOf returns node process i's peer id, from its log.
func (c *cluster) peerOf(i int) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if m := peerLine.FindStringSubmatch(c.logs[i].String()); m != nil {
		return m[1]
	}
	return ""
}

// processOf returns the index of the live node process serving peer id.
func (c *cluster) processOf(peer string) int {
	for i := range c.nodes {
		if c.peerOf(i) == peer && c.nodes[i].ProcessState == nil {
			return i
		}
	}
	return -1
}

// middleStage returns the process index of a stage that is neither first
// nor last in the current plan.
func (c *cluster) middleStage(round int) int {
	var stages []string
	for _, s := range c.planner.Stages() {
		stages = append(stages, s)
	}
	if len(stages) < 3 {
		return -1
	}
	return c.processOf(stages[1+round%(len(stages)-2)])
}

// TestSwarmSurvivesKills kills a middle stage's process at a different point
// of the generations in each of 10 rounds (and adds a node back, sometimes
// mid-generation): every session must finish with exactly the output of an
// uninterrupted run. It reports the time from each kill to the next token.
func TestSwarmSurvivesKills(t *testing.T) {
	path := testdata.Path(t, "austen-22m/gguf/austen-22m-Q4_K_M.gguf")
	cases := referenceCases(t)
	want := map[string][]int32{}
	for _, rc := range cases {
		want[rc.Name] = engineGreedy(t, path, rc.Input, 48)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	c := startCluster(t, path, 4)
	cl := c.client(ctx)
	var gaps []time.Duration
	for round := 0; round < 10; round++ {
		killAt := 2 + (round*9)%40 // tokens of the first session before the kill
		joinMidway := round%2 == 1
		type result struct {
			out  []int32
			when []time.Time
		}
		results := make([]result, len(cases))
		var wg sync.WaitGroup
		progress := make(chan int, 1024)
		for i, rc := range cases {
			ch, err := cl.Generate(ctx, greedyRequest(rc.Input, 48))
			if err != nil {
				t.Fatal(err)
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				for ev := range ch {
					if ev.Err != nil {
						t.Errorf("round %d %s: %v", round, rc.Name, ev.Err)
						return
					}
					results[i].out = append(results[i].out, ev.ID)
					results[i].when = append(results[i].when, time.Now())
					if i == 0 {
						progress <- len(results[i].out)
					}
				}
			}()
		}
		var killed time.Time
		victim := -1
		for n := range progress {
			if n >= killAt {
				victim = c.middleStage(round)
				if victim < 0 {
					t.Fatalf("round %d: no middle stage in %s", round, c.planner.Current())
				}
				c.kill(victim)
				killed = time.Now()
				if joinMidway {
					c.addNode()
				}
				break
			}
		}
		go func() {
			for range progress {
			}
		}()
		wg.Wait()
		close(progress)
		if !joinMidway {
			c.addNode() // back to four for the next round, between generations
		}
		// The first token any session received after the kill.
		var next time.Time
		for _, r := range results {
			for _, w := range r.when {
				if w.After(killed) && (next.IsZero() || w.Before(next)) {
					next = w
				}
			}
		}
		gap := next.Sub(killed)
		gaps = append(gaps, gap)
		for i, rc := range cases {
			if fmt.Sprint(results[i].out) != fmt.Sprint(want[rc.Name]) {
				t.Errorf("round %d (kill after %d tokens) %s:\n got  %v\n want %v", round, killAt, rc.Name, results[i].out, want[rc.Name])
			}
		}
		t.Logf("round %d: killed process %d after %d tokens; next token %v later; join midway %v; %s", round, victim, killAt, gap.Round(time.Millisecond), joinMidway, c.planner.Current())
		if t.Failed() {
			return
		}
		if err := c.waitStages(ctx, 4); err != nil {
			t.Fatal(err)
		}
	}
	sort.Slice(gaps, func(i, j int) bool { return gaps[i] < gaps[j] })
	t.Logf("kill → next token: min %v, median %v, max %v over %d kills", gaps[0].Round(time.Millisecond), gaps[len(gaps)/2].Round(time.Millisecond), gaps[len(gaps)-1].Round(time.Millisecond), len(gaps))
}

// waitStages waits until the plan has n stages.
func (c *cluster) waitStages(ctx context.Context, n int) error {
	for ctx.Err() == nil {
		if len(c.planner.Stages()) == n {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("plan never reached %d stages: %s", n, c.planner.Current())
}
