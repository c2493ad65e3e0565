package pipeline_test

import (
	"context"
	"sync"
	"testing"

	"github.com/tabshard/tabshard/pipeline"
)

// Every stage of a ring traces every decoded position in order: received
// (but the first stage's prompt, which comes in an Open), forward,
// forwarded, then sampled on the last stage, then sent; the first stage
// receives each sampled token at the next position.
func TestRingTrace(t *testing.T) {
	f := openFixture(t)
	var mu sync.Mutex
	seen := map[int]map[uint32][]pipeline.TraceKind{}
	r := startRing(t, f, parts(0, 4, 8), 1, func(stage int, e pipeline.TraceEvent) {
		mu.Lock()
		defer mu.Unlock()
		if seen[stage] == nil {
			seen[stage] = map[uint32][]pipeline.TraceKind{}
		}
		seen[stage][e.Pos] = append(seen[stage][e.Pos], e.Kind)
		if e.Kind.String() == "unknown" || e.At.IsZero() || e.Rows < 1 {
			t.Errorf("stage %d: bad event %+v", stage, e)
		}
	})
	c := pipeline.NewClient(pipeline.DefaultLimits())
	defer c.Close()
	c.Attach(r.client)
	prompt := f.tok.Encode("Once upon a time,", true)
	const n = 8
	ch, err := c.Generate(context.Background(), pipeline.Request{Prompt: prompt, Sampling: pipeline.Sampling{MaxTokens: n, TopP: 1, RepeatPenalty: 1}})
	if err != nil {
		t.Fatal(err)
	}
	collect(t, ch)
	r.stop()
	R, F, D, S, T := pipeline.TraceReceived, pipeline.TraceForward, pipeline.TraceForwarded, pipeline.TraceSampled, pipeline.TraceSent
	for p := uint32(len(prompt)); p < uint32(len(prompt)+n-1); p++ {
		// Position p's row: the first stage got its token at p from the
		// last stage (the prompt's last token is position len-1).
		check := func(stage int, want ...pipeline.TraceKind) {
			t.Helper()
			got := seen[stage][p]
			if len(got) != len(want) {
				t.Fatalf("stage %d, position %d: %v, want %v", stage, p, got, want)
			}
			for i := range got {
				if got[i] != want[i] {
					t.Fatalf("stage %d, position %d: %v, want %v", stage, p, got, want)
				}
			}
		}
		check(0, R, F, D, T)
		check(1, R, F, D, S, T)
	}
	for k := pipeline.TraceKind(0); k <= T+1; k++ {
		if back, ok := pipeline.ParseTraceKind(k.String()); ok != (k >= R && k <= T) || (ok && back != k) {
			t.Errorf("kind %d: %q parses as %d, %v", k, k.String(), back, ok)
		}
	}
}
