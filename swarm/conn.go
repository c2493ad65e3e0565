//go:build !js

// The server runs natively only; tabs use the client.

package swarm

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/coder/websocket"
)

// writeTimeout bounds one write to a peer; a peer that cannot take a message
// in this time is treated as lost.
const writeTimeout = 10 * time.Second

// ending says how a connection ended and what, if anything, to tell the peer.
type ending struct {
	kind   EventKind // EventLeft or EventLost
	reason string
	refuse *Error               // sent before closing, when the peer misbehaved
	code   websocket.StatusCode // close code when refuse is set
}

func violation(code ErrorCode, format string, args ...any) ending {
	msg := fmt.Sprintf(format, args...)
	return ending{kind: EventLost, reason: msg, refuse: &Error{Code: code, Message: truncate(msg, MaxTextLen-8)}, code: websocket.StatusPolicyViolation}
}

// serveConn runs one accepted connection: join, then the read loop, with a
// writer goroutine it owns and waits for.
func (s *Server) serveConn(conn *websocket.Conn, remote string) {
	ctx, cancel := context.WithCancel(s.ctx)
	defer cancel()
	limiter := newBucket(s.cfg.Rate, time.Now())

	p, end := s.join(ctx, conn, limiter, cancel)
	if p == nil {
		s.finish(conn, end)
		return
	}
	log := s.cfg.Logger.With("swarm", p.swarm, "peer", p.id, "remote", remote)
	log.Info("swarm: peer joined", "role", p.role)

	writerCtx, stopWriter := context.WithCancel(ctx)
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		s.writeLoop(writerCtx, conn, p, cancel)
	}()

	end = s.readLoop(ctx, conn, p, limiter)

	s.mu.Lock()
	if p.killWhy != "" && end.refuse == nil {
		end.reason = p.killWhy
	}
	info := p.info()
	if r := s.swarms[p.swarm]; r != nil && r.peers[p.id] == p {
		delete(r.peers, p.id)
	}
	s.mu.Unlock()
	stopWriter()
	<-writerDone

	if s.ctx.Err() == nil { // no events once the server is closing
		s.emit(Event{Kind: end.kind, Swarm: p.swarm, Peer: info, Reason: end.reason, Time: time.Now()})
	}
	log.Info("swarm: peer gone", "how", end.kind, "reason", end.reason)
	s.finish(conn, end)
}

// finish closes the connection, first telling a misbehaving peer why.
func (s *Server) finish(conn *websocket.Conn, end ending) {
	if end.refuse == nil || s.ctx.Err() != nil {
		_ = conn.CloseNow()
		return
	}
	if msg, err := Encode(end.refuse); err == nil {
		wctx, cancel := context.WithTimeout(s.ctx, time.Second)
		_ = conn.Write(wctx, websocket.MessageText, msg)
		cancel()
	}
	// Close sends the close frame and waits (bounded by the library) for the
	// peer's; CloseNow after it is a no-op unless that failed.
	_ = conn.Close(end.code, string(end.refuse.Code))
	_ = conn.CloseNow()
}

// join reads and checks the first message and publishes the peer. On
// refusal it returns nil and the ending to apply.
func (s *Server) join(ctx context.Context, conn *websocket.Conn, limiter *bucket, kill context.CancelFunc) (*peer, ending) {
	jctx, cancel := context.WithTimeout(ctx, s.cfg.JoinTimeout)
	typ, data, err := conn.Read(jctx)
	cancel()
	if err != nil {
		return nil, ending{kind: EventLost, reason: "no join: " + err.Error()}
	}
	limiter.allow(time.Now())
	if typ != websocket.MessageText {
		return nil, violation(CodeBadMessage, "binary message; the protocol is JSON text")
	}
	b, err := Decode(data)
	if err != nil {
		return nil, violation(CodeBadMessage, "%v", err)
	}
	j, ok := b.(*Join)
	if !ok {
		return nil, violation(CodeUnexpected, "first message must be join, got %s", b.MessageType())
	}
	id, err := newPeerID()
	if err != nil {
		return nil, ending{kind: EventLost, reason: "peer id: " + err.Error(),
			refuse: &Error{Code: CodeInternal, Message: "cannot allocate a peer id"}, code: websocket.StatusInternalError}
	}
	now := time.Now()
	p := &peer{
		id: id, swarm: j.Swarm, role: j.Role, caps: j.Capabilities, joinedAt: now, lastSeen: now,
		out: make(chan []byte, s.cfg.SendQueue), kill: kill,
	}
	welcome, err := Encode(&Welcome{
		Peer: id, Swarm: j.Swarm,
		HeartbeatMillis:        s.cfg.HeartbeatInterval.Milliseconds(),
		HeartbeatTimeoutMillis: s.cfg.HeartbeatTimeout.Milliseconds(),
		MaxMessageBytes:        s.cfg.MaxMessageBytes,
	})
	if err != nil {
		return nil, ending{kind: EventLost, reason: err.Error(), refuse: &Error{Code: CodeInternal}, code: websocket.StatusInternalError}
	}

	s.mu.Lock()
	r := s.swarms[j.Swarm]
	// One answer for an unknown swarm and a wrong token, so that names
	// cannot be probed.
	if r == nil || !tokenOK(r.token, j.Token) {
		s.mu.Unlock()
		return nil, violation(CodeJoinRefused, "unknown swarm or wrong token")
	}
	if len(r.peers) >= s.cfg.MaxPeersPerSwarm {
		s.mu.Unlock()
		return nil, violation(CodeSwarmFull, "swarm %q is full (%d peers)", j.Swarm, s.cfg.MaxPeersPerSwarm)
	}
	r.peers[id] = p
	p.enqueue(welcome) // first in the queue: before any relay or assignment
	info := p.info()
	s.mu.Unlock()

	s.emit(Event{Kind: EventJoined, Swarm: j.Swarm, Peer: info, Time: now})
	return p, ending{}
}

// readLoop handles the peer's messages until it leaves, goes silent,
// misbehaves or the connection's context ends.
func (s *Server) readLoop(ctx context.Context, conn *websocket.Conn, p *peer, limiter *bucket) ending {
	for {
		rctx, cancel := context.WithTimeout(ctx, s.cfg.HeartbeatTimeout)
		typ, data, err := conn.Read(rctx)
		timedOut := errors.Is(rctx.Err(), context.DeadlineExceeded)
		cancel()
		if err != nil {
			switch {
			case ctx.Err() != nil:
				return ending{kind: EventLost, reason: "disconnected by the server"}
			case timedOut:
				return ending{kind: EventLost, reason: fmt.Sprintf("silent for %v", s.cfg.HeartbeatTimeout)}
			case errors.Is(err, websocket.ErrMessageTooBig):
				// The library has already closed with StatusMessageTooBig.
				return ending{kind: EventLost, reason: fmt.Sprintf("message larger than %d bytes", s.cfg.MaxMessageBytes)}
			}
			switch websocket.CloseStatus(err) {
			case websocket.StatusNormalClosure, websocket.StatusGoingAway:
				return ending{kind: EventLeft, reason: "closed the connection"}
			}
			return ending{kind: EventLost, reason: "connection broken: " + err.Error()}
		}
		now := time.Now()
		if !limiter.allow(now) {
			return violation(CodeRateLimited, "more than %g messages/s (burst %d)", s.cfg.Rate.PerSecond, s.cfg.Rate.Burst)
		}
		if typ != websocket.MessageText {
			return violation(CodeBadMessage, "binary message; the protocol is JSON text")
		}
		b, err := Decode(data)
		if err != nil {
			return violation(CodeBadMessage, "%v", err)
		}
		if end, done := s.handle(p, b, now); done {
			return end
		}
	}
}

// handle acts on one valid message from a joined peer.
func (s *Server) handle(p *peer, b Body, now time.Time) (ending, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p.lastSeen = now
	switch m := b.(type) {
	case *Heartbeat:
		if enc, err := Encode(m); err == nil {
			p.enqueue(enc)
		}
	case Relayed:
		rt := m.Routing()
		if rt.From != "" && rt.From != p.id {
			return violation(CodeSpoofing, "from %q is not your id", rt.From), true
		}
		if rt.To == "" || rt.To == p.id {
			return violation(CodeBadMessage, "%s needs a target other than yourself", m.MessageType()), true
		}
		target := s.swarms[p.swarm].peers[rt.To]
		if target == nil {
			// Not fatal: the target may have left a moment ago.
			if enc, err := Encode(&Error{Code: CodeNoSuchPeer, Message: fmt.Sprintf("%s for %q: no such peer in this swarm", m.MessageType(), rt.To)}); err == nil {
				p.enqueue(enc)
			}
			return ending{}, false
		}
		rt.From = p.id // bound by the server: the only source of From
		enc, err := Encode(m)
		if err != nil {
			return violation(CodeBadMessage, "%v", err), true
		}
		target.enqueue(enc)
	case *Ready:
		p.ready, p.readyEpoch = true, m.Epoch
		s.emitLocked(EventReady, p, now)
	case *Status:
		p.status = m
	case *Leave:
		return ending{kind: EventLeft, reason: "leave: " + m.Reason}, true
	default:
		return violation(CodeUnexpected, "%s is not something a peer sends after joining", b.MessageType()), true
	}
	return ending{}, false
}

// emitLocked queues an event about p; called with Server.mu held (the queue
// has its own lock and never blocks).
func (s *Server) emitLocked(kind EventKind, p *peer, now time.Time) {
	s.emit(Event{Kind: kind, Swarm: p.swarm, Peer: p.info(), Time: now})
}

// writeLoop sends queued messages until its context ends; a failed write
// ends the whole connection.
func (s *Server) writeLoop(ctx context.Context, conn *websocket.Conn, p *peer, kill context.CancelFunc) {
	for {
		select {
		case <-ctx.Done():
			return
		case msg := <-p.out:
			// Not derived from ctx: the library closes the connection when a
			// write's context ends, even a moment after the write completed,
			// and stopping this loop must not close it (a refusal may follow).
			wctx, cancel := context.WithTimeout(s.ctx, writeTimeout)
			err := conn.Write(wctx, websocket.MessageText, msg)
			cancel()
			if err != nil {
				if ctx.Err() == nil {
					s.mu.Lock()
					if p.killWhy == "" {
						p.killWhy = "write failed: " + err.Error()
					}
					s.mu.Unlock()
				}
				kill()
				return
			}
		}
	}
}
