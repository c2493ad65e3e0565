package pipeline

import (
	"context"
	"errors"
	"fmt"
	"sync"
)

// Event is one step of a generation as the client sees it.
type Event struct {
	ID      int32
	Logprob float32
	Stop    StopReason // set on the last token
	Err     error      // set (alone) when the generation failed
}

// Request asks for one generation.
type Request struct {
	Prompt   []int32 // token ids, BOS included where the model wants it
	Sampling Sampling
}

// Client starts generations on a pipeline through a connection to its first
// stage. It keeps every open session's tokens: when the pipeline changes,
// Attach a connection to the new first stage and each open session is
// replayed there (its prompt and generated tokens as one prefill) and goes
// on where it stopped, losing nothing.
type Client struct {
	lim Limits

	mu       sync.Mutex
	conn     Conn
	sessions map[uint64]*clientSession
	nextID   uint64
	closed   bool
	wg       sync.WaitGroup
}

type clientSession struct {
	id       uint64
	epoch    uint32
	sampling Sampling
	history  []uint32 // prompt then generated tokens
	prompt   int
	// Events wait in queue (guarded by Client.mu) for the session's pump
	// goroutine, so a slow reader never stalls the connection's reader.
	queue    []Event
	finished bool          // nothing more will be queued
	notify   chan struct{} // capacity 1: the queue changed
	out      chan Event
	gone     chan struct{} // closed when the pump has exited
}

// NewClient returns a client with no pipeline attached yet.
func NewClient(lim Limits) *Client {
	return &Client{lim: lim, sessions: make(map[uint64]*clientSession), nextID: 1}
}

// Attach makes conn (to a first stage) the client's pipeline, replaying every
// open session on it. The client reads conn until it fails or is replaced.
func (c *Client) Attach(conn Conn) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		conn.Close()
		return
	}
	if c.conn != nil {
		c.conn.Close()
	}
	c.conn = conn
	for _, s := range c.sessions {
		s.epoch++
		c.sendOpen(s)
	}
	c.wg.Add(1)
	go c.read(conn)
}

// Generate starts a generation. Events arrive on the returned channel, which
// is closed after the last token or an error. Cancelling ctx ends it.
func (c *Client) Generate(ctx context.Context, req Request) (<-chan Event, error) {
	if len(req.Prompt) == 0 {
		return nil, errors.New("pipeline: empty prompt")
	}
	open := &Open{Sampling: req.Sampling, History: make([]uint32, len(req.Prompt))}
	for i, id := range req.Prompt {
		if id < 0 {
			return nil, fmt.Errorf("pipeline: negative token id %d", id)
		}
		open.History[i] = uint32(id)
	}
	if _, err := Encode(open, c.lim); err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, ErrClosed
	}
	s := &clientSession{id: c.nextID, sampling: req.Sampling, history: open.History, prompt: len(open.History),
		notify: make(chan struct{}, 1), out: make(chan Event), gone: make(chan struct{})}
	c.nextID++
	c.sessions[s.id] = s
	if c.conn != nil {
		c.sendOpen(s)
	}
	c.wg.Add(1)
	go c.pump(ctx, s)
	return s.out, nil
}

// pump hands s's events to its reader in order, and cancels the session
// when ctx ends first.
func (c *Client) pump(ctx context.Context, s *clientSession) {
	defer c.wg.Done()
	defer close(s.gone)
	defer close(s.out)
	for {
		c.mu.Lock()
		var ev Event
		have := len(s.queue) > 0
		if have {
			ev, s.queue = s.queue[0], s.queue[1:]
		}
		fin := s.finished && !have
		c.mu.Unlock()
		switch {
		case have:
			select {
			case s.out <- ev:
			case <-ctx.Done():
				c.cancel(s, ctx.Err())
				return
			}
		case fin:
			return
		default:
			select {
			case <-s.notify:
			case <-ctx.Done():
				c.cancel(s, ctx.Err())
				return
			}
		}
	}
}

// push queues ev for s's reader (under mu); last ends the session.
func (c *Client) push(s *clientSession, ev Event, last bool) {
	if s.finished {
		return
	}
	s.queue = append(s.queue, ev)
	if last {
		s.finished = true
		delete(c.sessions, s.id)
	}
	select {
	case s.notify <- struct{}{}:
	default:
	}
}

// cancel ends s at the client's wish, telling the pipeline to free it.
func (c *Client) cancel(s *clientSession, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, open := c.sessions[s.id]; !open {
		return
	}
	s.finished = true
	delete(c.sessions, s.id)
	if c.conn != nil {
		_ = c.conn.Send(&Close{Session: s.id, Epoch: s.epoch, Reason: CloseCancelled})
	}
}

// sendOpen (under mu) opens s on the current connection. A failed send is
// not an error here: the connection's reader sees the failure and the next
// Attach replays.
func (c *Client) sendOpen(s *clientSession) {
	_ = c.conn.Send(&Open{Session: s.id, Epoch: s.epoch, Sampling: s.sampling, History: s.history, Generated: uint32(len(s.history) - s.prompt)})
}

// read delivers the tokens arriving on conn until it ends.
func (c *Client) read(conn Conn) {
	defer c.wg.Done()
	for {
		m, err := conn.Recv()
		if err != nil {
			return // the owner re-attaches after the re-plan
		}
		switch m := m.(type) {
		case *Token:
			c.deliver(m)
		case *Error:
			if m.Session != 0 {
				c.fail(m.Session, fmt.Errorf("pipeline: %s", m.Text))
			}
		}
	}
}

func (c *Client) deliver(t *Token) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.sessions[t.Session]
	// Only the token for the next position of the current epoch counts: a
	// replay may re-send what we already hold.
	if s == nil || t.Epoch != s.epoch || int(t.Pos) != len(s.history) {
		return
	}
	s.history = append(s.history, t.ID)
	c.push(s, Event{ID: int32(t.ID), Logprob: t.Logprob, Stop: t.Stop}, t.Stop != StopNone)
}

// fail ends a session with an error the pipeline reported.
func (c *Client) fail(id uint64, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if s := c.sessions[id]; s != nil {
		c.push(s, Event{Err: err}, true)
	}
}

// Open reports how many sessions are in flight.
func (c *Client) Open() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.sessions)
}

// Close ends every session with ErrClosed and waits for the client's
// goroutines to exit.
func (c *Client) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	for _, s := range c.sessions {
		c.push(s, Event{Err: ErrClosed}, true)
	}
	if c.conn != nil {
		c.conn.Close()
	}
	c.mu.Unlock()
	c.wg.Wait()
	return nil
}
