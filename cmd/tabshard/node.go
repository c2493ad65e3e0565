package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"

	"github.com/tabshard/tabshard/loader"
	"github.com/tabshard/tabshard/node"
	"github.com/tabshard/tabshard/pipeline"
	"github.com/tabshard/tabshard/quant"
	"github.com/tabshard/tabshard/swarm"
)

// swarmFlags are the flags of commands that join a swarm.
type swarmFlags struct {
	url, swarm, token string
}

func (s *swarmFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&s.url, "signal", "ws://127.0.0.1:8080"+swarm.SignalPath, "signaling server WebSocket URL")
	fs.StringVar(&s.swarm, "swarm", "demo", "swarm name")
	fs.StringVar(&s.token, "token", os.Getenv("TABSHARD_TOKEN"), "swarm join token (default $TABSHARD_TOKEN)")
}

func (s *swarmFlags) config() swarm.ClientConfig {
	return swarm.ClientConfig{URL: s.url, Swarm: s.swarm, Token: s.token}
}

// newFetcher downloads blobs from the HTTP side of the signaling server.
func newFetcher(signalURL, cacheDir string) (*loader.Fetcher, error) {
	u, err := url.Parse(signalURL)
	if err != nil {
		return nil, fmt.Errorf("-signal: %w", err)
	}
	switch u.Scheme {
	case "ws":
		u.Scheme = "http"
	case "wss":
		u.Scheme = "https"
	default:
		return nil, fmt.Errorf("-signal %q: want a ws:// or wss:// URL", signalURL)
	}
	u.Path, u.RawQuery = "", ""
	var cache loader.BlobCache
	if cacheDir != "" {
		cache = &loader.DirCache{Dir: cacheDir}
	} else if cache, err = loader.DefaultCache(); err != nil {
		return nil, err
	}
	return &loader.Fetcher{BaseURL: u.String(), Cache: cache}, nil
}

// runNode joins a swarm as a native node and serves whatever it is assigned.
func runNode(args []string, _, stderr io.Writer) error {
	fs := flag.NewFlagSet("node", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var sf swarmFlags
	sf.register(fs)
	modelPath := fs.String("model", "", "serve layers from this local model file instead of fetching them from the server")
	cacheDir := fs.String("cache", "", "directory for verified blobs (default: the user cache directory)")
	threads := fs.Int("threads", 0, "CPU threads, also the Go scheduler's (GOMAXPROCS) (0: all cores)")
	slots := fs.Int("slots", 16, "sessions held at once")
	ctxLen := fs.Int("ctx", 0, "positions per session (0: the model's, at most 2048)")
	kv := fs.String("kv", "F32", "KV-cache format: F32, F16, Q8_0 or Q4_0")
	device := fs.String("device", "cpu", deviceUsage)
	budget := fs.Uint64("budget", 0, "memory offered for weights and KV cache, bytes (0: half of available memory)")
	defGroups, err := envInt("TABSHARD_GROUPS")
	if err != nil {
		return err
	}
	groups := fs.Int("groups", defGroups,
		"session groups a stage batches separately (0: one per pipeline stage, at most this machine's cores) (default $TABSHARD_GROUPS)")
	cpuProfile := fs.String("cpuprofile", os.Getenv("TABSHARD_CPUPROFILE"),
		"write a CPU profile here when the node stops on SIGINT/SIGTERM; {pid} becomes the process id (default $TABSHARD_CPUPROFILE)")
	tracePath := fs.String("trace", os.Getenv("TABSHARD_TRACE"),
		"write the stage's trace points (one line each: unix nanoseconds, point, position, rows) here, flushed when the node stops; {pid} becomes the process id (default $TABSHARD_TRACE)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var trace func(pipeline.TraceEvent)
	if *tracePath != "" {
		tw, err := newTraceWriter(strings.ReplaceAll(*tracePath, "{pid}", strconv.Itoa(os.Getpid())))
		if err != nil {
			return err
		}
		defer func() {
			if err := tw.Close(); err != nil {
				fmt.Fprintf(stderr, "node: trace: %v\n", err)
			}
		}()
		trace = tw.Write
	}
	if *cpuProfile != "" {
		stopProfile, err := startCPUProfile(strings.ReplaceAll(*cpuProfile, "{pid}", strconv.Itoa(os.Getpid())))
		if err != nil {
			return err
		}
		defer stopProfile()
	}
	kvType, err := quant.ParseType(*kv)
	if err != nil {
		return err
	}
	if *threads > 0 {
		// A node given N cores keeps its network goroutines on them too:
		// with several nodes sharing a machine, every hand-off between
		// goroutines (link reader, stage loop, SCTP writer) otherwise wakes
		// another OS thread. Measured on 2 cores with 4 one-thread nodes:
		// idle data-channel round trip 130 -> 70 µs; the 4-node pipeline
		// bench 320 -> 345-358 tok/s with one session, 690 -> 757-790 with
		// eight (far more when other work shares the cores).
		runtime.GOMAXPROCS(*threads)
	}
	mf := modelFlags{threads: *threads, dev: *device}
	dev, err := mf.device()
	if err != nil {
		return err
	}
	defer dev.Close()
	var src node.ModelSource = node.FileSource{Path: *modelPath}
	if *modelPath == "" {
		fetcher, err := newFetcher(sf.url, *cacheDir)
		if err != nil {
			return err
		}
		src = node.FetchSource{Fetcher: fetcher}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log := slog.New(slog.NewTextHandler(stderr, nil))
	err = node.Run(ctx, node.Config{
		Signal:       sf.config(),
		Device:       dev,
		Models:       src,
		Stage:        node.StageSettings{Slots: *slots, Context: *ctxLen, KV: kvType, Groups: *groups},
		MemoryBudget: *budget,
		Logger:       log,
		Trace:        trace,
	})
	if err != nil {
		return fmt.Errorf("node: %w", err)
	}
	return nil
}

// envInt reads a flag's default from the environment (0 when unset).
func envInt(name string) (int, error) {
	v := os.Getenv(name)
	if v == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, fmt.Errorf("$%s=%q is not a number", name, v)
	}
	return n, nil
}

// startCPUProfile profiles the process into path until the returned stop
// runs (a node killed with SIGKILL writes nothing).
func startCPUProfile(path string) (stop func(), err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("-cpuprofile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("-cpuprofile: %w", err)
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}
