package pipeline

import (
	"errors"
	"fmt"
	"sync"
)

// Conn carries whole messages between two peers of a pipeline, reliably and
// in order. Send queues and never waits for the peer (a ring of stages
// blocked on each other's sends would deadlock); Recv blocks until a message
// arrives or the connection ends. A Conn rejects what Decode rejects: a
// malformed message ends the connection with the error.
type Conn interface {
	Send(m Message) error
	Recv() (Message, error)
	Close() error
}

// ErrClosed is returned by a Conn used after Close.
var ErrClosed = errors.New("pipeline: connection closed")

// PeerError is what a Conn's Recv returns when the peer broke the protocol
// (a message Decode refuses, a bad frame): the connection is dropped and the
// peer reported.
type PeerError struct {
	Peer string
	Err  error
}

func (e *PeerError) Error() string {
	return fmt.Sprintf("pipeline: peer %s broke the protocol: %v", e.Peer, e.Err)
}
func (e *PeerError) Unwrap() error { return e.Err }

// queue is an unbounded FIFO of encoded messages with a closing error.
type queue struct {
	mu     sync.Mutex
	cond   *sync.Cond
	items  [][]byte
	err    error
	closed bool
}

func newQueue() *queue {
	q := &queue{}
	q.cond = sync.NewCond(&q.mu)
	return q
}

func (q *queue) put(b []byte) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return ErrClosed
	}
	q.items = append(q.items, b)
	q.cond.Signal()
	return nil
}

func (q *queue) get() ([]byte, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for len(q.items) == 0 && !q.closed {
		q.cond.Wait()
	}
	if len(q.items) == 0 {
		return nil, q.err
	}
	b := q.items[0]
	q.items[0] = nil
	q.items = q.items[1:]
	return b, nil
}

func (q *queue) close(err error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if !q.closed {
		q.closed, q.err = true, err
		q.cond.Broadcast()
	}
}

// pipeEnd is one side of an in-process Pipe.
type pipeEnd struct {
	lim       Limits
	in, out   *queue
	closeOnce sync.Once
}

// Pipe returns two connected in-process Conns: stages of one process talk
// through it. Messages are encoded and decoded on the way, exactly as on a
// network link, so a Pipe checks everything a data channel would.
func Pipe(lim Limits) (Conn, Conn) {
	a, b := newQueue(), newQueue()
	return &pipeEnd{lim: lim, in: a, out: b}, &pipeEnd{lim: lim, in: b, out: a}
}

func (p *pipeEnd) Send(m Message) error {
	b, err := Encode(m, p.lim)
	if err != nil {
		return err
	}
	return p.out.put(b)
}

func (p *pipeEnd) Recv() (Message, error) {
	b, err := p.in.get()
	if err != nil {
		return nil, err
	}
	m, err := Decode(b, p.lim)
	if err != nil {
		p.Close()
		return nil, &PeerError{Peer: "pipe", Err: err}
	}
	return m, nil
}

func (p *pipeEnd) Close() error {
	p.closeOnce.Do(func() {
		p.in.close(ErrClosed)
		p.out.close(ErrClosed)
	})
	return nil
}
