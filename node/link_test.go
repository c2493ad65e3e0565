//go:build !js

package node

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tabshard/tabshard/swarm"
)

const linkTestToken = "link-test-token-0123456789"

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// testPeer is a native peer: a signaling client, its link manager and the
// goroutine that feeds the client's inbox to the manager.
type testPeer struct {
	client *swarm.Client
	links  *Links
	pumped chan struct{}
}

func (p *testPeer) id() string { return p.client.PeerID() }

func startSignal(t *testing.T) string {
	t.Helper()
	url, _, _ := startSignalServer(t)
	return url
}

// startSignalServer is startSignal for tests that stop the server
// themselves (closing twice is harmless).
func startSignalServer(t *testing.T) (string, *swarm.Server, *httptest.Server) {
	t.Helper()
	srv, err := swarm.NewServer(swarm.Config{
		Swarms: []swarm.SwarmConfig{{Name: "links", Token: linkTestToken}},
		Logger: quiet,
	})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	srv.Register(mux)
	hs := httptest.NewServer(mux)
	t.Cleanup(func() { srv.Close(); hs.Close() })
	return "ws" + strings.TrimPrefix(hs.URL, "http") + swarm.SignalPath, srv, hs
}

func startPeer(t *testing.T, url string) *testPeer {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := swarm.Dial(ctx, swarm.ClientConfig{
		URL: url, Swarm: "links", Token: linkTestToken, Role: swarm.RoleNode, Logger: quiet,
		Capabilities: &swarm.Capabilities{Backend: "cpu", CPUCores: 2},
	})
	if err != nil {
		t.Fatal(err)
	}
	links, err := NewLinks(c, LinkConfig{
		IPFilter: func(ip net.IP) bool { return ip.IsLoopback() },
		Logger:   quiet,
	})
	if err != nil {
		t.Fatal(err)
	}
	p := &testPeer{client: c, links: links, pumped: make(chan struct{})}
	go func() { // ends when the client's inbox closes
		defer close(p.pumped)
		for b := range c.Inbox() {
			links.Handle(b)
		}
	}()
	t.Cleanup(func() {
		links.Close()
		c.Close()
		<-p.pumped
	})
	return p
}

// connect opens a link from a to b and returns both ends.
func connect(t *testing.T, a, b *testPeer) (*Link, *Link) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	type res struct {
		l   *Link
		err error
	}
	acc := make(chan res, 1)
	go func() {
		l, err := b.links.Accept(ctx)
		acc <- res{l, err}
	}()
	la, err := a.links.Dial(ctx, b.id())
	if err != nil {
		t.Fatal(err)
	}
	r := <-acc
	if r.err != nil {
		t.Fatal(r.err)
	}
	if r.l.Remote() != a.id() || la.Remote() != b.id() || r.l.ID() != la.ID() {
		t.Fatalf("ends disagree: %s→%s (%s), %s→%s (%s)", a.id(), la.Remote(), la.ID(), b.id(), r.l.Remote(), r.l.ID())
	}
	t.Logf("link %s open: setup %v (dialer), %v (acceptor)", la.ID(), la.SetupTime().Round(time.Millisecond), r.l.SetupTime().Round(time.Millisecond))
	return la, r.l
}

// payloads returns a 1 MiB message, then messages of awkward sizes around
// frame boundaries, each starting with its index.
func payloads(t *testing.T) [][]byte {
	sizes := []int{1 << 20, 1, 8, 16372, 16373, 16384, 32744, 32745, 100000, 4096}
	out := make([][]byte, len(sizes))
	for i, n := range sizes {
		b := make([]byte, max(n, 8))
		if _, err := rand.Read(b); err != nil {
			t.Fatal(err)
		}
		binary.LittleEndian.PutUint32(b, uint32(i))
		out[i] = b[:max(n, 8)]
	}
	return out
}

func TestLinkExchangeLatencyAndClose(t *testing.T) {
	url := startSignal(t)
	a, b := startPeer(t, url), startPeer(t, url)
	la, lb := connect(t, a, b)

	// Both directions at once, every message checked byte for byte and in
	// order.
	msgsA, msgsB := payloads(t), payloads(t)
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	exchange := func(send *Link, out [][]byte, recv *Link, want [][]byte) {
		defer wg.Done()
		for _, m := range out {
			if err := send.Send(m); err != nil {
				errs <- err
				return
			}
		}
		for i, w := range want {
			got, err := recv.Recv()
			if err != nil {
				errs <- err
				return
			}
			if !bytes.Equal(got, w) {
				errs <- errors.New("message " + string(rune('0'+i)) + " differs")
				return
			}
		}
	}
	start := time.Now()
	wg.Add(2)
	go exchange(la, msgsA, lb, msgsA)
	go exchange(lb, msgsB, la, msgsB)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	total := 0
	for _, m := range msgsA {
		total += len(m)
	}
	el := time.Since(start)
	t.Logf("exchanged %d bytes each way (%d messages) in %v: %.1f MiB/s per direction",
		total, len(msgsA), el.Round(time.Millisecond), float64(total)/(1<<20)/el.Seconds())

	// Round trips: a sends, b echoes.
	echoDone := make(chan struct{})
	go func() {
		defer close(echoDone)
		for {
			m, err := lb.Recv()
			if err != nil || lb.Send(m) != nil {
				return
			}
		}
	}()
	for _, size := range []int{64, 16 << 10} {
		n := 200
		if size > 1024 {
			n = 100
		}
		msg := make([]byte, size)
		rts := make([]time.Duration, n)
		for i := range rts {
			t0 := time.Now()
			if err := la.Send(msg); err != nil {
				t.Fatal(err)
			}
			got, err := la.Recv()
			if err != nil {
				t.Fatal(err)
			}
			rts[i] = time.Since(t0)
			if len(got) != size {
				t.Fatalf("echo of %d bytes came back as %d", size, len(got))
			}
		}
		sort.Slice(rts, func(i, j int) bool { return rts[i] < rts[j] })
		t.Logf("round trip, %5d-byte messages over %d trips: p50 %v, p99 %v, min %v",
			size, n, rts[n/2].Round(time.Microsecond), rts[n*99/100].Round(time.Microsecond), rts[0].Round(time.Microsecond))
	}

	// Closing one side: the other notices through its data channel.
	t0 := time.Now()
	la.Close()
	select {
	case <-lb.Done():
		t.Logf("peer noticed the close after %v: %v", time.Since(t0).Round(time.Microsecond), lb.Err())
	case <-time.After(10 * time.Second):
		t.Fatal("close not noticed within 10s")
	}
	<-echoDone
	if !errors.Is(lb.Err(), ErrPeerClosedLink) {
		t.Fatalf("acceptor ended with %v", lb.Err())
	}
	if err := la.Send([]byte{1}); !errors.Is(err, ErrLinkClosed) {
		t.Fatalf("send after close: %v", err)
	}
	if _, err := lb.Recv(); !errors.Is(err, ErrPeerClosedLink) {
		t.Fatalf("recv after peer close: %v", err)
	}
}

func TestLinkRefusesOversizedAndUnknownPeers(t *testing.T) {
	url := startSignal(t)
	a := startPeer(t, url)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// A peer that is not in the swarm: the server refuses the relay, so the
	// link never opens; it ends by timeout or the caller's context.
	dctx, dcancel := context.WithTimeout(ctx, 500*time.Millisecond)
	defer dcancel()
	if _, err := a.links.Dial(dctx, "p-doesnotexist"); err == nil {
		t.Fatal("link to a missing peer opened")
	}
	if _, err := a.links.Dial(ctx, "not an id"); err == nil {
		t.Fatal("dialed a malformed id")
	}

	b := startPeer(t, url)
	la, _ := connect(t, a, b)
	if err := la.Send(make([]byte, la.cfg.MaxMessageBytes+1)); err == nil {
		t.Fatal("oversized message queued")
	}
	if err := la.Send(nil); err == nil {
		t.Fatal("empty message queued")
	}
}

// TestLinkDropsPeerBreakingFraming: a frame that breaks the framing rules
// (here: a bare 3-byte frame, then a text frame on a fresh link) ends the
// receiving link with an error naming the cause; forged signals for the
// link from another peer are not routed to it.
func TestLinkDropsPeerBreakingFraming(t *testing.T) {
	url := startSignal(t)
	a, b := startPeer(t, url), startPeer(t, url)

	la, lb := connect(t, a, b)
	forged := &swarm.Candidate{Route: swarm.Route{From: "p-intruder", Link: la.ID()}, Candidate: "candidate:1 1 udp 1 127.0.0.1 9 typ host"}
	if !a.links.Handle(forged) || len(la.signals) != 0 {
		t.Fatal("forged candidate was routed to the link")
	}
	if err := la.dc.Send([]byte{1, 2, 3}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-lb.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("bad frame not detected")
	}
	if err := lb.Err(); err == nil || !strings.Contains(err.Error(), "bad frame") {
		t.Fatalf("receiver ended with %v", err)
	}
	t.Logf("bad frame: %v", lb.Err())
	select { // the sender sees the link close
	case <-la.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("sender not told")
	}

	la, lb = connect(t, a, b)
	if err := la.dc.SendText("hello"); err != nil {
		t.Fatal(err)
	}
	select {
	case <-lb.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("text frame not detected")
	}
	if err := lb.Err(); err == nil || !strings.Contains(err.Error(), "text frame") {
		t.Fatalf("receiver ended with %v", err)
	}
}

// TestLinkDetectsKilledPeer kills the process at the other end of a link (no
// goodbye of any kind) and reports how long the survivor takes to notice:
// the ICE consent checks stop and the connection fails after ICEFailed.
func TestLinkDetectsKilledPeer(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns a process and waits for ICE timeouts")
	}
	url := startSignal(t)
	a := startPeer(t, url)
	cmd := exec.Command(os.Args[0], "-test.run=^TestLinkHelperProcess$")
	cmd.Env = append(os.Environ(), "TABSHARD_LINK_HELPER_URL="+url)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	defer cmd.Process.Kill()
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	remote := strings.TrimSpace(strings.TrimPrefix(line, "peer "))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	la, err := a.links.Dial(ctx, remote)
	if err != nil {
		t.Fatal(err)
	}
	if err := la.Send([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	if m, err := la.RecvContext(ctx); err != nil || string(m) != "ping" {
		t.Fatalf("echo: %q %v", m, err)
	}
	t0 := time.Now()
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-la.Done():
		t.Logf("killed peer noticed after %v: %v", time.Since(t0).Round(time.Millisecond), la.Err())
	case <-time.After(30 * time.Second):
		t.Fatal("killed peer not noticed within 30s")
	}
}

// TestLinkHelperProcess is the peer TestLinkDetectsKilledPeer kills: it
// joins, prints its id, and echoes on every link until killed.
func TestLinkHelperProcess(t *testing.T) {
	url := os.Getenv("TABSHARD_LINK_HELPER_URL")
	if url == "" {
		t.Skip("helper process for TestLinkDetectsKilledPeer")
	}
	p := startPeer(t, url)
	fmt.Printf("peer %s\n", p.id())
	for {
		l, err := p.links.Accept(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		go func() {
			for {
				m, err := l.Recv()
				if err != nil || l.Send(m) != nil {
					return
				}
			}
		}()
	}
}
