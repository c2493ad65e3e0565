//go:build !js

package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/tabshard/tabshard/hub"
	"github.com/tabshard/tabshard/models"
	"github.com/tabshard/tabshard/swarm"
	"github.com/tabshard/tabshard/web"
)

// config is everything the command line sets.
type config struct {
	Listen  string
	TLSCert string
	TLSKey  string
	Swarm   swarm.Config
	// Model is the model file or directory to serve; "" serves the
	// embedded default model.
	Model string
	Plan  hub.PlanSettings
	Web   fs.FS
	// PublicURL is where nodes and the API gateway reach this server
	// (default: the listen address).
	PublicURL string
	NoAPI     bool
}

// listFlag collects a repeatable flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

func parseFlags(args []string, stderr io.Writer) (config, error) {
	var c config
	fs := flag.NewFlagSet("signal", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var swarms, origins listFlag
	var swarmsFile string
	fs.StringVar(&c.Listen, "listen", "127.0.0.1:8080", "address to listen on")
	fs.StringVar(&c.TLSCert, "tls-cert", "", "TLS certificate file (PEM); with -tls-key, serve HTTPS/WSS")
	fs.StringVar(&c.TLSKey, "tls-key", "", "TLS private key file (PEM)")
	fs.StringVar(&c.Model, "model", "", "model to serve to nodes (GGUF file, safetensors file/index/directory); default: the embedded "+models.DefaultName)
	fs.Var(&swarms, "swarm", "a swarm as name=token (repeatable; token at least 16 characters)")
	fs.StringVar(&swarmsFile, "swarms-file", "", `file of "name token" lines, one swarm each`)
	fs.Var(&origins, "allow-origin", "browser origin allowed besides the server's own, as https://host[:port] (repeatable)")
	fs.Int64Var(&c.Swarm.MaxMessageBytes, "max-message-bytes", swarm.MaxMessageBytes, "largest signaling message accepted")
	fs.Float64Var(&c.Swarm.Rate.PerSecond, "rate", 50, "messages per second allowed per connection")
	fs.IntVar(&c.Swarm.Rate.Burst, "burst", 200, "message burst allowed per connection")
	fs.DurationVar(&c.Swarm.HeartbeatInterval, "heartbeat", 5*time.Second, "heartbeat interval asked of peers")
	fs.DurationVar(&c.Swarm.HeartbeatTimeout, "heartbeat-timeout", 15*time.Second, "silence after which a peer is declared lost")
	fs.IntVar(&c.Swarm.MaxPeersPerSwarm, "max-peers", 256, "peers per swarm")
	fs.IntVar(&c.Plan.MinNodes, "min-nodes", 1, "nodes to wait for before the first plan")
	fs.BoolVar(&c.Plan.Spread, "spread", false, "give every node a stage (layers split evenly) instead of balancing by measured speed")
	fs.IntVar(&c.Plan.Context, "ctx", 1024, "KV positions reserved per session when planning; also the API's context")
	fs.IntVar(&c.Plan.Sessions, "sessions", 8, "sessions reserved for when planning")
	fs.StringVar(&c.PublicURL, "public-url", "", "URL where this server is reached, e.g. https://swarm.example.org (default: from -listen)")
	fs.BoolVar(&c.NoAPI, "no-api", false, "do not run the OpenAI-compatible API")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	c.Web = web.Files()
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		return c, errors.New("-tls-cert and -tls-key go together")
	}
	for _, s := range swarms {
		name, token, ok := strings.Cut(s, "=")
		if !ok {
			return c, fmt.Errorf("-swarm %q: want name=token", s)
		}
		c.Swarm.Swarms = append(c.Swarm.Swarms, swarm.SwarmConfig{Name: name, Token: token})
	}
	if swarmsFile != "" {
		fromFile, err := readSwarmsFile(swarmsFile)
		if err != nil {
			return c, err
		}
		c.Swarm.Swarms = append(c.Swarm.Swarms, fromFile...)
	}
	if len(c.Swarm.Swarms) == 0 {
		return c, errors.New("no swarms: give -swarm name=token or -swarms-file")
	}
	c.Swarm.AllowedOrigins = origins
	return c, nil
}

func readSwarmsFile(path string) ([]swarm.SwarmConfig, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []swarm.SwarmConfig
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fields := strings.Fields(line)
		if len(fields) != 2 {
			return nil, fmt.Errorf("%s:%d: want \"name token\"", path, n)
		}
		out = append(out, swarm.SwarmConfig{Name: fields[0], Token: fields[1]})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return out, nil
}

func run(ctx context.Context, c config, log *slog.Logger) error {
	h, err := hub.New(hub.Config{Swarm: c.Swarm, ModelPath: c.Model, Plan: c.Plan, Web: c.Web, Logger: log})
	if err != nil {
		return err
	}
	defer h.Close()
	log.Info("signal: model ready", "model", h.ModelID(), "digest", h.Digest())
	hs := &http.Server{
		Handler:           h.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	ln, err := net.Listen("tcp", c.Listen)
	if err != nil {
		return err
	}
	scheme := "http"
	if c.TLSCert != "" {
		scheme = "https"
	}
	base := scheme + "://" + ln.Addr().String()
	if c.PublicURL != "" {
		base = c.PublicURL
	}
	log.Info("signal: listening", "url", base, "signal", swarm.SignalPath, "status", swarm.StatusPath,
		"swarms", len(c.Swarm.Swarms), "allowed_origins", c.Swarm.AllowedOrigins)
	errc := make(chan error, 1)
	go func() {
		if c.TLSCert != "" {
			errc <- hs.ServeTLS(ln, c.TLSCert, c.TLSKey)
		} else {
			errc <- hs.Serve(ln)
		}
	}()
	if !c.NoAPI {
		if err := h.StartGateway(ctx, base); err != nil {
			log.Warn("signal: the API will answer 503", "err", err)
		}
	}
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("signal: shutting down")
	// Shutdown does not wait for hijacked (WebSocket) connections; h.Close
	// (deferred) ends those and waits for their goroutines.
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err = hs.Shutdown(sctx)
	<-errc
	return err
}

func main() {
	c, err := parseFlags(os.Args[1:], os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "signal:", err)
		os.Exit(2)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, c, log); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Error("signal: " + err.Error())
		os.Exit(1)
	}
}
