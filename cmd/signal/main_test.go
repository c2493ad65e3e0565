//go:build !js

package main

import (
	"context"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tabshard/tabshard/swarm"
)

func TestParseFlags(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "swarms.txt")
	if err := os.WriteFile(file, []byte("# comment\nbeta  beta-token-0123456789\n\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := parseFlags([]string{"-listen", ":0", "-swarm", "alpha=alpha-token-0123456789", "-swarms-file", file,
		"-allow-origin", "https://a.example", "-allow-origin", "http://b.example:8080", "-rate", "10", "-burst", "20"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Swarm.Swarms) != 2 || c.Swarm.Swarms[1].Name != "beta" || c.Swarm.Swarms[1].Token != "beta-token-0123456789" ||
		len(c.Swarm.AllowedOrigins) != 2 || c.Swarm.Rate != (swarm.RateLimit{PerSecond: 10, Burst: 20}) {
		t.Fatalf("%+v", c)
	}
	for _, args := range [][]string{
		{},
		{"-swarm", "alpha"},
		{"-swarm", "a=alpha-token-0123456789", "-tls-cert", "c.pem"},
		{"-swarm", "a=alpha-token-0123456789", "extra"},
		{"-swarms-file", filepath.Join(dir, "missing")},
	} {
		if _, err := parseFlags(args, io.Discard); err == nil {
			t.Errorf("%q accepted", args)
		}
	}
}

// TestRunServesAndShutsDown starts the real server on a free port, joins a
// swarm through it and stops it.
func TestRunServesAndShutsDown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	c, err := parseFlags([]string{"-listen", addr, "-swarm", "alpha=alpha-token-0123456789"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, c, slog.New(slog.NewTextHandler(io.Discard, nil))) }()
	var cl *swarm.Client
	for i := 0; i < 50; i++ {
		cl, err = swarm.Dial(context.Background(), swarm.ClientConfig{URL: "ws://" + addr + swarm.SignalPath,
			Swarm: "alpha", Token: "alpha-token-0123456789", Role: swarm.RoleClient,
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		if err == nil || !strings.Contains(err.Error(), "refused") {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	cancel()
	select {
	case err := <-done:
		if err != nil && !strings.Contains(err.Error(), "Server closed") {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("run did not return after cancel")
	}
	select {
	case <-cl.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("client still connected after shutdown")
	}
}

// The flag reaches the config.
func TestModelFlag(t *testing.T) {
	c, err := parseFlags([]string{"-swarm", "alpha=alpha-token-0123456789", "-model", "/x.gguf"}, io.Discard)
	if err != nil || c.Model != "/x.gguf" {
		t.Fatalf("%+v %v", c, err)
	}
}
