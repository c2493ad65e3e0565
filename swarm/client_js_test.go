//go:build js && wasm

package swarm

import (
	"context"
	"os"
	"testing"
	"time"
)

// TestClientInJS runs the client compiled to wasm against a real server
// named by TABSHARD_SIGNAL_URL (swarm "alpha", token in
// TABSHARD_SIGNAL_TOKEN), e.g. under Node with --experimental-websocket:
//
//	go run ./cmd/signal -listen 127.0.0.1:18088 -swarm alpha=<token> &
//	TABSHARD_SIGNAL_URL=ws://127.0.0.1:18088/api/signal TABSHARD_SIGNAL_TOKEN=<token> \
//	NODE_OPTIONS=--experimental-websocket GOOS=js GOARCH=wasm \
//	go test ./swarm/ -run TestClientInJS -exec "$(go env GOROOT)/lib/wasm/go_js_wasm_exec"
func TestClientInJS(t *testing.T) {
	url, token := os.Getenv("TABSHARD_SIGNAL_URL"), os.Getenv("TABSHARD_SIGNAL_TOKEN")
	if url == "" || token == "" {
		t.Skip("TABSHARD_SIGNAL_URL and TABSHARD_SIGNAL_TOKEN not set")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	dial := func(role Role) *Client {
		cfg := ClientConfig{URL: url, Swarm: "alpha", Token: token, Role: role}
		if role == RoleNode {
			cfg.Capabilities = &Capabilities{Backend: "cpu", CPUCores: 1}
		}
		c, err := Dial(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	a, b := dial(RoleNode), dial(RoleClient)
	defer a.Close()
	defer b.Close()
	if err := a.Send(ctx, &Offer{Route: Route{To: b.PeerID(), Link: "l-js"}, SDP: "v=0\r\n"}); err != nil {
		t.Fatal(err)
	}
	select {
	case m := <-b.Inbox():
		if o, ok := m.(*Offer); !ok || o.From != a.PeerID() {
			t.Fatalf("b got %#v", m)
		}
	case <-ctx.Done():
		t.Fatal("offer not relayed")
	}
	t.Logf("wasm clients %s and %s relayed an offer", a.PeerID(), b.PeerID())
}
