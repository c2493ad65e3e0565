//go:build !js

// The server runs natively only; tabs use the client.

package swarm

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/coder/websocket"
)

// Paths the server registers on a mux (Register).
const (
	SignalPath = "/api/signal" // WebSocket endpoint
	StatusPath = "/api/swarm"  // JSON swarm status
)

// SwarmConfig is one room: a name and the token that admits peers to it.
type SwarmConfig struct {
	Name  string
	Token string
}

// Config configures a Server. Zero durations and limits take the defaults
// noted beside them.
type Config struct {
	Swarms []SwarmConfig
	// AllowedOrigins are the browser origins ("https://host[:port]") admitted
	// besides the server's own; see originPolicy.check.
	AllowedOrigins []string
	// MaxMessageBytes bounds one incoming message; a larger one closes the
	// connection. Default and maximum: MaxMessageBytes.
	MaxMessageBytes int64
	// Rate bounds incoming messages per connection; exceeding it closes the
	// connection. Default 50/s, burst 200.
	Rate RateLimit
	// HeartbeatInterval is how often peers are told to send heartbeats
	// (default 5s); a peer silent for HeartbeatTimeout (default 3 intervals)
	// is declared lost.
	HeartbeatInterval time.Duration
	HeartbeatTimeout  time.Duration
	// JoinTimeout bounds the wait for the first message (default 10s).
	JoinTimeout time.Duration
	// MaxPeersPerSwarm (default 256).
	MaxPeersPerSwarm int
	// SendQueue is the outgoing messages buffered per peer (default 256); a
	// peer that falls further behind is disconnected rather than allowed to
	// hold memory.
	SendQueue int
	// Planner, if set, receives membership changes and returns assignments.
	Planner Planner
	// Logger (default slog.Default()).
	Logger *slog.Logger
}

func (c *Config) withDefaults() (Config, error) {
	out := *c
	if len(out.Swarms) == 0 {
		return out, errors.New("swarm: config: no swarms")
	}
	seen := map[string]bool{}
	for _, s := range out.Swarms {
		if !ValidID(s.Name) {
			return out, fmt.Errorf("swarm: config: swarm name %q: want 1..%d characters of [A-Za-z0-9._-]", s.Name, MaxIDLen)
		}
		if seen[s.Name] {
			return out, fmt.Errorf("swarm: config: swarm %q named twice", s.Name)
		}
		seen[s.Name] = true
		if err := (&Join{Swarm: s.Name, Token: s.Token, Role: RoleClient}).Validate(); err != nil {
			return out, fmt.Errorf("swarm: config: swarm %q: %w", s.Name, err)
		}
		if len(s.Token) < 16 {
			return out, fmt.Errorf("swarm: config: swarm %q: token shorter than 16 characters", s.Name)
		}
	}
	if out.MaxMessageBytes == 0 {
		out.MaxMessageBytes = MaxMessageBytes
	}
	if out.MaxMessageBytes < 1024 || out.MaxMessageBytes > MaxMessageBytes {
		return out, fmt.Errorf("swarm: config: max message bytes %d out of range [1024, %d]", out.MaxMessageBytes, MaxMessageBytes)
	}
	if out.Rate == (RateLimit{}) {
		out.Rate = RateLimit{PerSecond: 50, Burst: 200}
	}
	if err := out.Rate.validate(); err != nil {
		return out, fmt.Errorf("swarm: config: %w", err)
	}
	if out.HeartbeatInterval == 0 {
		out.HeartbeatInterval = 5 * time.Second
	}
	if out.HeartbeatTimeout == 0 {
		out.HeartbeatTimeout = 3 * out.HeartbeatInterval
	}
	if out.HeartbeatInterval < 10*time.Millisecond || out.HeartbeatInterval > 10*time.Minute {
		return out, fmt.Errorf("swarm: config: heartbeat interval %v out of range [10ms, 10m]", out.HeartbeatInterval)
	}
	if out.HeartbeatTimeout <= out.HeartbeatInterval || out.HeartbeatTimeout > time.Hour {
		return out, fmt.Errorf("swarm: config: heartbeat timeout %v must exceed the interval %v and be at most 1h", out.HeartbeatTimeout, out.HeartbeatInterval)
	}
	if out.JoinTimeout == 0 {
		out.JoinTimeout = 10 * time.Second
	}
	if out.JoinTimeout < 0 {
		return out, errors.New("swarm: config: negative join timeout")
	}
	if out.MaxPeersPerSwarm == 0 {
		out.MaxPeersPerSwarm = 256
	}
	if out.MaxPeersPerSwarm < 1 || out.MaxPeersPerSwarm > 1<<16 {
		return out, fmt.Errorf("swarm: config: max peers per swarm %d out of range [1, 65536]", out.MaxPeersPerSwarm)
	}
	if out.SendQueue == 0 {
		out.SendQueue = 256
	}
	if out.SendQueue < 1 || out.SendQueue > 1<<16 {
		return out, fmt.Errorf("swarm: config: send queue %d out of range [1, 65536]", out.SendQueue)
	}
	if out.Logger == nil {
		out.Logger = slog.Default()
	}
	return out, nil
}

// Server is the signaling server: an http.Handler for the WebSocket endpoint
// plus a JSON status handler. It owns one goroutine per connection (the
// handler's own plus a writer), and one planner goroutine; Close ends them
// all and waits.
type Server struct {
	cfg     Config
	origins *originPolicy

	ctx    context.Context // cancelled by Close
	cancel context.CancelFunc
	wg     sync.WaitGroup // connection handlers and the planner loop

	mu     sync.Mutex
	closed bool
	swarms map[string]*room

	events *eventQueue
}

// NewServer validates cfg and starts the server's planner loop.
func NewServer(cfg Config) (*Server, error) {
	c, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	origins, err := newOriginPolicy(c.AllowedOrigins)
	if err != nil {
		return nil, fmt.Errorf("swarm: config: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{
		cfg:     c,
		origins: origins,
		ctx:     ctx,
		cancel:  cancel,
		swarms:  make(map[string]*room, len(c.Swarms)),
		events:  newEventQueue(),
	}
	for _, sw := range c.Swarms {
		s.swarms[sw.Name] = newRoom(sw)
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.planLoop()
	}()
	return s, nil
}

// Register mounts the WebSocket endpoint and the status endpoint on mux.
func (s *Server) Register(mux *http.ServeMux) {
	mux.Handle(SignalPath, s)
	mux.Handle("GET "+StatusPath, s.StatusHandler())
}

// Close disconnects every peer, stops the planner and waits for every
// goroutine the server started. It is safe to call more than once.
func (s *Server) Close() error {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.cancel()
	s.wg.Wait()
	return nil
}

// ServeHTTP accepts a WebSocket connection and runs it until the peer
// leaves, is lost or misbehaves, or the server closes.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if err := s.origins.check(r); err != nil {
		s.cfg.Logger.Warn("swarm: refused WebSocket", "remote", r.RemoteAddr, "err", err)
		http.Error(w, err.Error(), http.StatusForbidden)
		return
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		http.Error(w, "server is shutting down", http.StatusServiceUnavailable)
		return
	}
	s.wg.Add(1)
	s.mu.Unlock()
	defer s.wg.Done()

	// The Origin was checked above against our own policy, which compares
	// whole origins (scheme, host, port) rather than host patterns.
	conn, err := websocket.Accept(w, r, &websocket.AcceptOptions{InsecureSkipVerify: true})
	if err != nil {
		s.cfg.Logger.Warn("swarm: WebSocket upgrade failed", "remote", r.RemoteAddr, "err", err)
		return
	}
	conn.SetReadLimit(s.cfg.MaxMessageBytes)
	s.serveConn(conn, r.RemoteAddr)
}

// newPeerID returns a fresh random id; ids are never chosen by peers.
func newPeerID() (string, error) {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return "p-" + hex.EncodeToString(b[:]), nil
}

// tokenOK compares in constant time so the token cannot be guessed byte by
// byte from response times.
func tokenOK(want []byte, got string) bool {
	return subtle.ConstantTimeCompare(want, []byte(got)) == 1
}
