//go:build !js

package swarm

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
)

const testToken = "0123456789abcdef-token"

// testServer starts a Server behind httptest with two swarms.
func testServer(t *testing.T, mutate func(*Config)) (*Server, *httptest.Server) {
	t.Helper()
	cfg := Config{
		Swarms:         []SwarmConfig{{Name: "alpha", Token: testToken}, {Name: "beta", Token: testToken + "-beta"}},
		AllowedOrigins: []string{"https://good.example"},
		Logger:         slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	if mutate != nil {
		mutate(&cfg)
	}
	srv, err := NewServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	srv.Register(mux)
	hs := httptest.NewServer(mux)
	t.Cleanup(func() {
		hs.CloseClientConnections()
		srv.Close()
		hs.Close()
	})
	return srv, hs
}

func wsURL(hs *httptest.Server) string {
	return "ws" + strings.TrimPrefix(hs.URL, "http") + SignalPath
}

// rawPeer is a test peer speaking the protocol by hand, so tests can send
// what a well-behaved client never would. A reader goroutine (ended by the
// connection closing) collects what the server sends.
type rawPeer struct {
	t    *testing.T
	conn *websocket.Conn
	in   chan Body
	done chan struct{}
	err  error // why the reader stopped; read after done
	id   string
}

func dialRaw(t *testing.T, hs *httptest.Server, origin string) (*rawPeer, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	h := http.Header{}
	if origin != "" {
		h.Set("Origin", origin)
	}
	conn, _, err := websocket.Dial(ctx, wsURL(hs), &websocket.DialOptions{HTTPHeader: h})
	if err != nil {
		return nil, err
	}
	conn.SetReadLimit(1 << 20)
	p := &rawPeer{t: t, conn: conn, in: make(chan Body, 64), done: make(chan struct{})}
	go func() {
		defer close(p.done)
		for {
			_, data, err := conn.Read(context.Background())
			if err != nil {
				p.err = err
				return
			}
			b, err := Decode(data)
			if err != nil {
				p.err = err
				return
			}
			p.in <- b
		}
	}()
	t.Cleanup(func() { conn.CloseNow(); <-p.done })
	return p, nil
}

func (p *rawPeer) sendRaw(data []byte) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return p.conn.Write(ctx, websocket.MessageText, data)
}

func (p *rawPeer) send(b Body) {
	p.t.Helper()
	enc, err := Encode(b)
	if err != nil {
		p.t.Fatal(err)
	}
	if err := p.sendRaw(enc); err != nil {
		p.t.Fatal(err)
	}
}

// next returns the next message, failing after d.
func (p *rawPeer) next(d time.Duration) Body {
	p.t.Helper()
	select {
	case b := <-p.in:
		return b
	case <-p.done:
		select {
		case b := <-p.in:
			return b
		default:
		}
		p.t.Fatalf("connection ended: %v", p.err)
	case <-time.After(d):
		p.t.Fatalf("nothing received in %v", d)
	}
	return nil
}

// expectNone fails if a message (other than heartbeat echoes) arrives within d.
func (p *rawPeer) expectNone(d time.Duration) {
	p.t.Helper()
	deadline := time.After(d)
	for {
		select {
		case b := <-p.in:
			if _, ok := b.(*Heartbeat); ok {
				continue
			}
			p.t.Fatalf("unexpected %s: %#v", b.MessageType(), b)
		case <-deadline:
			return
		}
	}
}

// expectClosed waits for the server to close the connection.
func (p *rawPeer) expectClosed(d time.Duration) error {
	p.t.Helper()
	select {
	case <-p.done:
		return p.err
	case <-time.After(d):
		p.t.Fatalf("connection still open after %v", d)
	}
	return nil
}

func joinRaw(t *testing.T, hs *httptest.Server, swarm, token string, role Role) *rawPeer {
	t.Helper()
	p, err := dialRaw(t, hs, "")
	if err != nil {
		t.Fatal(err)
	}
	j := &Join{Swarm: swarm, Token: token, Role: role}
	if role == RoleNode {
		j.Capabilities = &Capabilities{Backend: "cpu", MemoryBudgetBytes: 1 << 30, MatmulGFLOPS: 5, CPUCores: 2}
	}
	p.send(j)
	w, ok := p.next(5 * time.Second).(*Welcome)
	if !ok {
		t.Fatal("first answer is not welcome")
	}
	p.id = w.Peer
	return p
}

func expectError(t *testing.T, p *rawPeer, code ErrorCode) {
	t.Helper()
	for {
		b := p.next(5 * time.Second)
		if _, ok := b.(*Heartbeat); ok {
			continue
		}
		e, ok := b.(*Error)
		if !ok {
			t.Fatalf("got %s, want error %s", b.MessageType(), code)
		}
		if e.Code != code {
			t.Fatalf("got error %s (%s), want %s", e.Code, e.Message, code)
		}
		return
	}
}

func TestJoinWrongTokenRefused(t *testing.T) {
	_, hs := testServer(t, nil)
	for _, j := range []*Join{
		{Swarm: "alpha", Token: "wrong-token-wrong-token", Role: RoleClient},
		{Swarm: "beta", Token: testToken, Role: RoleClient}, // alpha's token for beta
		{Swarm: "gamma", Token: testToken, Role: RoleClient},
	} {
		p, err := dialRaw(t, hs, "")
		if err != nil {
			t.Fatal(err)
		}
		p.send(j)
		expectError(t, p, CodeJoinRefused)
		p.expectClosed(5 * time.Second)
	}
	// The right token is welcomed.
	joinRaw(t, hs, "alpha", testToken, RoleClient)
}

func TestFirstMessageMustBeJoin(t *testing.T) {
	_, hs := testServer(t, nil)
	p, err := dialRaw(t, hs, "")
	if err != nil {
		t.Fatal(err)
	}
	p.send(&Heartbeat{Seq: 1})
	expectError(t, p, CodeUnexpected)
	p.expectClosed(5 * time.Second)
}

func TestOriginAllowlist(t *testing.T) {
	_, hs := testServer(t, nil)
	if _, err := dialRaw(t, hs, "https://evil.example"); err == nil {
		t.Fatal("disallowed origin was accepted")
	} else if !strings.Contains(err.Error(), "403") {
		t.Fatalf("refusal is not a 403: %v", err)
	}
	for _, origin := range []string{"https://good.example", "https://GOOD.example:443", hs.URL, ""} {
		if _, err := dialRaw(t, hs, origin); err != nil {
			t.Fatalf("origin %q refused: %v", origin, err)
		}
	}
	if _, err := dialRaw(t, hs, "https://good.example:8443"); err == nil {
		t.Fatal("allowed host on another port was accepted")
	}
}

func TestOversizedMessageClosesConnection(t *testing.T) {
	_, hs := testServer(t, func(c *Config) { c.MaxMessageBytes = 4096 })
	p := joinRaw(t, hs, "alpha", testToken, RoleClient)
	big := `{"v":1,"type":"leave","body":{"reason":"` + strings.Repeat("x", 5000) + `"}}`
	_ = p.sendRaw([]byte(big))
	err := p.expectClosed(5 * time.Second)
	if websocket.CloseStatus(err) != websocket.StatusMessageTooBig {
		t.Fatalf("closed with %v, want StatusMessageTooBig", err)
	}
}

func TestMalformedMessageClosesConnection(t *testing.T) {
	_, hs := testServer(t, nil)
	p := joinRaw(t, hs, "alpha", testToken, RoleClient)
	_ = p.sendRaw([]byte(`{"v":1,"type":"status","body":{"epoch":1,"state":"loading","loaded_bytes":9,"total_bytes":1}}`))
	expectError(t, p, CodeBadMessage)
	if err := p.expectClosed(5 * time.Second); websocket.CloseStatus(err) != websocket.StatusPolicyViolation {
		t.Fatalf("closed with %v, want StatusPolicyViolation", err)
	}
}

func TestFloodingIsCut(t *testing.T) {
	log := newEventLog()
	_, hs := testServer(t, func(c *Config) { c.Rate = RateLimit{PerSecond: 20, Burst: 10}; c.Planner = log })
	p := joinRaw(t, hs, "alpha", testToken, RoleClient)
	// A peer within its rate is served.
	for i := 0; i < 5; i++ {
		p.send(&Heartbeat{Seq: uint64(i)})
		if hb, ok := p.next(5 * time.Second).(*Heartbeat); !ok || hb.Seq != uint64(i) {
			t.Fatalf("heartbeat %d not echoed", i)
		}
	}
	enc, _ := Encode(&Heartbeat{Seq: 99})
	for i := 0; i < 200; i++ {
		if p.sendRaw(enc) != nil {
			break
		}
	}
	// The server says why and closes; the refusal itself may be lost to a
	// TCP reset when the flood is still unread in the server's socket, so
	// the reason is checked on the server's side too.
	p.expectClosed(5 * time.Second)
	for len(p.in) > 0 {
		if e, ok := (<-p.in).(*Error); ok && e.Code != CodeRateLimited {
			t.Fatalf("refused with %s, want %s", e.Code, CodeRateLimited)
		}
	}
	ev := log.wait(t, EventLost, p.id, 5*time.Second)
	if !strings.Contains(ev.Reason, "messages/s") {
		t.Fatalf("lost for %q, want the rate limit", ev.Reason)
	}
}

func TestRelayBindsSenderID(t *testing.T) {
	_, hs := testServer(t, nil)
	a := joinRaw(t, hs, "alpha", testToken, RoleNode)
	b := joinRaw(t, hs, "alpha", testToken, RoleNode)
	c := joinRaw(t, hs, "alpha", testToken, RoleNode)

	// An honest offer arrives with the server-bound sender id.
	a.send(&Offer{Route: Route{To: b.id, Link: "l1"}, SDP: "v=0\r\n"})
	got, ok := b.next(5 * time.Second).(*Offer)
	if !ok || got.From != a.id || got.SDP != "v=0\r\n" || got.Link != "l1" {
		t.Fatalf("b got %#v, want an offer from %s", got, a.id)
	}
	// Claiming to be c: refused, a is disconnected, b sees nothing.
	a.send(&Candidate{Route: Route{To: b.id, From: c.id, Link: "l1"}, Candidate: "candidate:1 1 udp 1 127.0.0.1 9 typ host"})
	expectError(t, a, CodeSpoofing)
	a.expectClosed(5 * time.Second)
	b.expectNone(300 * time.Millisecond)
	c.expectNone(0)
	// Stating one's own id is fine.
	b.send(&Answer{Route: Route{To: c.id, From: b.id, Link: "l2"}, SDP: "v=0\r\n"})
	if got, ok := c.next(5 * time.Second).(*Answer); !ok || got.From != b.id {
		t.Fatalf("c got %#v", got)
	}
	// Relaying to oneself makes no sense.
	b.send(&Offer{Route: Route{To: b.id, Link: "l3"}, SDP: "v=0\r\n"})
	expectError(t, b, CodeBadMessage)
}

func TestRelayStaysInSwarm(t *testing.T) {
	_, hs := testServer(t, nil)
	a := joinRaw(t, hs, "alpha", testToken, RoleNode)
	x := joinRaw(t, hs, "beta", testToken+"-beta", RoleNode)
	a.send(&Offer{Route: Route{To: x.id, Link: "l1"}, SDP: "v=0\r\n"})
	expectError(t, a, CodeNoSuchPeer)
	x.expectNone(300 * time.Millisecond)
	// a is still connected: the error is not fatal.
	a.send(&Heartbeat{Seq: 7})
	if hb, ok := a.next(5 * time.Second).(*Heartbeat); !ok || hb.Seq != 7 {
		t.Fatal("a was disconnected")
	}
}

// eventLog is a Planner that records events and can answer with assignments.
type eventLog struct {
	mu     sync.Mutex
	events []Event
	notify chan Event
	plan   func(ev Event, view SwarmView) []Assignment
}

func newEventLog() *eventLog { return &eventLog{notify: make(chan Event, 64)} }

func (l *eventLog) Plan(ctx context.Context, ev Event, view SwarmView) ([]Assignment, error) {
	l.mu.Lock()
	l.events = append(l.events, ev)
	plan := l.plan
	l.mu.Unlock()
	select {
	case l.notify <- ev:
	case <-ctx.Done():
	}
	if plan == nil {
		return nil, nil
	}
	return plan(ev, view), nil
}

func (l *eventLog) wait(t *testing.T, kind EventKind, peer string, d time.Duration) Event {
	t.Helper()
	deadline := time.After(d)
	for {
		select {
		case ev := <-l.notify:
			if ev.Kind == kind && ev.Peer.ID == peer {
				return ev
			}
		case <-deadline:
			t.Fatalf("no %s event for %s within %v", kind, peer, d)
		}
	}
}

func TestHeartbeatLossDetected(t *testing.T) {
	log := newEventLog()
	_, hs := testServer(t, func(c *Config) {
		c.HeartbeatInterval = 50 * time.Millisecond
		c.HeartbeatTimeout = 300 * time.Millisecond
		c.Planner = log
	})
	silent := joinRaw(t, hs, "alpha", testToken, RoleNode)
	alive := joinRaw(t, hs, "alpha", testToken, RoleNode)
	stop := make(chan struct{})
	beating := make(chan struct{})
	go func() { // alive keeps beating until the test ends
		defer close(beating)
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		enc, _ := Encode(&Heartbeat{})
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				if alive.sendRaw(enc) != nil {
					return
				}
			}
		}
	}()
	defer func() { close(stop); <-beating }()

	start := time.Now()
	ev := log.wait(t, EventLost, silent.id, 5*time.Second)
	t.Logf("silent peer declared lost after %v (%s)", time.Since(start).Round(time.Millisecond), ev.Reason)
	silent.expectClosed(5 * time.Second)
	time.Sleep(400 * time.Millisecond)
	log.mu.Lock()
	for _, e := range log.events {
		if e.Peer.ID == alive.id && e.Kind != EventJoined {
			t.Errorf("beating peer got %s event: %s", e.Kind, e.Reason)
		}
	}
	log.mu.Unlock()
}

func TestPlannerAssignmentsAndStatus(t *testing.T) {
	log := newEventLog()
	manifest := ManifestRef{URL: "/models/m/manifest.json", SHA256: strings.Repeat("ab", 32)}
	// A toy policy (real planning lives in package shard): every node joined
	// so far splits 8 layers evenly, in join order.
	log.plan = func(ev Event, view SwarmView) []Assignment {
		if ev.Kind == EventReady {
			return nil
		}
		var nodes []string
		for _, p := range view.Peers {
			if p.Role == RoleNode {
				nodes = append(nodes, p.ID)
			}
		}
		if len(nodes) == 0 {
			return nil
		}
		var pipe []PipelineStage
		for i, id := range nodes {
			pipe = append(pipe, PipelineStage{Peer: id, Layers: LayerRange{i * 8 / len(nodes), (i + 1) * 8 / len(nodes)}})
		}
		var out []Assignment
		for _, p := range view.Peers {
			a := &Assign{Epoch: view.Epoch + 1, Manifest: manifest, TotalLayers: 8, Pipeline: pipe, Stage: -1}
			for i, id := range nodes {
				if id == p.ID {
					a.Stage = i
				}
			}
			out = append(out, Assignment{Peer: p.ID, Assign: a})
		}
		return out
	}
	srv, hs := testServer(t, func(c *Config) { c.Planner = log })
	n1 := joinRaw(t, hs, "alpha", testToken, RoleNode)
	a1 := n1.next(5 * time.Second).(*Assign)
	if a1.Stage != 0 || a1.Layers() != (LayerRange{0, 8}) {
		t.Fatalf("first node: %#v", a1)
	}
	n2 := joinRaw(t, hs, "alpha", testToken, RoleNode)
	var a2 *Assign
	for a2 == nil || a2.Epoch < 2 {
		a2 = n2.next(5 * time.Second).(*Assign)
	}
	if a2.Stage != 1 || a2.Layers() != (LayerRange{4, 8}) || a2.Prev() != n1.id || a2.Next() != n1.id {
		t.Fatalf("second node: %#v", a2)
	}
	n2.send(&Ready{Epoch: a2.Epoch})
	log.wait(t, EventReady, n2.id, 5*time.Second)
	n2.send(&Status{Epoch: a2.Epoch, State: StateServing, TokensPerS: 12.5, Sessions: 2})
	n2.send(&Heartbeat{Seq: 1}) // its echo proves the status was handled
	for {
		if _, ok := n2.next(5 * time.Second).(*Heartbeat); ok {
			break
		}
	}

	resp, err := http.Get(hs.URL + StatusPath + "?swarm=alpha")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var rep StatusReport
	if err := json.NewDecoder(resp.Body).Decode(&rep); err != nil {
		t.Fatal(err)
	}
	if len(rep.Swarms) != 1 || len(rep.Swarms[0].Peers) != 2 || rep.Swarms[0].Epoch != a2.Epoch || rep.Swarms[0].Plan == nil {
		t.Fatalf("status: %+v", rep)
	}
	p2, _ := rep.Swarms[0].Peer(n2.id)
	if p2.Stage != 1 || !p2.Ready || p2.Status == nil || p2.Status.State != StateServing || p2.Capabilities == nil {
		t.Fatalf("status of n2: %+v", p2)
	}
	if r, err := http.Get(hs.URL + StatusPath + "?swarm=nope"); err != nil || r.StatusCode != http.StatusNotFound {
		t.Fatalf("unknown swarm: %v %v", r.StatusCode, err)
	}

	// Orderly leave reaches the planner as left; direct assignments to a
	// gone peer are reported.
	n1.send(&Leave{Reason: "done"})
	ev := log.wait(t, EventLeft, n1.id, 5*time.Second)
	if ev.Peer.Stage != 0 {
		t.Fatalf("left event lost the peer's stage: %+v", ev.Peer)
	}
	err = srv.Assign("alpha", []Assignment{{Peer: n1.id, Assign: a1}})
	if !errors.Is(err, ErrNoSuchPeer) {
		t.Fatalf("assign to a gone peer: %v", err)
	}
	bad := *a1
	bad.TotalLayers = 9
	if err := srv.Assign("alpha", []Assignment{{Peer: n2.id, Assign: &bad}}); err == nil {
		t.Fatal("invalid assignment accepted")
	}
	bad = *a2
	bad.Stage = 7 // out of range: refused, not a panic
	if err := srv.Assign("alpha", []Assignment{{Peer: n2.id, Assign: &bad}}); err == nil {
		t.Fatal("out-of-range stage accepted")
	}
	bad.Stage = 0 // n1's stage given to n2
	if err := srv.Assign("alpha", []Assignment{{Peer: n2.id, Assign: &bad}}); err == nil {
		t.Fatal("another peer's stage accepted")
	}
}

func TestCloseDisconnectsAndWaits(t *testing.T) {
	srv, hs := testServer(t, nil)
	p := joinRaw(t, hs, "alpha", testToken, RoleNode)
	done := make(chan struct{})
	go func() { srv.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not return")
	}
	p.expectClosed(5 * time.Second)
	if _, err := dialRaw(t, hs, ""); err == nil {
		t.Fatal("closed server accepted a connection")
	}
}

func TestConfigRefusesBadValues(t *testing.T) {
	for name, c := range map[string]Config{
		"no swarms":   {},
		"short token": {Swarms: []SwarmConfig{{Name: "a", Token: "short"}}},
		"bad name":    {Swarms: []SwarmConfig{{Name: "a b", Token: testToken}}},
		"dup":         {Swarms: []SwarmConfig{{Name: "a", Token: testToken}, {Name: "a", Token: testToken}}},
		"bad origin":  {Swarms: []SwarmConfig{{Name: "a", Token: testToken}}, AllowedOrigins: []string{"ftp://x"}},
		"big msgs":    {Swarms: []SwarmConfig{{Name: "a", Token: testToken}}, MaxMessageBytes: 1 << 30},
		"bad hb":      {Swarms: []SwarmConfig{{Name: "a", Token: testToken}}, HeartbeatInterval: time.Second, HeartbeatTimeout: time.Second},
	} {
		if s, err := NewServer(c); err == nil {
			s.Close()
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestSwarmFullAndJoinTimeout(t *testing.T) {
	_, hs := testServer(t, func(c *Config) {
		c.MaxPeersPerSwarm = 2
		c.JoinTimeout = 200 * time.Millisecond
	})
	joinRaw(t, hs, "alpha", testToken, RoleClient)
	joinRaw(t, hs, "alpha", testToken, RoleClient)
	p, err := dialRaw(t, hs, "")
	if err != nil {
		t.Fatal(err)
	}
	p.send(&Join{Swarm: "alpha", Token: testToken, Role: RoleClient})
	expectError(t, p, CodeSwarmFull)
	p.expectClosed(5 * time.Second)
	joinRaw(t, hs, "beta", testToken+"-beta", RoleClient) // other swarms unaffected

	// A connection that never joins is dropped after JoinTimeout.
	idle, err := dialRaw(t, hs, "")
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	idle.expectClosed(5 * time.Second)
	t.Logf("silent connection dropped after %v", time.Since(start).Round(time.Millisecond))
}
