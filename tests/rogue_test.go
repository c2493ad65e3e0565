package tests

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tabshard/tabshard/internal/testdata"
	"github.com/tabshard/tabshard/node"
	"github.com/tabshard/tabshard/pipeline"
	"github.com/tabshard/tabshard/swarm"
)

// rogue is a swarm client that speaks the pipeline protocol by hand, so it
// can break it.
type rogue struct {
	sig   *swarm.Client
	links *node.Links
}

func newRogue(ctx context.Context, t *testing.T, c *cluster) *rogue {
	sig, err := swarm.Dial(ctx, swarm.ClientConfig{URL: c.signalURL(), Swarm: swarmName, Token: swarmToken, Role: swarm.RoleClient})
	if err != nil {
		t.Fatal(err)
	}
	links, err := node.NewLinks(sig, node.LinkConfig{})
	if err != nil {
		t.Fatal(err)
	}
	r := &rogue{sig: sig, links: links}
	go func() {
		for b := range sig.Inbox() {
			links.Handle(b)
		}
	}()
	t.Cleanup(func() { links.Close(); sig.Close() })
	return r
}

// link dials stage 0 and completes a valid handshake.
func (r *rogue) link(ctx context.Context, t *testing.T, c *cluster) *node.Link {
	stages := c.planner.Stages()
	l, err := r.links.Dial(ctx, stages[0])
	if err != nil {
		t.Fatal(err)
	}
	var d [32]byte
	if b, err := hex.DecodeString(c.planner.Manifest.SHA256); err != nil || copy(d[:], b) != 32 {
		t.Fatalf("bad manifest digest %q", c.planner.Manifest.SHA256)
	}
	hello, _ := pipeline.Encode(&pipeline.Hello{Version: pipeline.ProtocolVersion, Digest: d, Role: pipeline.RoleClient,
		NodeID: r.sig.PeerID(), Plan: c.planner.Epoch()}, pipeline.DefaultLimits())
	if err := l.Send(hello); err != nil {
		t.Fatal(err)
	}
	if _, err := l.RecvContext(ctx); err != nil {
		t.Fatalf("no Hello back: %v", err)
	}
	return l
}

// TestSwarmDropsBadPeers: while honest sessions run, rogue clients send stage
// 0 a malformed message, an oversized one, rows out of order, and NaN
// sampling parameters. Each rogue is cut off and reported; every honest
// session still finishes exactly as it would alone.
func TestSwarmDropsBadPeers(t *testing.T) {
	path := testdata.Path(t, "austen-22m/gguf/austen-22m-Q4_K_M.gguf")
	cases := referenceCases(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	c := startCluster(t, path, 3)
	cl := c.client(ctx)

	lim := pipeline.DefaultLimits()
	nanOpen, _ := pipeline.Encode(&pipeline.Open{Session: 7, History: []uint32{1, 2}, Sampling: pipeline.Sampling{TopP: 1, RepeatPenalty: 1}}, lim)
	// Sampling.Temperature is the first f32 after session, epoch and kind.
	binary.LittleEndian.PutUint32(nanOpen[1+8+4:], math.Float32bits(float32(math.NaN())))
	outOfOrder, err := pipeline.Encode(&pipeline.Close{Session: 1, Reason: pipeline.CloseDone}, lim)
	if err != nil {
		t.Fatal(err)
	}
	outOfOrder[len(outOfOrder)-1] = 99 // unknown close reason
	bad := map[string][]byte{
		"garbage": []byte{0xff, 0x00, 0x13, 0x37},
		// 64 KiB: several frames, reassembled, then refused by Decode.
		"oversized":      append([]byte{byte(pipeline.KindError)}, make([]byte, 64<<10)...),
		"truncated-open": nanOpen[:20],
		"nan-sampling":   nanOpen,
		"bad-close":      outOfOrder,
	}
	want := map[string][]int32{}
	for _, rc := range cases {
		want[rc.Name] = engineGreedy(t, path, rc.Input, 48)
	}
	var wg sync.WaitGroup
	got := make([][]int32, len(cases))
	for i, rc := range cases {
		wg.Add(1)
		go func() { defer wg.Done(); got[i] = generate(ctx, t, cl, rc.Input, 48) }()
	}
	for name, msg := range bad {
		r := newRogue(ctx, t, c)
		l := r.link(ctx, t, c)
		if err := l.Send(msg); err != nil {
			t.Logf("%s: refused at send: %v", name, err)
			continue
		}
		select {
		case <-l.Done():
			t.Logf("%s: stage 0 dropped the rogue (%v)", name, l.Err())
		case <-time.After(20 * time.Second):
			t.Errorf("%s: stage 0 kept a peer that sent a bad message", name)
		}
	}
	wg.Wait()
	for i, rc := range cases {
		if fmt.Sprint(got[i]) != fmt.Sprint(want[rc.Name]) {
			t.Errorf("%s: honest session harmed:\n got  %v\n want %v", rc.Name, got[i], want[rc.Name])
		}
	}
	c.mu.Lock()
	reported := strings.Count(c.logs[0].String()+c.logs[1].String()+c.logs[2].String(), "dropped peer")
	c.mu.Unlock()
	if reported == 0 {
		t.Errorf("no stage reported a dropped peer")
	}
	t.Logf("%d drops reported in the stage logs", reported)
}
