//go:build !js

// The server runs natively only; tabs use the client.

package swarm

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// EventKind says what changed in a swarm.
type EventKind string

// Event kinds.
const (
	EventJoined EventKind = "joined" // a peer was welcomed
	EventLeft   EventKind = "left"   // a peer said leave, or closed its socket cleanly
	EventLost   EventKind = "lost"   // a peer went silent, broke its connection or was disconnected
	EventReady  EventKind = "ready"  // a peer loaded its assignment
)

// Event is one membership change.
type Event struct {
	Kind   EventKind
	Swarm  string
	Peer   PeerInfo // the peer as it was at the event
	Reason string   // for left and lost: why
	Time   time.Time
}

// Assignment is an assignment for one peer of a swarm.
type Assignment struct {
	Peer   string
	Assign *Assign
}

// Planner decides who holds which layers. The server calls Plan from a single
// goroutine, one event at a time in the order they happened, with a snapshot
// of the swarm taken when Plan is called (it may already include later
// changes; the queue still delivers those as their own events). Plan returns
// the assignments to send now, possibly none; assignments to peers that have
// gone meanwhile are dropped. Plan must return promptly once ctx is done.
// Planning itself lives elsewhere (package shard); this is the hook.
type Planner interface {
	Plan(ctx context.Context, ev Event, view SwarmView) ([]Assignment, error)
}

// PlannerFunc adapts a function to Planner.
type PlannerFunc func(ctx context.Context, ev Event, view SwarmView) ([]Assignment, error)

// Plan implements Planner.
func (f PlannerFunc) Plan(ctx context.Context, ev Event, view SwarmView) ([]Assignment, error) {
	return f(ctx, ev, view)
}

// maxQueuedEvents bounds the planner's backlog. Events come from connections,
// which are rate limited, so the bound is only reached when the planner is
// stuck; then new events are dropped and logged.
const maxQueuedEvents = 1 << 14

// eventQueue is an unbounded-looking FIFO that never blocks the producer (a
// connection's read loop holding no lock it could deadlock on).
type eventQueue struct {
	mu     sync.Mutex
	items  []Event
	signal chan struct{} // capacity 1: "there may be items"
}

func newEventQueue() *eventQueue { return &eventQueue{signal: make(chan struct{}, 1)} }

func (q *eventQueue) push(ev Event) bool {
	q.mu.Lock()
	if len(q.items) >= maxQueuedEvents {
		q.mu.Unlock()
		return false
	}
	q.items = append(q.items, ev)
	q.mu.Unlock()
	select {
	case q.signal <- struct{}{}:
	default:
	}
	return true
}

func (q *eventQueue) pop() (Event, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.items) == 0 {
		return Event{}, false
	}
	ev := q.items[0]
	q.items[0] = Event{}
	q.items = q.items[1:]
	return ev, true
}

// emit queues an event for the planner.
func (s *Server) emit(ev Event) {
	if s.cfg.Planner == nil {
		return
	}
	if !s.events.push(ev) {
		s.cfg.Logger.Error("swarm: planner backlog full; event dropped", "kind", ev.Kind, "swarm", ev.Swarm, "peer", ev.Peer.ID)
	}
}

// planLoop feeds events to the planner until the server closes.
func (s *Server) planLoop() {
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-s.events.signal:
		}
		for {
			ev, ok := s.events.pop()
			if !ok {
				break
			}
			if s.ctx.Err() != nil {
				return
			}
			view, _ := s.Swarm(ev.Swarm)
			as, err := s.cfg.Planner.Plan(s.ctx, ev, view)
			if err != nil {
				s.cfg.Logger.Error("swarm: planner failed", "swarm", ev.Swarm, "event", ev.Kind, "peer", ev.Peer.ID, "err", err)
			}
			if len(as) > 0 {
				if err := s.Assign(ev.Swarm, as); err != nil {
					s.cfg.Logger.Warn("swarm: assignments not all sent", "swarm", ev.Swarm, "err", err)
				}
			}
		}
	}
}

// ErrNoSuchPeer reports an assignment for a peer that is not in the swarm.
var ErrNoSuchPeer = errors.New("swarm: no such peer")

// Assign validates and sends assignments to peers of a swarm and records
// them in the swarm's state. Every assignment is validated before any is
// sent; peers that have gone are skipped and reported (wrapping
// ErrNoSuchPeer) while the rest are still sent.
func (s *Server) Assign(swarm string, as []Assignment) error {
	msgs := make([][]byte, len(as))
	for i, a := range as {
		if a.Assign == nil {
			return fmt.Errorf("swarm: assignment %d for %q: nil", i, a.Peer)
		}
		enc, err := Encode(a.Assign) // validates, so Stage indexes Pipeline below
		if err != nil {
			return fmt.Errorf("swarm: assignment %d for %q: %w", i, a.Peer, err)
		}
		if a.Assign.Stage >= 0 && a.Assign.Pipeline[a.Assign.Stage].Peer != a.Peer {
			return fmt.Errorf("swarm: assignment %d: stage %d belongs to %q, not %q", i, a.Assign.Stage, a.Assign.Pipeline[a.Assign.Stage].Peer, a.Peer)
		}
		msgs[i] = enc
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.swarms[swarm]
	if !ok {
		return fmt.Errorf("swarm: unknown swarm %q", swarm)
	}
	var missing []string
	for i, a := range as {
		p, ok := r.peers[a.Peer]
		if !ok {
			missing = append(missing, a.Peer)
			continue
		}
		// Keep a private copy: the caller may reuse its slices.
		cp := *a.Assign
		cp.Pipeline = append([]PipelineStage(nil), cp.Pipeline...)
		p.assigned = &cp
		if cp.Epoch > r.epoch || r.plan == nil {
			r.epoch = cp.Epoch
			plan := cp
			plan.Stage = -1
			r.plan = &plan
		}
		p.enqueue(msgs[i])
	}
	if len(missing) > 0 {
		return fmt.Errorf("%w: %q", ErrNoSuchPeer, missing)
	}
	return nil
}
