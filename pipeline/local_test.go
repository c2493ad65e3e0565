package pipeline_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/tabshard/tabshard/internal/testdata"
	"github.com/tabshard/tabshard/kernels/cpu"
	"github.com/tabshard/tabshard/loader"
	"github.com/tabshard/tabshard/model"
	"github.com/tabshard/tabshard/pipeline"
	"github.com/tabshard/tabshard/shard"
)

type fixture struct {
	src *loader.Model
	cfg model.Config
	tok *model.Tokenizer
}

func openFixture(t *testing.T) *fixture {
	t.Helper()
	src, err := loader.Open(testdata.Path(t, "austen-22m/gguf/austen-22m-Q4_K_M.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { src.Close() })
	cfg, err := model.ConfigFromMeta(&src.Meta, src.Tensors)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := model.TokenizerFromGGUF(src.Meta)
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{src, cfg, tok}
}

// parts cuts layers at the given bounds: parts(0, 4, 8) is [0,4) and [4,8).
func parts(bounds ...int) []model.Part {
	var ps []model.Part
	for i := 1; i < len(bounds); i++ {
		ps = append(ps, model.Part{First: bounds[i-1], Last: bounds[i]})
	}
	return ps
}

// ring is an in-process pipeline: one server per part, linked by Pipes.
type ring struct {
	cancel  context.CancelFunc
	cancels []context.CancelFunc
	wg      sync.WaitGroup
	errs    []error
	client  pipeline.Conn // the client's end of its link to stage 0
}

// startRing starts one server per part; trace, if given, receives each
// stage's trace points with the stage's index.
func startRing(t *testing.T, f *fixture, parts []model.Part, plan uint64, trace ...func(stage int, e pipeline.TraceEvent)) *ring {
	t.Helper()
	dev, _ := cpu.New(0)
	lim := pipeline.DefaultLimits()
	ctx, cancel := context.WithCancel(context.Background())
	r := &ring{cancel: cancel, errs: make([]error, len(parts))}
	var servers []*pipeline.Server
	for i, p := range parts {
		var hook func(pipeline.TraceEvent)
		if len(trace) > 0 {
			hook = func(e pipeline.TraceEvent) { trace[0](i, e) }
		}
		st, err := shard.NewStage(dev, f.src, f.cfg, p, shard.StageConfig{Slots: 8, Context: 256, MaxBatch: 128})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(st.Release)
		s, err := pipeline.NewServer(pipeline.ServerConfig{Stage: st, Model: f.cfg, Plan: plan, EOS: f.tok.EOS(), Limits: lim, Report: func(l string) { t.Log(l) }, Trace: hook})
		if err != nil {
			t.Fatal(err)
		}
		servers = append(servers, s)
	}
	for i := range servers {
		if len(servers) == 1 {
			break
		}
		a, b := pipeline.Pipe(lim)
		servers[i].SetDownstream(a)
		servers[(i+1)%len(servers)].AddUpstream(b)
	}
	clientEnd, stageEnd := pipeline.Pipe(lim)
	servers[0].AddClient(stageEnd)
	r.client = clientEnd
	for i, s := range servers {
		sctx, scancel := context.WithCancel(ctx)
		r.cancels = append(r.cancels, scancel)
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			r.errs[i] = s.Run(sctx)
			if r.errs[i] != nil && sctx.Err() == nil {
				t.Logf("stage %d stopped: %v", i, r.errs[i])
			}
		}()
	}
	t.Cleanup(r.stop)
	return r
}

func (r *ring) stop() { r.cancel(); r.wg.Wait() }

func greedyAlone(t *testing.T, f *fixture, prompt []int32, n int) []int32 {
	t.Helper()
	dev, _ := cpu.New(0)
	e, err := model.NewEngine(dev, f.src, f.cfg, model.EngineOptions{Context: 256})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	var out []int32
	err = e.Generate(context.Background(), prompt, n, f.tok.EOS(), model.NewSampler(model.SamplerConfig{}), func(id int32, _ float32) bool {
		out = append(out, id)
		return true
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func collect(t *testing.T, events <-chan pipeline.Event) []int32 {
	t.Helper()
	var out []int32
	for ev := range events {
		if ev.Err != nil {
			t.Fatalf("generation failed: %v", ev.Err)
		}
		out = append(out, ev.ID)
	}
	return out
}

var prompts = []string{
	"Once upon a time,", "It was a fine morning, and", "The captain of the ship", "In the beginning",
	"Mrs. Jennings was", "My dear Emma,", "The whale", "She had never seen",
}

// TestRingConcurrentSessions: 8 sessions in flight at once on a 4-stage ring
// each produce exactly what the engine produces for them alone.
func TestRingConcurrentSessions(t *testing.T) {
	f := openFixture(t)
	const n = 24
	r := startRing(t, f, parts(0, 2, 4, 6, 8), 1)
	c := pipeline.NewClient(pipeline.DefaultLimits())
	defer c.Close()
	c.Attach(r.client)
	var chans []<-chan pipeline.Event
	for _, p := range prompts {
		ch, err := c.Generate(context.Background(), pipeline.Request{Prompt: f.tok.Encode(p, true), Sampling: pipeline.Sampling{MaxTokens: n, TopP: 1, RepeatPenalty: 1}})
		if err != nil {
			t.Fatal(err)
		}
		chans = append(chans, ch)
	}
	for i, ch := range chans {
		got := collect(t, ch)
		want := greedyAlone(t, f, f.tok.Encode(prompts[i], true), n)
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("session %d (%q):\n ring  %v\n alone %v", i, prompts[i], got, want)
		}
	}
}

// TestRingReplayAfterStageLoss: a middle stage dies mid-generation; a new
// pipeline takes over, the client replays its sessions there, and every
// output is identical to an uninterrupted run.
func TestRingReplayAfterStageLoss(t *testing.T) {
	f := openFixture(t)
	const n = 32
	old := startRing(t, f, parts(0, 3, 6, 8), 1)
	c := pipeline.NewClient(pipeline.DefaultLimits())
	defer c.Close()
	c.Attach(old.client)
	var chans []<-chan pipeline.Event
	for _, p := range prompts[:4] {
		ch, err := c.Generate(context.Background(), pipeline.Request{Prompt: f.tok.Encode(p, true), Sampling: pipeline.Sampling{MaxTokens: n, TopP: 1, RepeatPenalty: 1}})
		if err != nil {
			t.Fatal(err)
		}
		chans = append(chans, ch)
	}
	// Read a few tokens of the first session, then kill the middle stage.
	var first []int32
	for ev := range chans[0] {
		first = append(first, ev.ID)
		if len(first) == 10 {
			break
		}
	}
	old.cancels[1]()
	old.wg.Wait()
	next := startRing(t, f, parts(0, 4, 8), 2)
	c.Attach(next.client)
	outs := [][]int32{append(first, collect(t, chans[0])...)}
	for _, ch := range chans[1:] {
		outs = append(outs, collect(t, ch))
	}
	for i, got := range outs {
		want := greedyAlone(t, f, f.tok.Encode(prompts[i], true), n)
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("session %d:\n replayed %v\n alone    %v", i, got, want)
		}
	}
}
