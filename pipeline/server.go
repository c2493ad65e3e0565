package pipeline

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/tabshard/tabshard/model"
	"github.com/tabshard/tabshard/shard"
)

// ServerConfig describes one stage's place in the pipeline.
type ServerConfig struct {
	Stage  *shard.Stage
	Model  model.Config
	Plan   uint64 // plan epoch this stage serves; traffic of other plans is dropped
	EOS    int32
	Limits Limits
	// Groups splits the open sessions into groups that are batched
	// separately: a batch serves at most ceil(open sessions / Groups)
	// sessions (0 counts as 1: one batch takes every queued row). With one
	// group per stage, every stage of a busy pipeline computes at once;
	// fewer, larger groups cost less per row where stages share cores.
	Groups int
	// Report, if set, receives a line for each peer dropped for bad traffic
	// and each session refused.
	Report func(string)
	// Trace, if set, receives the points every batch passes (trace.go),
	// for latency breakdowns. It is called from several goroutines and
	// must not block.
	Trace func(TraceEvent)
}

// Server runs a stage: it takes Open, Batch, Token and Close messages from
// its upstream connections, batches the queued rows of all sessions into one
// forward pass at a time, and sends the results on. The first stage turns
// each sampled token coming round the ring into the session's next row and
// passes it to the session's client; the last stage samples.
type Server struct {
	cfg      ServerConfig
	first    bool
	last     bool
	events   chan event
	down     Conn // next stage; for the last stage, the first (ring); nil when alone
	sessions map[uint64]*session
	free     []int32
	queue    []pending
	batchID  uint64

	statsMu sync.Mutex // guards stats: nodes report them while serving
	stats   Stats

	stop   chan struct{} // closed when Run returns
	mu     sync.Mutex    // guards conns and closed
	conns  map[Conn]bool
	closed bool

	clientConns map[Conn]bool // first stage: connections that opened sessions
	readers     sync.WaitGroup
}

// Stats are a stage's counters (read with Server.Stats).
type Stats struct {
	Batches, Rows   uint64
	Tokens          uint64        // sampled (last stage)
	Busy            time.Duration // time spent in forward passes
	Sessions        int           // open now
	DroppedPeers    uint64
	RefusedSessions uint64
	// HopRTT holds recent round trips of pings to the next stage, oldest
	// first (at most hopSamples).
	HopRTT []time.Duration
}

// hopSamples bounds the ping round trips kept; pingEvery spaces them.
const (
	hopSamples = 512
	pingEvery  = 100 * time.Millisecond
)

type event struct {
	from Conn
	msg  Message
	err  error
}

// session is one generation as a stage sees it.
type session struct {
	id     uint64
	epoch  uint32
	slot   int32
	client Conn // first stage: where its tokens go
	// last stage only:
	sampling  Sampling
	sampler   *model.Sampler
	history   []int32
	generated uint32
}

// pending is queued work: rows (with their hidden values on later stages).
type pending struct {
	rows   []Row
	hidden []float32
}

// NewServer prepares a stage server; Run starts it.
func NewServer(cfg ServerConfig) (*Server, error) {
	if cfg.Stage == nil {
		return nil, errors.New("pipeline: server without a stage")
	}
	if cfg.Groups < 0 {
		return nil, fmt.Errorf("pipeline: %d session groups", cfg.Groups)
	}
	part := cfg.Stage.Part()
	sc := cfg.Stage.Config()
	s := &Server{
		cfg:      cfg,
		first:    part.HasEmbed(),
		last:     part.HasHead(cfg.Model),
		events:   make(chan event, 256),
		sessions: make(map[uint64]*session),
		conns:    make(map[Conn]bool),
		stop:     make(chan struct{}),
	}
	for i := sc.Slots - 1; i >= 0; i-- {
		s.free = append(s.free, int32(i))
	}
	return s, nil
}

// SetDownstream sets where results go: the next stage, or for the last
// stage of several, the first. Call before Run.
func (s *Server) SetDownstream(c Conn) { s.down = c; s.addConn(c, false) }

// AddUpstream starts reading c: the previous stage, or for the first stage
// the last one (the ring). Its loss breaks the pipeline. Safe while running.
func (s *Server) AddUpstream(c Conn) { s.addConn(c, false) }

// AddClient starts reading a client's connection (first stage only). Its
// loss or misbehaviour ends only that client's sessions. Safe while running.
func (s *Server) AddClient(c Conn) { s.addConn(c, true) }

func (s *Server) addConn(c Conn, client bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, dup := s.conns[c]; s.closed || dup {
		return
	}
	s.conns[c] = client
	s.readers.Add(1)
	go func() {
		defer s.readers.Done()
		for {
			m, err := c.Recv()
			if err == nil {
				s.traceReceived(m)
			}
			select {
			case s.events <- event{from: c, msg: m, err: err}:
			case <-s.stop:
				return
			}
			if err != nil {
				return
			}
		}
	}()
}

// Run serves until ctx ends or the downstream connection fails; it closes
// every connection it was given before returning.
func (s *Server) Run(ctx context.Context) error {
	defer s.shutdown()
	if !s.last && s.down == nil {
		return errors.New("pipeline: a stage that is not last has no downstream connection")
	}
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed {
		return ErrClosed
	}
	ping := time.NewTicker(pingEvery)
	defer ping.Stop()
	for {
		// Take every event already waiting, then compute: rows that arrive
		// while a batch runs join the next one.
		select {
		case <-ctx.Done():
			return ctx.Err()
		case now := <-ping.C:
			if s.down != nil {
				_ = s.down.Send(&Ping{Nonce: uint64(now.UnixNano()), Sent: now.UnixNano()})
			}
		case ev := <-s.events:
			if err := s.handle(ev); err != nil {
				return err
			}
		}
		if err := s.drain(); err != nil {
			return err
		}
		for len(s.queue) > 0 {
			if err := s.step(); err != nil {
				return err
			}
			// Every row that arrived during the batch joins the next one:
			// taking one event per batch would leave a busy stage running
			// batches of one row while the rest of the sessions wait.
			if err := s.drain(); err != nil {
				return err
			}
		}
	}
}

// drain handles every event already waiting, without blocking.
func (s *Server) drain() error {
	for {
		select {
		case ev := <-s.events:
			if err := s.handle(ev); err != nil {
				return err
			}
		default:
			return nil
		}
	}
}
