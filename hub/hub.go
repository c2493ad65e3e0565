//go:build !js

// Package hub is the tabshard server as a library: signaling (package
// swarm) with the planner wired in, the model's manifest and blobs, the web
// app, and an OpenAI-compatible API answered by a swarm client the hub runs
// itself. cmd/signal serves it; `tabshard demo` starts it in-process.
package hub

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"sync"

	"github.com/tabshard/tabshard/api"
	"github.com/tabshard/tabshard/model"
	"github.com/tabshard/tabshard/node"
	"github.com/tabshard/tabshard/quant"
	"github.com/tabshard/tabshard/shard"
	"github.com/tabshard/tabshard/swarm"
)

// PlanSettings shape the planner.
type PlanSettings struct {
	MinNodes int        // plan once this many nodes joined (default 1)
	Spread   bool       // give every node a stage (see shard.Spread)
	Context  int        // KV positions reserved per session (default 1024)
	Sessions int        // sessions reserved for (default 8)
	KV       quant.Type // KV format nodes use (default F32)
}

// Config configures a hub.
type Config struct {
	Swarm     swarm.Config // swarms, origins and limits; the hub sets Planner
	ModelPath string       // GGUF or safetensors; "" serves the embedded default
	Plan      PlanSettings
	Web       fs.FS // the web app served at "/" (nil: none)
	// APIMaxTokens bounds max_tokens on the API (default 512).
	APIMaxTokens int
	Logger       *slog.Logger
}

// Hub is a running server (its HTTP handler is Handler).
type Hub struct {
	cfg     Config
	log     *slog.Logger
	models  *modelStore
	planner *shard.SwarmPlanner
	srv     *swarm.Server
	mux     *http.ServeMux

	mu      sync.Mutex
	gateway *node.Client
	api     *api.Handler
}

// New prepares the model and the signaling server.
func New(cfg Config) (*Hub, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	p := &cfg.Plan
	p.MinNodes = max(p.MinNodes, 1)
	if p.Context <= 0 {
		p.Context = 1024
	}
	if p.Sessions <= 0 {
		p.Sessions = 8
	}
	if p.KV == 0 {
		p.KV = quant.F32
	}
	if cfg.APIMaxTokens <= 0 {
		cfg.APIMaxTokens = 512
	}
	if len(cfg.Swarm.Swarms) == 0 {
		return nil, errors.New("hub: no swarms configured")
	}
	ms, err := prepareModel(cfg.ModelPath, cfg.Swarm.AllowedOrigins)
	if err != nil {
		return nil, err
	}
	shape, err := shard.ShapeOf(ms.man.TensorInfos(), ms.cfg, p.KV)
	if err != nil {
		ms.Close()
		return nil, err
	}
	h := &Hub{cfg: cfg, log: cfg.Logger, models: ms, mux: http.NewServeMux()}
	h.planner = &shard.SwarmPlanner{
		Shape:    shape,
		Manifest: swarm.ManifestRef{URL: ms.manifestPath(), SHA256: ms.digest},
		Config:   shard.PlanConfig{Context: p.Context, Sessions: p.Sessions},
		MinNodes: p.MinNodes,
		Spread:   p.Spread,
		Logger:   cfg.Logger,
	}
	sc := cfg.Swarm
	sc.Planner = h.planner
	sc.Logger = cfg.Logger
	if h.srv, err = swarm.NewServer(sc); err != nil {
		ms.Close()
		return nil, err
	}
	h.srv.Register(h.mux)
	ms.register(h.mux)
	h.mux.HandleFunc("GET /api/config", h.serveConfig)
	h.mux.HandleFunc("/v1/", h.serveAPI)
	if cfg.Web != nil {
		h.mux.Handle("/", http.FileServerFS(cfg.Web))
	}
	return h, nil
}

// Handler is the hub's HTTP handler.
func (h *Hub) Handler() http.Handler { return h.mux }

// Planner is the hub's planner (its current plan, for status and tests).
func (h *Hub) Planner() *shard.SwarmPlanner { return h.planner }

// Swarm is the signaling server.
func (h *Hub) Swarm() *swarm.Server { return h.srv }

// ModelID names the served model; Digest is its manifest digest.
func (h *Hub) ModelID() string { return h.models.name }
func (h *Hub) Digest() string  { return h.models.digest }

// BytesServed is the number of model blob bytes the hub has sent.
func (h *Hub) BytesServed() int64 { return h.models.bytesServed.Load() }

// StartGateway joins the hub's first swarm as a client through its own
// public endpoint (base: "http://host:port" where the hub listens), so the
// API can answer from the swarm's pipeline.
func (h *Hub) StartGateway(ctx context.Context, base string) error {
	sw := h.cfg.Swarm.Swarms[0]
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") {
		return fmt.Errorf("hub: gateway base %q is not an http(s) URL", base)
	}
	u.Scheme = map[string]string{"http": "ws", "https": "wss"}[u.Scheme]
	u.Path = swarm.SignalPath
	cl, err := node.DialClient(ctx, node.ClientConfig{
		Signal: swarm.ClientConfig{URL: u.String(), Swarm: sw.Name, Token: sw.Token,
			Reconnect: &swarm.ReconnectPolicy{}},
		Logger: h.log,
	})
	if err != nil {
		return fmt.Errorf("hub: API gateway: %w", err)
	}
	a, err := api.NewHandler(api.Config{ModelID: h.models.name, Tokenizer: h.models.tok,
		Context: h.cfg.Plan.Context, Generator: cl, MaxTokens: h.cfg.APIMaxTokens})
	if err != nil {
		cl.Close()
		return err
	}
	h.mu.Lock()
	h.gateway, h.api = cl, a
	h.mu.Unlock()
	return nil
}

func (h *Hub) serveAPI(w http.ResponseWriter, r *http.Request) {
	h.mu.Lock()
	a := h.api
	h.mu.Unlock()
	if a == nil {
		http.Error(w, `{"error":{"message":"the API gateway is not running","type":"server_error"}}`, http.StatusServiceUnavailable)
		return
	}
	a.ServeHTTP(w, r)
}

// siteConfig is what the web pages read from /api/config.
type siteConfig struct {
	Swarm      string `json:"swarm"`
	Model      string `json:"model"`
	Digest     string `json:"digest"`
	SignalPath string `json:"signal_path"`
	APIBase    string `json:"api_base"`
	Layers     int    `json:"layers"`
}

func (h *Hub) serveConfig(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(siteConfig{Swarm: h.cfg.Swarm.Swarms[0].Name, Model: h.models.name,
		Digest: h.models.digest, SignalPath: swarm.SignalPath, APIBase: "/v1", Layers: h.models.cfg.Layers})
}

// Close stops the gateway and the signaling server and removes the blobs.
func (h *Hub) Close() error {
	h.mu.Lock()
	gw := h.gateway
	h.gateway, h.api = nil, nil
	h.mu.Unlock()
	if gw != nil {
		gw.Close()
	}
	h.srv.Close()
	return h.models.Close()
}

// Gateway is the hub's own swarm client (nil before StartGateway).
func (h *Hub) Gateway() *node.Client {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.gateway
}

// Tokenizer is the served model's tokenizer.
func (h *Hub) Tokenizer() *model.Tokenizer { return h.models.tok }
