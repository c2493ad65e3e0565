package pipeline

import (
	"errors"
	"fmt"
	"time"

	"github.com/tabshard/tabshard/model"
)

// errPipelineBroken ends Run: a neighbour stage is gone, so the plan must change.
var errPipelineBroken = errors.New("pipeline: neighbour stage lost")

// handle applies one event to the server's state.
func (s *Server) handle(ev event) error {
	if ev.err != nil {
		return s.lost(ev.from, ev.err)
	}
	switch m := ev.msg.(type) {
	case *Open:
		s.open(ev.from, m)
	case *Batch:
		return s.batch(ev.from, m)
	case *Token:
		if !s.first {
			return s.protocolError(ev.from, "Token sent to a stage that is not first")
		}
		s.token(m)
	case *Close:
		if sess := s.sessions[m.Session]; sess != nil && sess.epoch == m.Epoch {
			s.end(sess, true)
		}
	case *Ping:
		_ = ev.from.Send(&Pong{Nonce: m.Nonce, Sent: m.Sent})
	case *Error:
		s.report(fmt.Sprintf("peer error %d for session %d: %s", m.Code, m.Session, m.Text))
	case *Pong:
		if ev.from == s.down && m.Sent > 0 {
			s.recordHop(time.Since(time.Unix(0, m.Sent)))
		}
	case *Hello:
	default:
		return s.protocolError(ev.from, fmt.Sprintf("unexpected %T", m))
	}
	return nil
}

// lost handles a connection that ended. A client's sessions end with it; a
// neighbour stage's loss breaks the pipeline.
func (s *Server) lost(c Conn, err error) error {
	var pe *PeerError
	if errors.As(err, &pe) {
		s.statsMu.Lock()
		s.stats.DroppedPeers++
		s.statsMu.Unlock()
		s.report("dropped peer: " + pe.Error())
	}
	if c == s.down || !s.isClient(c) {
		return fmt.Errorf("%w: %v", errPipelineBroken, err)
	}
	for _, sess := range s.sessions {
		if sess.client == c {
			s.end(sess, true)
		}
	}
	s.forget(c)
	return nil
}

func (s *Server) isClient(c Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conns[c]
}

// forget stops tracking a connection that ended.
func (s *Server) forget(c Conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
}

// protocolError drops a peer that broke the protocol: a client is cut off;
// a neighbour stage breaks the pipeline.
func (s *Server) protocolError(c Conn, what string) error {
	_ = c.Send(&Error{Code: ErrCodeProtocol, Text: what})
	c.Close()
	return s.lost(c, &PeerError{Peer: "upstream", Err: errors.New(what)})
}

func (s *Server) report(line string) {
	if s.cfg.Report != nil {
		s.cfg.Report(line)
	}
}

func (s *Server) open(from Conn, m *Open) {
	sc := s.cfg.Stage.Config()
	if len(m.History) == 0 || len(m.History) >= sc.Context {
		s.refuse(from, m.Session, fmt.Sprintf("history of %d tokens does not fit a context of %d", len(m.History), sc.Context))
		return
	}
	for _, id := range m.History {
		if int(id) >= s.cfg.Model.Vocab {
			s.refuse(from, m.Session, fmt.Sprintf("token %d outside the vocabulary", id))
			return
		}
	}
	sess := s.sessions[m.Session]
	if sess != nil && m.Epoch <= sess.epoch {
		return // a repeat or an older replay
	}
	if sess == nil {
		if len(s.free) == 0 {
			s.refuse(from, m.Session, "no free session slot")
			return
		}
		sess = &session{id: m.Session, slot: s.free[len(s.free)-1]}
		s.free = s.free[:len(s.free)-1]
		s.sessions[m.Session] = sess
	}
	sess.epoch = m.Epoch
	if s.first {
		if !s.isClient(from) {
			s.refuse(from, m.Session, "Open from a connection that is not a client's")
			delete(s.sessions, m.Session)
			s.free = append(s.free, sess.slot)
			return
		}
		sess.client = from
	}
	if s.last {
		sess.sampling = m.Sampling
		sess.sampler = model.NewSampler(samplerConfig(m.Sampling))
		sess.history = make([]int32, len(m.History), sc.Context)
		for i, id := range m.History {
			sess.history[i] = int32(id)
		}
		sess.generated = m.Generated
	}
	if !s.last {
		_ = s.down.Send(m)
	}
	if s.first {
		rows := make([]Row, len(m.History))
		for i, id := range m.History {
			rows[i] = Row{Session: m.Session, Epoch: m.Epoch, Pos: uint32(i), Token: id}
		}
		rows[len(rows)-1].Flags = RowSample
		s.queue = append(s.queue, pending{rows: rows})
	}
	s.setSessions()
}

func (s *Server) refuse(to Conn, id uint64, why string) {
	s.statsMu.Lock()
	s.stats.RefusedSessions++
	s.statsMu.Unlock()
	s.report(fmt.Sprintf("session %d refused: %s", id, why))
	_ = to.Send(&Error{Code: ErrCodeOverloaded, Session: id, Text: why})
}

func (s *Server) batch(from Conn, m *Batch) error {
	if s.first {
		return s.protocolError(from, "Batch sent to the first stage")
	}
	if m.Plan != s.cfg.Plan {
		return nil // routed under another plan: stale
	}
	if m.Encoding == EncTokens || m.Width != s.cfg.Model.Dim {
		return s.protocolError(from, fmt.Sprintf("Batch of width %d, encoding %d for a model of width %d", m.Width, m.Encoding, s.cfg.Model.Dim))
	}
	s.queue = append(s.queue, pending{rows: m.Rows, hidden: m.Hidden})
	return nil
}

// token is a sampled token arriving at the first stage (round the ring, or
// from itself when it is also the last): it goes to the client, and unless
// generation stops, becomes the session's next row.
func (s *Server) token(t *Token) {
	sess := s.sessions[t.Session]
	if sess == nil || sess.epoch != t.Epoch {
		return
	}
	_ = sess.client.Send(t)
	if t.Stop != StopNone {
		s.end(sess, true)
		return
	}
	s.queue = append(s.queue, pending{rows: []Row{{Session: t.Session, Epoch: t.Epoch, Pos: t.Pos, Token: t.ID, Flags: RowSample}}})
}

// end frees a session's slot; forward passes Close on to later stages.
func (s *Server) end(sess *session, forward bool) {
	delete(s.sessions, sess.id)
	s.free = append(s.free, sess.slot)
	if forward && !s.last && s.down != nil {
		_ = s.down.Send(&Close{Session: sess.id, Epoch: sess.epoch, Reason: CloseDone})
	}
	s.setSessions()
}

func samplerConfig(m Sampling) model.SamplerConfig {
	return model.SamplerConfig{
		Temperature: m.Temperature, TopK: int(m.TopK), TopP: m.TopP, MinP: m.MinP,
		RepeatPenalty: m.RepeatPenalty, RepeatLastN: int(m.RepeatLastN), Seed: m.Seed,
	}
}
