//go:build js && wasm

package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime"
	"time"

	"github.com/tabshard/tabshard/kernels"
	"github.com/tabshard/tabshard/kernels/cpu"
	"github.com/tabshard/tabshard/kernels/webgpu"
	"github.com/tabshard/tabshard/loader"
	"github.com/tabshard/tabshard/node"
	"github.com/tabshard/tabshard/swarm"
)

// signalPath is swarm.SignalPath (declared in the native-only server file).
const signalPath = "/api/signal"

// fallbackShape is kernels/webgpu's matrix workgroup shape for CPU adapters.
var fallbackShape = webgpu.MatShape{TPR: 4, RPW: 8, RPT: 1}

// heapEvery spaces the heap reports to the page.
const heapEvery = 500 * time.Millisecond

func main() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go reportHeap(ctx)
	if err := run(ctx); err != nil {
		emit(event{Kind: "fatal", Msg: err.Error()})
	}
}

// run detects the tab's capabilities, opens a device and serves as a node
// until the node ends (it ends only on an error: a tab is closed, not stopped).
func run(ctx context.Context) error {
	p, err := pageParams()
	if err != nil {
		return err
	}
	if origin := jsOrigin(); origin != p.Server {
		if err := checkOrigin(ctx, p.Server, origin); err != nil {
			return err
		}
	}
	if p.Swarm == "" {
		if p.Swarm, err = defaultSwarm(ctx, p.Server); err != nil {
			return err
		}
	}
	det := detect(ctx)
	emit(event{Kind: "detect", Detect: det})
	dev, err := openDevice(det)
	if err != nil {
		return err
	}
	defer dev.Close()
	budget := memoryBudget(det)
	caps, err := node.Measure(dev, budget)
	if err != nil {
		return fmt.Errorf("measuring %s: %w", dev.Name(), err)
	}
	emit(event{Kind: "measure", Caps: caps})

	cache, cacheErr := loader.DefaultCache()
	if cacheErr != nil {
		// Without a cache the node still works; a reload downloads again.
		emit(event{Kind: "log", Level: "WARN", Msg: cacheErr.Error()})
		cache = nil
	}
	fetcher := &loader.Fetcher{
		BaseURL: p.Server,
		Cache:   cache,
		Progress: func(ev loader.FetchProgress) {
			emit(event{Kind: "blob", Blob: ev.Blob, Done: ev.Done, Total: ev.Total, Cached: ev.Cached})
		},
	}
	sig, err := signalURL(p.Server, signalPath)
	if err != nil {
		return err
	}
	log := slog.New(&pageHandler{level: slog.LevelInfo})
	err = node.Run(ctx, node.Config{
		Signal:       swarm.ClientConfig{URL: sig, Swarm: p.Swarm, Token: p.Token, Logger: log},
		Device:       dev,
		Models:       pageSource{inner: node.FetchSource{Fetcher: fetcher}},
		Stage:        node.StageSettings{Slots: 8, Context: 1024},
		MemoryBudget: budget,
		Logger:       log,
	})
	if err != nil {
		return refusal(p, err)
	}
	return nil
}

// refusal words the error that ended the node for a person looking at the
// tab: a failed join is most often a token or an origin the server refuses.
func refusal(p params, err error) error {
	origin := jsOrigin()
	hint := "check the swarm name and token in this page's URL"
	if origin != p.Server {
		hint = fmt.Sprintf("this page's origin %s differs from the server %s: the server must allow it (-allow-origin %s); also %s", origin, p.Server, origin, hint)
	}
	return fmt.Errorf("the server at %s refused or dropped this node: %v (%s)", p.Server, err, hint)
}

// openDevice picks WebGPU when the tab has an adapter, else the CPU device.
func openDevice(det *detection) (kernels.Device, error) {
	if det.Adapter {
		var opts webgpu.Options
		if det.Fallback {
			// A software adapter (SwiftShader) runs on the CPU: timing every
			// candidate workgroup shape on it at start-up takes about a
			// minute. Use the shape kernels/webgpu picks for CPU adapters
			// (small workgroups, many rows each).
			opts.MatShape = fallbackShape
			// Nor time the tiled matvec against the classic one (lavapipe
			// does not either): on a 2-vCPU machine SwiftShader took 43 s
			// to open the device with that timing and then over a minute
			// more to compile the tiled pipelines before the node's first
			// product, so the browser tests' 2-minute deadlines ran out.
			// With the classic kernel the device opens in 3 s and the
			// node has measured itself at 22 s.
			opts.TiledShape = webgpu.ClassicMatvec
		} else {
			// A GPU: its Q8_0, Q4_0 and Q4_K products take x as int8s
			// (1.5× faster 4-bit decode on an H100, within 1/254 of each
			// x block's largest value). A fallback adapter keeps f32, so
			// its output stays the CPU engine's.
			opts.X = webgpu.XInt8
		}
		d, err := webgpu.New(opts)
		if err == nil {
			emit(event{Kind: "device", Msg: d.Name(), Attrs: map[string]string{"backend": "webgpu"}})
			return backendDevice{Device: d, backend: "webgpu"}, nil
		}
		det.Reason = "opening the WebGPU device failed: " + err.Error()
	}
	d, err := cpu.New(1) // Go-wasm runs one thread
	if err != nil {
		return nil, err
	}
	emit(event{Kind: "device", Msg: d.Name(), Attrs: map[string]string{"backend": "cpu", "reason": det.Reason}})
	return backendDevice{Device: d, backend: "cpu"}, nil
}

// backendDevice names the backend for node.Measure's capabilities (the
// planner weighs WebGPU and CPU nodes differently).
type backendDevice struct {
	kernels.Device
	backend string
}

func (b backendDevice) Backend() string { return b.backend }

// memoryBudget offers a quarter of navigator.deviceMemory, at most 1.5 GiB
// (a tab's wasm memory dies near 4 GiB; GPU buffers share the device), and
// for the CPU device no more than 1 GiB, since its weights live in the wasm
// heap itself.
func memoryBudget(det *detection) uint64 {
	gib := det.DeviceMemGiB
	if gib <= 0 {
		gib = 4 // browsers that hide deviceMemory
	}
	b := min(uint64(gib*(1<<30)/4), 3<<29)
	if !det.Adapter {
		b = min(b, 1<<30)
	}
	return b
}

// checkOrigin asks a server on another origin for its model list, which it
// answers (with CORS headers) only to origins it allows: a refused page
// learns so at once, before spending time on device setup, and says why.
func checkOrigin(ctx context.Context, server, origin string) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, server+"/models", nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			return nil
		}
		err = fmt.Errorf("it answered %s", resp.Status)
	}
	return fmt.Errorf("the server at %s refused this page's origin %s, or is unreachable (%v): pages from another origin may join only when the server allows it (-allow-origin %s)", server, origin, err, origin)
}

// siteConfig is the part of the server's /api/config the node needs.
type siteConfig struct {
	Swarm string `json:"swarm"`
}

// defaultSwarm asks the server which swarm its pages join by default.
func defaultSwarm(ctx context.Context, server string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, server+"/api/config", nil)
	if err != nil {
		return "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", fmt.Errorf("no swarm in the page URL and %s/api/config is unreachable: %w", server, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("%s/api/config answered %s", server, resp.Status)
	}
	var c siteConfig
	if err := json.NewDecoder(http.MaxBytesReader(nil, resp.Body, 1<<16)).Decode(&c); err != nil {
		return "", fmt.Errorf("%s/api/config: %w", server, err)
	}
	if c.Swarm == "" {
		return "", errors.New("the server names no default swarm: add ?swarm=NAME to the page URL")
	}
	return c.Swarm, nil
}

// reportHeap sends the Go heap (runtime.MemStats) to the page until ctx ends.
func reportHeap(ctx context.Context) {
	t := time.NewTicker(heapEvery)
	defer t.Stop()
	for {
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		emit(event{Kind: "heap", HeapInuse: ms.HeapInuse, HeapSys: ms.HeapSys, Sys: ms.Sys})
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
