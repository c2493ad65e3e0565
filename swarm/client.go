package swarm

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
)

// ClientConfig configures a Client.
type ClientConfig struct {
	// URL of the server's WebSocket endpoint: ws://host/api/signal or
	// wss://host/api/signal.
	URL   string
	Swarm string
	Token string
	Role  Role
	// Capabilities are required for RoleNode.
	Capabilities *Capabilities
	// Origin sets the Origin header of native connections (tests, or a
	// native peer standing in for a page). Browsers set their own Origin;
	// setting it under GOOS=js is an error.
	Origin string
	// Reconnect, if set, makes the client reconnect after losing the server;
	// nil means a lost connection ends the client.
	Reconnect *ReconnectPolicy
	// InboxSize is the number of received messages buffered for Inbox
	// (default 256). A full inbox stops reading, which eventually makes the
	// server drop this peer: read the inbox.
	InboxSize int
	// JoinTimeout bounds one connect-and-join attempt (default 10s).
	JoinTimeout time.Duration
	Logger      *slog.Logger
}

// ReconnectPolicy is exponential backoff with jitter between attempts.
type ReconnectPolicy struct {
	MinDelay    time.Duration // first delay (default 250ms)
	MaxDelay    time.Duration // cap (default 10s)
	MaxAttempts int           // consecutive failed attempts before giving up; 0: never give up
}

func (c *ClientConfig) withDefaults() (ClientConfig, error) {
	out := *c
	u, err := url.Parse(out.URL)
	if err != nil {
		return out, fmt.Errorf("swarm: client: url: %w", err)
	}
	if u.Scheme != "ws" && u.Scheme != "wss" {
		return out, fmt.Errorf("swarm: client: url %q: scheme must be ws or wss", out.URL)
	}
	if err := (&Join{Swarm: out.Swarm, Token: out.Token, Role: out.Role, Capabilities: out.Capabilities}).Validate(); err != nil {
		return out, fmt.Errorf("swarm: client: %w", err)
	}
	if out.Origin != "" {
		if _, err := normalizeOriginText(out.Origin); err != nil {
			return out, fmt.Errorf("swarm: client: %w", err)
		}
	}
	if out.InboxSize == 0 {
		out.InboxSize = 256
	}
	if out.InboxSize < 1 || out.InboxSize > 1<<16 {
		return out, fmt.Errorf("swarm: client: inbox size %d out of range [1, 65536]", out.InboxSize)
	}
	if out.JoinTimeout == 0 {
		out.JoinTimeout = 10 * time.Second
	}
	if out.JoinTimeout < 0 {
		return out, errors.New("swarm: client: negative join timeout")
	}
	if r := out.Reconnect; r != nil {
		p := *r
		if p.MinDelay == 0 {
			p.MinDelay = 250 * time.Millisecond
		}
		if p.MaxDelay == 0 {
			p.MaxDelay = 10 * time.Second
		}
		if p.MinDelay < 0 || p.MaxDelay < p.MinDelay || p.MaxAttempts < 0 {
			return out, fmt.Errorf("swarm: client: reconnect policy %+v: want 0 <= min <= max and attempts >= 0", p)
		}
		out.Reconnect = &p
	}
	if out.Logger == nil {
		out.Logger = slog.Default()
	}
	return out, nil
}

// normalizeOriginText checks an origin string without importing net/http
// logic (shared by native and wasm builds).
func normalizeOriginText(s string) (string, error) {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("origin %q: want http(s)://host[:port]", s)
	}
	return u.Scheme + "://" + u.Host, nil
}

// JoinError is the server's refusal of a join.
type JoinError struct {
	Code    ErrorCode
	Message string
}

func (e *JoinError) Error() string {
	return fmt.Sprintf("swarm: join refused: %s: %s", e.Code, e.Message)
}

// ErrClientClosed is returned by Send and Err after Close.
var ErrClientClosed = errors.New("swarm: client closed")

// ErrDisconnected is returned by Send while the client has no connection
// (between losing the server and reconnecting).
var ErrDisconnected = errors.New("swarm: not connected to the signaling server")

// Client is one peer's connection to the signaling server. It owns one
// goroutine (reading, reconnecting) plus, per connection, one that sends
// heartbeats; Close ends both and waits.
//
// Received messages (assignments, relayed offers/answers/candidates, errors,
// and a new Welcome after each reconnect — with a new peer id) arrive on
// Inbox; heartbeat echoes are consumed. Inbox is closed when the client
// ends; Err then says why.
type Client struct {
	cfg   ClientConfig
	inbox chan Body

	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}

	mu      sync.Mutex
	conn    *websocket.Conn // nil while reconnecting
	welcome Welcome
	closing bool
	err     error

	rtt    atomic.Int64 // nanoseconds, last heartbeat round trip
	hbSeq  atomic.Uint64
	hbSent atomic.Int64 // unix nanos when heartbeat hbSeq was sent
}

// Dial connects, joins and waits for the welcome. A refused join is a
// *JoinError. The first attempt is not retried: a wrong URL or token should
// fail loudly, not loop.
func Dial(ctx context.Context, cfg ClientConfig) (*Client, error) {
	c, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	conn, w, err := connect(ctx, &c)
	if err != nil {
		return nil, err
	}
	cl := &Client{cfg: c, inbox: make(chan Body, c.InboxSize), done: make(chan struct{}), welcome: *w}
	cl.ctx, cl.cancel = context.WithCancel(context.Background())
	go cl.run(conn)
	return cl, nil
}

// connect dials the server, sends join and reads the welcome.
func connect(ctx context.Context, cfg *ClientConfig) (*websocket.Conn, *Welcome, error) {
	ctx, cancel := context.WithTimeout(ctx, cfg.JoinTimeout)
	defer cancel()
	opts, err := dialOptions(cfg)
	if err != nil {
		return nil, nil, err
	}
	conn, _, err := websocket.Dial(ctx, cfg.URL, opts)
	if err != nil {
		return nil, nil, fmt.Errorf("swarm: dial %s: %w", cfg.URL, err)
	}
	conn.SetReadLimit(MaxMessageBytes)
	join, err := Encode(&Join{Swarm: cfg.Swarm, Token: cfg.Token, Role: cfg.Role, Capabilities: cfg.Capabilities})
	if err != nil {
		conn.CloseNow()
		return nil, nil, err
	}
	// The context given to Write and Read closes the connection when it
	// ends, so these use a detached timeout rather than ctx's cancel (which
	// runs on return).
	if err := writeWithTimeout(conn, join, cfg.JoinTimeout); err != nil {
		conn.CloseNow()
		return nil, nil, fmt.Errorf("swarm: sending join: %w", err)
	}
	rctx, rcancel := context.WithTimeout(context.Background(), cfg.JoinTimeout)
	stop := context.AfterFunc(ctx, rcancel)
	_, data, err := conn.Read(rctx)
	stop()
	if err != nil {
		rcancel()
		conn.CloseNow()
		return nil, nil, fmt.Errorf("swarm: waiting for welcome: %w", err)
	}
	defer rcancel()
	b, err := Decode(data)
	if err != nil {
		conn.CloseNow()
		return nil, nil, fmt.Errorf("swarm: answer to join: %w", err)
	}
	switch m := b.(type) {
	case *Welcome:
		if m.Swarm != cfg.Swarm {
			conn.CloseNow()
			return nil, nil, fmt.Errorf("swarm: welcomed to swarm %q, asked for %q", m.Swarm, cfg.Swarm)
		}
		return conn, m, nil
	case *Error:
		conn.CloseNow()
		return nil, nil, &JoinError{Code: m.Code, Message: m.Message}
	default:
		conn.CloseNow()
		return nil, nil, fmt.Errorf("swarm: answer to join is %s, want welcome", b.MessageType())
	}
}

func writeWithTimeout(conn *websocket.Conn, msg []byte, d time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	return conn.Write(ctx, websocket.MessageText, msg)
}

// Welcome returns the current connection's welcome (peer id and server
// limits).
func (c *Client) Welcome() Welcome {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.welcome
}

// PeerID returns the id the server bound to the current connection; it
// changes after a reconnect.
func (c *Client) PeerID() string { return c.Welcome().Peer }

// Inbox delivers received messages; see Client.
func (c *Client) Inbox() <-chan Body { return c.inbox }

// Done is closed when the client has ended.
func (c *Client) Done() <-chan struct{} { return c.done }

// Err says why the client ended (nil while it runs).
func (c *Client) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// RTT is the last measured heartbeat round trip to the server (0 before the
// first echo).
func (c *Client) RTT() time.Duration { return time.Duration(c.rtt.Load()) }

// Send encodes and sends one message. Relayed messages need To (and Link);
// From is filled in by the server. Cancelling ctx while the write is under
// way breaks the connection (the WebSocket library cannot abandon half a
// message); the client then reconnects if its policy allows.
func (c *Client) Send(ctx context.Context, b Body) error {
	msg, err := Encode(b)
	if err != nil {
		return err
	}
	c.mu.Lock()
	conn, closing, limit := c.conn, c.closing, c.welcome.MaxMessageBytes
	c.mu.Unlock()
	if closing || c.ctx.Err() != nil {
		return ErrClientClosed
	}
	if conn == nil {
		return ErrDisconnected
	}
	if int64(len(msg)) > limit {
		// The server would close the connection for it.
		return fmt.Errorf("swarm: send %s: %d bytes exceeds the server's %d-byte limit", b.MessageType(), len(msg), limit)
	}
	// Bound the write by ctx without letting ctx's cancellation after a
	// finished write close the connection.
	wctx, cancel := context.WithTimeout(c.ctx, 10*time.Second)
	defer cancel()
	stop := context.AfterFunc(ctx, cancel)
	defer stop()
	if err := conn.Write(wctx, websocket.MessageText, msg); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("swarm: send %s: %w", b.MessageType(), err)
	}
	return nil
}

// Close says leave, closes the connection and waits for the client's
// goroutines.
func (c *Client) Close() error {
	c.mu.Lock()
	already := c.closing
	c.closing = true
	conn := c.conn
	c.mu.Unlock()
	if !already && conn != nil {
		if msg, err := Encode(&Leave{Reason: "client closed"}); err == nil {
			if writeWithTimeout(conn, msg, time.Second) == nil {
				// The server closes the connection after a leave; waiting
				// for that lets the leave arrive before our socket closes.
				select {
				case <-c.done:
				case <-time.After(time.Second):
				}
			}
		}
	}
	c.cancel()
	<-c.done
	return nil
}

func (c *Client) setErr(err error) {
	c.mu.Lock()
	if c.err == nil {
		c.err = err
	}
	c.mu.Unlock()
}

func (c *Client) isClosing() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closing
}

// run serves connections until the client closes or gives up.
func (c *Client) run(conn *websocket.Conn) {
	defer close(c.done)
	defer close(c.inbox)
	defer c.cancel()
	for {
		err := c.serve(conn)
		if c.isClosing() || c.ctx.Err() != nil {
			c.setErr(ErrClientClosed)
			return
		}
		if c.cfg.Reconnect == nil {
			c.setErr(fmt.Errorf("swarm: lost the signaling server: %w", err))
			return
		}
		c.cfg.Logger.Warn("swarm: lost the signaling server; reconnecting", "err", err)
		var w *Welcome
		conn, w, err = c.reconnect()
		if err != nil {
			c.setErr(err)
			return
		}
		c.mu.Lock()
		c.welcome = *w
		c.mu.Unlock()
		// Tell the owner: the peer id changed and old links are void.
		select {
		case c.inbox <- w:
		case <-c.ctx.Done():
			conn.CloseNow()
			c.setErr(ErrClientClosed)
			return
		}
	}
}

// reconnect retries connect with backoff. A refused join is final.
func (c *Client) reconnect() (*websocket.Conn, *Welcome, error) {
	p := c.cfg.Reconnect
	delay := p.MinDelay
	for attempt := 1; p.MaxAttempts == 0 || attempt <= p.MaxAttempts; attempt++ {
		jitter := time.Duration(float64(delay) * (0.8 + 0.4*rand.Float64()))
		select {
		case <-time.After(jitter):
		case <-c.ctx.Done():
			return nil, nil, ErrClientClosed
		}
		conn, w, err := connect(c.ctx, &c.cfg)
		if err == nil {
			return conn, w, nil
		}
		var je *JoinError
		if errors.As(err, &je) && je.Code == CodeJoinRefused {
			return nil, nil, err
		}
		if c.ctx.Err() != nil {
			return nil, nil, ErrClientClosed
		}
		c.cfg.Logger.Warn("swarm: reconnect failed", "attempt", attempt, "err", err)
		delay *= 2
		if delay > p.MaxDelay {
			delay = p.MaxDelay
		}
	}
	return nil, nil, fmt.Errorf("swarm: gave up reconnecting after %d attempts", p.MaxAttempts)
}

// serve reads one connection until it fails or the client closes, with a
// heartbeat goroutine it owns.
func (c *Client) serve(conn *websocket.Conn) error {
	c.mu.Lock()
	c.conn = conn
	w := c.welcome
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		c.conn = nil
		c.mu.Unlock()
		conn.CloseNow()
	}()
	interval := time.Duration(w.HeartbeatMillis) * time.Millisecond
	timeout := time.Duration(w.HeartbeatTimeoutMillis) * time.Millisecond

	hbCtx, stopHB := context.WithCancel(c.ctx)
	var hbDone sync.WaitGroup
	hbDone.Add(1)
	go func() {
		defer hbDone.Done()
		c.heartbeats(hbCtx, conn, interval)
	}()
	defer func() {
		stopHB()
		hbDone.Wait()
	}()

	for {
		// The server echoes our heartbeats, so silence longer than its own
		// timeout means it (or the path to it) is gone.
		rctx, cancel := context.WithTimeout(c.ctx, timeout)
		_, data, err := conn.Read(rctx)
		cancel()
		if err != nil {
			return err
		}
		b, err := Decode(data)
		if err != nil {
			return fmt.Errorf("server sent an invalid message: %w", err)
		}
		switch m := b.(type) {
		case *Heartbeat:
			if m.Seq == c.hbSeq.Load() {
				c.rtt.Store(time.Now().UnixNano() - c.hbSent.Load())
			}
			continue
		case *Join, *Ready, *Status, *Leave:
			return fmt.Errorf("server sent %s, which only peers send", b.MessageType())
		}
		select {
		case c.inbox <- b:
		case <-c.ctx.Done():
			return ErrClientClosed
		}
	}
}

// heartbeats sends a heartbeat every interval until ctx ends or a write
// fails (the read loop then notices the dead connection).
func (c *Client) heartbeats(ctx context.Context, conn *websocket.Conn, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		seq := c.hbSeq.Add(1)
		c.hbSent.Store(time.Now().UnixNano())
		msg, err := Encode(&Heartbeat{Seq: seq})
		if err != nil {
			return
		}
		if err := writeWithTimeout(conn, msg, interval); err != nil {
			return
		}
	}
}
