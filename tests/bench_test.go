package tests

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tabshard/tabshard/internal/testdata"
	"github.com/tabshard/tabshard/kernels/cpu"
	"github.com/tabshard/tabshard/loader"
	"github.com/tabshard/tabshard/model"
)

// BenchmarkPipeline measures a 4-node pipeline of node processes on this
// machine against the single-process engine, in the same run:
//
//	go test ./tests -run XXX -bench Pipeline -benchtime 1x
//
// It prints single-session decode tokens/s and its ratio to the engine,
// aggregate tokens/s with 8 sessions and its ratio to one session, and
// each stage's hop latency: from the nodes' traces (node --trace) of the
// single session, results queued on one stage until decoded on the next,
// p50/p99, with each token's time split into forward passes, sampling,
// hops and the rest; and the nodes' own ping measure (half the round trip
// of pings between the stages' loops, so it includes any batch the next
// stage is computing when a ping arrives).
//
// With TABSHARD_CPUPROFILE=/tmp/node-{pid}.pprof in the environment every
// node process writes a CPU profile (go tool pprof) of its whole life.
func BenchmarkPipeline(b *testing.B) {
	benchPipeline(b, testdata.Path(b, "austen-22m/gguf/austen-22m-Q4_K_M.gguf"))
}

// BenchmarkPipelineWide is BenchmarkPipeline on a random-weight LLaMA ten
// times austen-22m's size (wideConfig). austen-22m's whole forward pass
// takes about 1 ms here, no more than the hops a token makes around the
// ring; on a model whose forward pass costs far more than a hop the ratio
// shows what the pipeline costs beyond the hops.
func BenchmarkPipelineWide(b *testing.B) {
	benchPipeline(b, writeWideModel(b))
}

func benchPipeline(b *testing.B, path string) {
	const gen = 64
	prompts := [][]int32{{1, 9038, 2501, 263, 931, 29892}, {1, 450, 7250}, {1, 512, 278, 6763}, {1, 10063, 29889},
		{1, 450, 14121}, {1, 1619, 9425}, {1, 2296, 750}, {1, 29902, 471}}

	// The engine's rate drifts with this machine's load by ±15% from
	// minute to minute: it is measured before and after the pipeline, and
	// the ratios use the faster.
	engineBefore := engineDecodeRate(b, path, prompts[0], gen)

	// Nodes batch sessions in one group per stage, at most one per core
	// (tabshard node -groups); set TABSHARD_GROUPS to compare others.
	groups := os.Getenv("TABSHARD_GROUPS")
	if groups == "" {
		groups = fmt.Sprint(min(4, runtime.NumCPU()))
	}
	traces := filepath.Join(b.TempDir(), "node-{pid}.trace")
	b.Setenv("TABSHARD_TRACE", traces) // every node traces its stage (node --trace)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c := startCluster(b, path, 4)
	cl := c.client(ctx)
	run := func(n int) float64 {
		start := time.Now()
		var wg sync.WaitGroup
		var mu sync.Mutex
		total := 0
		for i := 0; i < n; i++ {
			ch, err := cl.Generate(ctx, greedyRequest(prompts[i], gen))
			if err != nil {
				b.Fatal(err)
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				k := 0
				for ev := range ch {
					if ev.Err != nil {
						b.Error(ev.Err)
					}
					k++
				}
				mu.Lock()
				total += k
				mu.Unlock()
			}()
		}
		wg.Wait()
		if ctx.Err() != nil {
			// A stalled pipeline fails the benchmark, which prints the
			// node logs, instead of reporting 0 tok/s.
			b.Fatalf("%d sessions: %d tokens before the timeout", n, total)
		}
		return float64(total) / time.Since(start).Seconds()
	}
	run(1) // warm up the links and caches
	singleFrom := time.Now()
	single := run(1)
	singleTo := time.Now()
	multi := run(8)
	engineAfter := engineDecodeRate(b, path, prompts[0], gen)
	engine := max(engineBefore, engineAfter)
	b.ReportMetric(single, "tok/s-1session")
	b.ReportMetric(single/engine, "ratio-to-engine")
	b.ReportMetric(multi, "tok/s-8sessions")
	b.ReportMetric(multi/single, "ratio-8-to-1")
	fmt.Printf("engine (one process, all cores): %.1f tok/s (%.1f before the pipeline, %.1f after)\n", engine, engineBefore, engineAfter)
	fmt.Printf("4-node pipeline, 1 session:      %.1f tok/s (%.2f of the engine)\n", single, single/engine)
	fmt.Printf("4-node pipeline, 8 sessions:     %.1f tok/s aggregate (%.2f of one session; %s session groups)\n", multi, multi/single, groups)
	time.Sleep(1500 * time.Millisecond) // let every node report its hop latency
	view, _ := c.srv.Swarm(swarmName)
	for i, id := range c.planner.Stages() {
		if p, ok := view.Peer(id); ok && p.Status != nil {
			fmt.Printf("stage %d %s: ping to the next stage, half the round trip: p50 %.3f ms, p99 %.3f ms\n", i, id, p.Status.HopP50Ms, p.Status.HopP99Ms)
		}
	}
	c.interruptNodes() // a node writes its trace (and profile) when it stops cleanly
	stages, err := readTraces(strings.ReplaceAll(traces, "{pid}", "*"), singleFrom, singleTo)
	if err != nil {
		b.Fatal(err)
	}
	bd, err := breakdown(stages)
	if err != nil {
		b.Fatal(err)
	}
	bd.print(os.Stdout)
	for i := range bd.hop {
		b.ReportMetric(quantile(bd.hop[i], 0.5), fmt.Sprintf("µs-hop%d-p50", i))
	}
}

// interruptNodes stops every node process with SIGINT and waits for it.
func (c *cluster) interruptNodes() {
	c.mu.Lock()
	nodes := c.nodes
	c.mu.Unlock()
	for _, cmd := range nodes {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Signal(os.Interrupt)
			_ = cmd.Wait()
		}
	}
}

// engineDecodeRate is the single-process engine's tokens/s for the same
// work as one pipeline session (prompt, then gen tokens), all cores.
func engineDecodeRate(b *testing.B, path string, prompt []int32, gen int) float64 {
	src, err := loader.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	defer src.Close()
	cfg, err := model.ConfigFromMeta(&src.Meta, src.Tensors)
	if err != nil {
		b.Fatal(err)
	}
	dev, _ := cpu.New(0)
	e, err := model.NewEngine(dev, src, cfg, model.EngineOptions{Context: 256})
	if err != nil {
		b.Fatal(err)
	}
	defer e.Close()
	best := 0.0
	for r := 0; r < 5; r++ {
		start := time.Now()
		n := 0
		err := e.Generate(context.Background(), prompt, gen, -1, model.NewSampler(model.SamplerConfig{}), func(int32, float32) bool { n++; return true })
		if err != nil {
			b.Fatal(err)
		}
		best = max(best, float64(n)/time.Since(start).Seconds())
	}
	return best
}
