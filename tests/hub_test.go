package tests

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/tabshard/tabshard/hub"
	"github.com/tabshard/tabshard/kernels/cpu"
	"github.com/tabshard/tabshard/loader"
	"github.com/tabshard/tabshard/model"
	"github.com/tabshard/tabshard/models"
	"github.com/tabshard/tabshard/swarm"
)

// TestHubServesAPIFromFetchingNodes runs the whole server as users deploy
// it: the hub serves the embedded model's blobs, two node processes fetch
// (and verify) only their blobs over HTTP, and an OpenAI-style completion
// through the swarm equals the single-process engine's greedy text.
func TestHubServesAPIFromFetchingNodes(t *testing.T) {
	h, err := hub.New(hub.Config{
		Swarm:  swarm.Config{Swarms: []swarm.SwarmConfig{{Name: swarmName, Token: swarmToken}}, Logger: quietLogger(t)},
		Plan:   hub.PlanSettings{MinNodes: 2, Spread: true, Context: 256},
		Logger: quietLogger(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: h.Handler()}
	go hs.Serve(ln)
	defer hs.Close()
	base := "http://" + ln.Addr().String()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	for i := 0; i < 2; i++ {
		cmd := exec.CommandContext(ctx, tabshardBin, "node", "--signal", "ws"+strings.TrimPrefix(base, "http")+swarm.SignalPath,
			"--swarm", swarmName, "--token", swarmToken, "--threads", "1", "--ctx", "256", "--cache", t.TempDir())
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() { cmd.Process.Kill(); cmd.Wait() }()
	}
	if err := h.StartGateway(ctx, base); err != nil {
		t.Fatal(err)
	}
	if err := h.Gateway().WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	body := `{"prompt":"It was a fine morning, and","max_tokens":16,"temperature":0}`
	resp, err := http.Post(base+"/v1/completions", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	var out struct {
		Choices []struct {
			Text string `json:"text"`
		} `json:"choices"`
	}
	err = json.NewDecoder(resp.Body).Decode(&out)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 || len(out.Choices) != 1 {
		t.Fatalf("status %d, %v, %+v", resp.StatusCode, err, out)
	}
	want := engineText(t, "It was a fine morning, and", 16)
	if out.Choices[0].Text != want {
		t.Errorf("swarm text %q, engine %q", out.Choices[0].Text, want)
	}
	if h.BytesServed() == 0 {
		t.Errorf("the nodes loaded without fetching blobs")
	}
	t.Logf("%s; %d blob bytes served; text %q", h.Planner().Current(), h.BytesServed(), out.Choices[0].Text)
}

// engineText is the engine's greedy continuation of prompt on the embedded model.
func engineText(t *testing.T, prompt string, n int) string {
	src, err := loader.OpenGGUF(bytes.NewReader(models.Default), int64(len(models.Default)))
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := model.ConfigFromMeta(&src.Meta, src.Tensors)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := model.TokenizerFromGGUF(src.Meta)
	if err != nil {
		t.Fatal(err)
	}
	dev, _ := cpu.New(1)
	e, err := model.NewEngine(dev, src, cfg, model.EngineOptions{Context: 256})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	dec := tok.ContinueStream()
	var b strings.Builder
	err = e.Generate(context.Background(), tok.Encode(prompt, true), n, tok.EOS(), model.NewSampler(model.SamplerConfig{}), func(id int32, _ float32) bool {
		b.WriteString(dec.Next(id))
		return true
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}
