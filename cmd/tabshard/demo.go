package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"syscall"
	"time"

	"github.com/tabshard/tabshard/hub"
	"github.com/tabshard/tabshard/node"
	"github.com/tabshard/tabshard/pipeline"
	"github.com/tabshard/tabshard/swarm"
	"github.com/tabshard/tabshard/web"
)

// runDemo is the one-command demo: a hub (signaling, model blobs, web app,
// API) on this machine, N native node processes that join it and split the
// embedded model between them, a generation streamed to the terminal, and
// the URLs where browser tabs join the same swarm.
func runDemo(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "127.0.0.1:8080", "address the hub listens on")
	nodes := fs.Int("nodes", 3, "native node processes to start")
	prompt := fs.String("p", "It was a fine morning, and", "prompt for the demo generation")
	n := fs.Int("n", 64, "tokens to generate")
	once := fs.Bool("once", false, "exit after the generation instead of serving tabs")
	verbose := fs.Bool("v", false, "log the hub and nodes")
	device := fs.String("device", "cpu", "the nodes' "+deviceUsage)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *nodes < 1 || *nodes > 16 {
		return fmt.Errorf("-nodes must be in [1,16]")
	}
	level := slog.LevelWarn
	if *verbose {
		level = slog.LevelInfo
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	token := randomToken()
	h, err := hub.New(hub.Config{
		Swarm:  swarm.Config{Swarms: []swarm.SwarmConfig{{Name: "demo", Token: token}}},
		Plan:   hub.PlanSettings{MinNodes: *nodes, Spread: true, Context: 1024, Sessions: 8},
		Web:    web.Files(),
		Logger: log,
	})
	if err != nil {
		return err
	}
	defer h.Close()
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	base := "http://" + ln.Addr().String()
	hs := &http.Server{Handler: h.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go hs.Serve(ln)
	defer hs.Close()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	procs, err := startNodes(ctx, *nodes, base, token, *device, *verbose, stderr)
	if err != nil {
		return err
	}
	defer stopNodes(procs)
	if err := h.StartGateway(ctx, base); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "tabshard demo: %s split over %d native nodes\n", h.ModelID(), *nodes)
	gen, err := waitPipeline(ctx, h)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "plan: %s\n\n%s", h.Planner().Current(), *prompt)
	if err := streamDemo(ctx, gen, h, *prompt, *n, stdout); err != nil {
		return err
	}
	q := "?swarm=demo&token=" + token
	hint := ""
	if !web.HasNode() {
		hint = " (build the tab's wasm node first: go generate ./web)"
	}
	fmt.Fprintf(stdout, "\n\nBrowser tabs join the same swarm%s:\n  node:      %s/node.html%s\n  chat:      %s/chat.html%s\n  dashboard: %s/dashboard.html%s\n  API:       %s/v1/completions\n",
		hint, base, q, base, q, base, q, base)
	if *once {
		return nil
	}
	fmt.Fprintln(stdout, "Serving; Ctrl-C stops.")
	<-ctx.Done()
	return nil
}

func randomToken() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// startNodes runs this same program as n node processes.
func startNodes(ctx context.Context, n int, base, token, device string, verbose bool, stderr io.Writer) ([]*exec.Cmd, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	ws := "ws" + base[len("http"):] + swarm.SignalPath
	var procs []*exec.Cmd
	for i := 0; i < n; i++ {
		cmd := exec.CommandContext(ctx, self, "node", "--signal", ws, "--swarm", "demo", "--token", token, "--threads", "1", "--ctx", "1024", "--device", device)
		if verbose {
			cmd.Stderr = stderr
		}
		if err := cmd.Start(); err != nil {
			stopNodes(procs)
			return nil, err
		}
		procs = append(procs, cmd)
	}
	return procs, nil
}

func stopNodes(procs []*exec.Cmd) {
	for _, p := range procs {
		_ = p.Process.Signal(os.Interrupt)
	}
	for _, p := range procs {
		done := make(chan struct{})
		go func() { _ = p.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(3 * time.Second):
			_ = p.Process.Kill()
			<-done
		}
	}
}

// waitPipeline waits until the hub's own client has a pipeline.
func waitPipeline(ctx context.Context, h *hub.Hub) (*node.Client, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	g := h.Gateway()
	if g == nil {
		return nil, errors.New("demo: no gateway")
	}
	if err := g.WaitReady(ctx); err != nil {
		return nil, fmt.Errorf("demo: the nodes formed no pipeline: %w", err)
	}
	return g, nil
}

// streamDemo generates from prompt through the swarm, printing as it goes.
func streamDemo(ctx context.Context, g *node.Client, h *hub.Hub, prompt string, n int, stdout io.Writer) error {
	tok := h.Tokenizer()
	ids := tok.Encode(prompt, tok.AddBOS())
	events, err := g.Generate(ctx, pipeline.Request{Prompt: ids, Sampling: pipeline.Sampling{
		Temperature: 0.8, TopK: 40, TopP: 0.95, MinP: 0.05, RepeatPenalty: 1.1, RepeatLastN: 64,
		Seed: uint64(time.Now().UnixNano()), MaxTokens: uint32(n)}})
	if err != nil {
		return err
	}
	dec := tok.ContinueStream()
	start := time.Now()
	count := 0
	for ev := range events {
		if ev.Err != nil {
			return ev.Err
		}
		count++
		fmt.Fprint(stdout, dec.Next(ev.ID))
	}
	fmt.Fprint(stdout, dec.Flush())
	fmt.Fprintf(stdout, "\n\n[%d tokens in %v, %.1f tok/s through the pipeline]", count, time.Since(start).Round(time.Millisecond), float64(count)/time.Since(start).Seconds())
	return nil
}
