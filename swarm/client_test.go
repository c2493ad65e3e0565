//go:build !js

package swarm

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
)

func clientConfig(hs *httptest.Server, role Role) ClientConfig {
	cfg := ClientConfig{URL: wsURL(hs), Swarm: "alpha", Token: testToken, Role: role, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if role == RoleNode {
		cfg.Capabilities = &Capabilities{Backend: "cpu", MemoryBudgetBytes: 1 << 30, MatmulGFLOPS: 3, CPUCores: 2}
	}
	return cfg
}

func dialClient(t *testing.T, cfg ClientConfig) *Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := Dial(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func recvBody(t *testing.T, c *Client, d time.Duration) Body {
	t.Helper()
	select {
	case b, ok := <-c.Inbox():
		if !ok {
			t.Fatalf("client ended: %v", c.Err())
		}
		return b
	case <-time.After(d):
		t.Fatalf("nothing received in %v", d)
	}
	return nil
}

func TestClientJoinRelayHeartbeat(t *testing.T) {
	_, hs := testServer(t, func(c *Config) { c.HeartbeatInterval = 30 * time.Millisecond })
	a := dialClient(t, clientConfig(hs, RoleNode))
	b := dialClient(t, clientConfig(hs, RoleClient))
	if a.PeerID() == "" || a.PeerID() == b.PeerID() {
		t.Fatalf("peer ids %q %q", a.PeerID(), b.PeerID())
	}
	ctx := context.Background()
	if err := a.Send(ctx, &Offer{Route: Route{To: b.PeerID(), Link: "l1"}, SDP: "v=0\r\n"}); err != nil {
		t.Fatal(err)
	}
	off, ok := recvBody(t, b, 5*time.Second).(*Offer)
	if !ok || off.From != a.PeerID() || off.Link != "l1" {
		t.Fatalf("b got %#v", off)
	}
	if err := b.Send(ctx, &Answer{Route: Route{To: off.From, Link: off.Link}, SDP: "v=0\r\n"}); err != nil {
		t.Fatal(err)
	}
	if ans, ok := recvBody(t, a, 5*time.Second).(*Answer); !ok || ans.From != b.PeerID() {
		t.Fatalf("a got %#v", ans)
	}
	deadline := time.Now().Add(5 * time.Second)
	for a.RTT() == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if a.RTT() == 0 {
		t.Fatal("no heartbeat round trip measured")
	}
	t.Logf("heartbeat round trip to the server: %v", a.RTT())
	// Invalid messages are refused before they leave.
	if err := a.Send(ctx, &Offer{Route: Route{To: "x y", Link: "l"}, SDP: "v=0"}); err == nil {
		t.Fatal("sent an invalid offer")
	}
}

func TestClientRefusals(t *testing.T) {
	_, hs := testServer(t, nil)
	cfg := clientConfig(hs, RoleClient)
	cfg.Token = "wrong-wrong-wrong-wrong"
	_, err := Dial(context.Background(), cfg)
	var je *JoinError
	if !errors.As(err, &je) || je.Code != CodeJoinRefused {
		t.Fatalf("wrong token: %v", err)
	}
	cfg = clientConfig(hs, RoleClient)
	cfg.Origin = "https://evil.example"
	if _, err := Dial(context.Background(), cfg); err == nil || !strings.Contains(err.Error(), "403") {
		t.Fatalf("disallowed origin: %v", err)
	}
	cfg.Origin = "https://good.example"
	c := dialClient(t, cfg)
	if c.PeerID() == "" {
		t.Fatal("no id")
	}
	bad := clientConfig(hs, RoleNode)
	bad.Capabilities = nil
	if _, err := Dial(context.Background(), bad); err == nil {
		t.Fatal("node without capabilities dialed")
	}
}

func TestClientReconnects(t *testing.T) {
	log := newEventLog()
	_, hs := testServer(t, func(c *Config) { c.Planner = log })
	px := newCutProxy(t, hs.Listener.Addr().String())
	cfg := clientConfig(hs, RoleNode)
	cfg.URL = "ws://" + px.addr() + SignalPath
	cfg.Reconnect = &ReconnectPolicy{MinDelay: 20 * time.Millisecond, MaxDelay: 100 * time.Millisecond}
	c := dialClient(t, cfg)
	first := c.PeerID()
	log.wait(t, EventJoined, first, 5*time.Second)

	px.cut() // the network drops every connection
	w, ok := recvBody(t, c, 5*time.Second).(*Welcome)
	if !ok || w.Peer == first || c.PeerID() != w.Peer {
		t.Fatalf("after reconnect: welcome %#v, id %q (was %q)", w, c.PeerID(), first)
	}
	log.wait(t, EventLost, first, 5*time.Second)
	log.wait(t, EventJoined, w.Peer, 5*time.Second)
	if err := c.Send(context.Background(), &Ready{Epoch: 1}); err != nil {
		t.Fatal(err)
	}
	log.wait(t, EventReady, w.Peer, 5*time.Second)

	c.Close()
	ev := log.wait(t, EventLeft, w.Peer, 5*time.Second)
	if !strings.Contains(ev.Reason, "leave") {
		t.Fatalf("close reached the server as %q", ev.Reason)
	}
	if _, open := <-c.Inbox(); open {
		t.Fatal("inbox still open after Close")
	}
	if !errors.Is(c.Err(), ErrClientClosed) {
		t.Fatalf("Err after Close: %v", c.Err())
	}
	if err := c.Send(context.Background(), &Ready{}); !errors.Is(err, ErrClientClosed) {
		t.Fatalf("Send after Close: %v", err)
	}
}

// TestClientDetectsSilentServer runs a server that welcomes and then never
// answers: the client must notice within the advertised timeout.
func TestClientDetectsSilentServer(t *testing.T) {
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer conn.CloseNow()
		ctx := r.Context()
		if _, _, err := conn.Read(ctx); err != nil {
			return
		}
		msg, _ := Encode(&Welcome{Peer: "p-1", Swarm: "alpha", HeartbeatMillis: 50, HeartbeatTimeoutMillis: 200, MaxMessageBytes: 4096})
		if conn.Write(ctx, websocket.MessageText, msg) != nil {
			return
		}
		for { // swallow heartbeats, answer nothing
			if _, _, err := conn.Read(ctx); err != nil {
				return
			}
		}
	}))
	defer hs.Close()
	c := dialClient(t, ClientConfig{URL: "ws" + strings.TrimPrefix(hs.URL, "http"), Swarm: "alpha", Token: testToken, Role: RoleClient})
	start := time.Now()
	select {
	case <-c.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("silent server not detected")
	}
	t.Logf("silent server detected after %v: %v", time.Since(start).Round(time.Millisecond), c.Err())
	if c.Err() == nil || errors.Is(c.Err(), ErrClientClosed) {
		t.Fatalf("Err: %v", c.Err())
	}
}

// cutProxy forwards TCP connections to a target and can cut them all at
// once, as a network failure would.
type cutProxy struct {
	ln    net.Listener
	mu    sync.Mutex
	conns []net.Conn
	wg    sync.WaitGroup
}

func newCutProxy(t *testing.T, target string) *cutProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cutProxy{ln: ln}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			in, err := ln.Accept()
			if err != nil {
				return
			}
			out, err := net.Dial("tcp", target)
			if err != nil {
				in.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, in, out)
			p.mu.Unlock()
			p.wg.Add(2)
			go func() { defer p.wg.Done(); io.Copy(out, in); out.Close() }()
			go func() { defer p.wg.Done(); io.Copy(in, out); in.Close() }()
		}
	}()
	t.Cleanup(func() { ln.Close(); p.cut(); p.wg.Wait() })
	return p
}

func (p *cutProxy) addr() string { return p.ln.Addr().String() }

func (p *cutProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}
