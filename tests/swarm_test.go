package tests

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/tabshard/tabshard/internal/testdata"
	"github.com/tabshard/tabshard/kernels/cpu"
	"github.com/tabshard/tabshard/loader"
	"github.com/tabshard/tabshard/model"
	"github.com/tabshard/tabshard/node"
	"github.com/tabshard/tabshard/pipeline"
)

// refCase is one prompt of austen-22m/reference.json (the model authors'
// f32 computation).
type refCase struct {
	Name     string
	Input    []int32 `json:"input_ids"`
	Greedy48 []int32 `json:"greedy_48"`
}

func referenceCases(t testing.TB) []refCase {
	t.Helper()
	b, err := os.ReadFile(testdata.Path(t, "austen-22m/reference.json"))
	if err != nil {
		t.Fatal(err)
	}
	var ref struct {
		Cases map[string]refCase `json:"cases"`
	}
	if err := json.Unmarshal(b, &ref); err != nil {
		t.Fatal(err)
	}
	var out []refCase
	for name, c := range ref.Cases {
		c.Name = name
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// engineGreedy is the single-process engine's greedy continuation.
func engineGreedy(t testing.TB, path string, prompt []int32, n int) []int32 {
	t.Helper()
	src, err := loader.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	cfg, err := model.ConfigFromMeta(&src.Meta, src.Tensors)
	if err != nil {
		t.Fatal(err)
	}
	dev, _ := cpu.New(1)
	e, err := model.NewEngine(dev, src, cfg, model.EngineOptions{Context: 256})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	var out []int32
	err = e.Generate(context.Background(), prompt, n, -1, model.NewSampler(model.SamplerConfig{}), func(id int32, _ float32) bool {
		out = append(out, id)
		return true
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func greedyRequest(prompt []int32, n int) pipeline.Request {
	return pipeline.Request{Prompt: prompt, Sampling: pipeline.Sampling{MaxTokens: uint32(n), TopP: 1, RepeatPenalty: 1, IgnoreEOS: true}}
}

func generate(ctx context.Context, t *testing.T, cl *node.Client, prompt []int32, n int) []int32 {
	t.Helper()
	ch, err := cl.Generate(ctx, greedyRequest(prompt, n))
	if err != nil {
		t.Fatal(err)
	}
	var out []int32
	for ev := range ch {
		if ev.Err != nil {
			t.Fatalf("generation failed: %v", ev.Err)
		}
		out = append(out, ev.ID)
	}
	return out
}

// TestSwarmReferenceOutputs: N native node processes (N = 1..4), linked by
// pion WebRTC through the signaling server, reproduce the single-process
// engine's greedy output for the four reference prompts, and greedy_48 for F16.
func TestSwarmReferenceOutputs(t *testing.T) {
	cases := referenceCases(t)
	for _, file := range []string{"F16", "Q4_K_M"} {
		path := testdata.Path(t, "austen-22m/gguf/austen-22m-"+file+".gguf")
		want := map[string][]int32{}
		for _, c := range cases {
			want[c.Name] = engineGreedy(t, path, c.Input, 48)
			if file == "F16" && fmt.Sprint(want[c.Name]) != fmt.Sprint(c.Greedy48) {
				t.Fatalf("%s: engine %v, reference %v", c.Name, want[c.Name], c.Greedy48)
			}
		}
		for n := 1; n <= 4; n++ {
			t.Run(fmt.Sprintf("%s/%d-nodes", file, n), func(t *testing.T) {
				ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
				defer cancel()
				c := startCluster(t, path, n)
				cl := c.client(ctx)
				var wg sync.WaitGroup
				got := make([][]int32, len(cases))
				for i, rc := range cases {
					wg.Add(1)
					go func() { defer wg.Done(); got[i] = generate(ctx, t, cl, rc.Input, 48) }()
				}
				wg.Wait()
				for i, rc := range cases {
					if fmt.Sprint(got[i]) != fmt.Sprint(want[rc.Name]) {
						t.Errorf("%s:\n swarm  %v\n engine %v", rc.Name, got[i], want[rc.Name])
					}
				}
				t.Logf("%s", c.planner.Current())
			})
		}
	}
}
