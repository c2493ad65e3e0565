package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/tabshard/tabshard/pipeline"
	"github.com/tabshard/tabshard/swarm"
)

// ClientConfig configures a swarm client.
type ClientConfig struct {
	Signal swarm.ClientConfig // URL, swarm, token (the role is filled in)
	Link   LinkConfig
	Limits pipeline.Limits
	Logger *slog.Logger
}

// Client submits generations to a swarm's pipeline. It follows the plan:
// on every new assignment it links to the new first stage and replays its
// open sessions there, so a re-plan loses nothing.
type Client struct {
	cfg   ClientConfig
	log   *slog.Logger
	sig   *swarm.Client
	links *Links
	pc    *pipeline.Client

	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu    sync.Mutex
	plan  *swarm.Assign
	ready chan struct{} // closed once a pipeline is attached
	epoch uint64        // of the attached pipeline
}

// DialClient joins a swarm as a client.
func DialClient(ctx context.Context, cfg ClientConfig) (*Client, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Limits.MaxMessageBytes == 0 {
		cfg.Limits = pipeline.DefaultLimits()
	}
	sc := cfg.Signal
	sc.Role = swarm.RoleClient
	sc.Capabilities = nil
	sig, err := swarm.Dial(ctx, sc)
	if err != nil {
		return nil, err
	}
	links, err := NewLinks(sig, cfg.Link)
	if err != nil {
		sig.Close()
		return nil, err
	}
	lctx, cancel := context.WithCancel(context.Background())
	c := &Client{cfg: cfg, log: cfg.Logger.With("client", sig.PeerID()), sig: sig, links: links,
		pc: pipeline.NewClient(cfg.Limits), cancel: cancel, ready: make(chan struct{})}
	c.wg.Add(1)
	go func() { defer c.wg.Done(); c.loop(lctx) }()
	return c, nil
}

// Generate starts a generation (see pipeline.Client.Generate). It may be
// called before a pipeline exists: the session starts once one does.
func (c *Client) Generate(ctx context.Context, req pipeline.Request) (<-chan pipeline.Event, error) {
	return c.pc.Generate(ctx, req)
}

// WaitReady blocks until the client is attached to a pipeline.
func (c *Client) WaitReady(ctx context.Context) error {
	c.mu.Lock()
	ready := c.ready
	c.mu.Unlock()
	select {
	case <-ready:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-c.sig.Done():
		return fmt.Errorf("node: client: signaling ended: %w", c.sig.Err())
	}
}

// Epoch is the plan epoch of the attached pipeline (0: none yet).
func (c *Client) Epoch() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.epoch
}

// Close ends every session and leaves the swarm.
func (c *Client) Close() error {
	c.cancel()
	c.pc.Close()
	c.links.Close()
	c.sig.Close()
	c.wg.Wait()
	return nil
}

func (c *Client) loop(ctx context.Context) {
	var attachCancel context.CancelFunc = func() {}
	defer func() { attachCancel() }()
	for {
		select {
		case <-ctx.Done():
			return
		case <-c.sig.Done():
			return
		case b := <-c.sig.Inbox():
			if c.links.Handle(b) {
				continue
			}
			a, ok := b.(*swarm.Assign)
			if !ok || len(a.Pipeline) == 0 {
				continue
			}
			attachCancel()
			actx, acancel := context.WithCancel(ctx)
			attachCancel = acancel
			c.wg.Add(1)
			go func() { defer c.wg.Done(); c.attach(actx, a) }()
		}
	}
}

// attach links to the first stage of plan a and hands the link to the
// pipeline client, which replays open sessions on it.
func (c *Client) attach(ctx context.Context, a *swarm.Assign) {
	digest, err := parseDigest(a.Manifest.SHA256)
	if err != nil {
		c.log.Error("bad plan", "err", err)
		return
	}
	first := a.Pipeline[0].Peer
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		err := c.tryAttach(ctx, a, first, digest)
		if err == nil || ctx.Err() != nil {
			return // attached, or superseded by a newer plan
		}
		c.log.Warn("linking to the first stage failed; retrying", "peer", first, "epoch", a.Epoch, "err", err, "in", backoff)
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

func (c *Client) tryAttach(ctx context.Context, a *swarm.Assign, first string, digest [32]byte) error {
	// One attempt is bounded: a Hello left unanswered is retried on a new link.
	actx, cancel := context.WithTimeout(ctx, stageAttemptTimeout)
	defer cancel()
	l, err := c.links.Dial(actx, first)
	if err != nil {
		return err
	}
	conn := newLinkConn(l, c.cfg.Limits)
	hello := &pipeline.Hello{Version: pipeline.ProtocolVersion, Digest: digest, Role: pipeline.RoleClient,
		NodeID: c.sig.PeerID(), Plan: a.Epoch}
	if _, err := greet(actx, conn, hello); err != nil {
		conn.Close()
		return err
	}
	if ctx.Err() != nil {
		conn.Close()
		return errors.New("superseded by a newer plan")
	}
	c.pc.Attach(conn)
	c.mu.Lock()
	c.epoch = a.Epoch
	select {
	case <-c.ready:
	default:
		close(c.ready)
	}
	c.mu.Unlock()
	c.log.Info("attached", "epoch", a.Epoch, "first stage", first)
	return nil
}
