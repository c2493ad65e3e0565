//go:build !js

package node

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/tabshard/tabshard/pipeline"
	"github.com/tabshard/tabshard/swarm"
)

// When signaling ends (the client gives up and closes its inbox), the inbox
// loop cancels the assignment being set up, which may be dialling a stage
// through signaling, and returns, instead of spinning on the closed inbox;
// and an assignment that starts after that does not dial for minutes.
func TestNodeStopsWithSignaling(t *testing.T) {
	url, srv, hs := startSignalServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := swarm.Dial(ctx, swarm.ClientConfig{
		URL: url, Swarm: "links", Token: linkTestToken,
		Role: swarm.RoleNode, Logger: quiet, Capabilities: &swarm.Capabilities{Backend: "cpu", CPUCores: 2},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	links, err := NewLinks(c, LinkConfig{IPFilter: func(ip net.IP) bool { return ip.IsLoopback() }, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer links.Close()
	setup, cancelSetup := context.WithCancel(context.Background())
	defer cancelSetup()
	n := &Node{log: quiet, sig: c, links: links, assignCancel: cancelSetup}
	done := make(chan struct{})
	go func() {
		defer close(done)
		n.inboxLoop(context.Background(), make(chan *swarm.Assign))
	}()
	srv.Close()
	hs.CloseClientConnections()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the inbox loop still runs 10s after signaling ended")
	}
	if setup.Err() == nil {
		t.Error("the assignment being set up was not cancelled")
	}
	select {
	case <-c.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the signaling client did not end")
	}
	start := time.Now()
	_, err = n.dialStage(context.Background(), "p-0123456789abcdef", &pipeline.Hello{})
	if err == nil || !strings.Contains(err.Error(), "signaling ended") || time.Since(start) > 5*time.Second {
		t.Fatalf("dialling after signaling ended: %v after %v", err, time.Since(start))
	}
}
