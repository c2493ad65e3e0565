package pipeline

import (
	"slices"
	"time"

	"github.com/tabshard/tabshard/shard"
)

// step runs one forward pass over up to MaxBatch queued rows, oldest first,
// and sends its results on.
func (s *Server) step() error {
	width := s.cfg.Model.Dim
	rows, srows, hidden := s.take(s.cfg.Stage.Config().MaxBatch, s.groupSessions(), width)
	if len(rows) == 0 {
		return nil
	}
	s.trace(TraceForward, rows[0].Pos, len(rows))
	start := time.Now()
	out, err := s.cfg.Stage.Forward(srows, hidden)
	s.trace(TraceForwarded, rows[0].Pos, len(rows))
	s.statsMu.Lock()
	s.stats.Busy += time.Since(start)
	s.stats.Batches++
	s.stats.Rows += uint64(len(rows))
	s.statsMu.Unlock()
	if err != nil {
		return err
	}
	if !s.last {
		s.batchID++
		b := &Batch{Plan: s.cfg.Plan, ID: s.batchID, Encoding: EncF16, Width: width, Rows: rows, Hidden: out}
		err := s.down.Send(b)
		s.trace(TraceSent, rows[0].Pos, len(rows))
		return err
	}
	s.sample(rows, out)
	return nil
}

// take removes the next batch from the queue, oldest first: at most
// maxRows rows of at most maxSessions sessions, stopping at the first row
// that does not fit so every session's rows stay in order. Rows of ended
// or replayed sessions are dropped on the way. It returns the rows as sent
// on (no token ids), as the stage computes them, and their hidden values.
func (s *Server) take(maxRows, maxSessions, width int) (rows []Row, srows []shard.Row, hidden []float32) {
	var members []uint64 // sessions in this batch
	for len(s.queue) > 0 && len(rows) < maxRows {
		p := &s.queue[0]
		for len(p.rows) > 0 && len(rows) < maxRows {
			r := p.rows[0]
			sess := s.sessions[r.Session]
			live := sess != nil && sess.epoch == r.Epoch
			if live && !slices.Contains(members, r.Session) {
				if len(members) == maxSessions {
					return rows, srows, hidden // the rest waits for the next batch
				}
				members = append(members, r.Session)
			}
			var h []float32
			if p.hidden != nil {
				h, p.hidden = p.hidden[:width], p.hidden[width:]
			}
			p.rows = p.rows[1:]
			if !live {
				continue // the session ended or was replayed: stale row
			}
			srows = append(srows, shard.Row{Slot: sess.slot, Pos: int32(r.Pos), Token: int32(r.Token), Logits: r.Flags&RowSample != 0})
			hidden = append(hidden, h...)
			r.Token = 0 // hidden rows carry no token id on the wire
			rows = append(rows, r)
		}
		if len(p.rows) == 0 {
			s.queue = s.queue[1:]
		}
	}
	return rows, srows, hidden
}

// groupSessions is how many sessions one batch may serve: the open
// sessions split into cfg.Groups groups. Rows queued together would
// otherwise always merge into one batch, and once merged, all sessions
// travel the ring as one convoy with only one stage busy at a time.
func (s *Server) groupSessions() int {
	n := len(s.sessions)
	if g := s.cfg.Groups; g > 1 {
		n = (n + g - 1) / g
	}
	return max(1, n)
}

// sample draws the next token of every row marked RowSample (last stage).
func (s *Server) sample(rows []Row, logits []float32) {
	vocab := s.cfg.Model.Vocab
	context := s.cfg.Stage.Config().Context
	k := 0
	for _, r := range rows {
		if r.Flags&RowSample == 0 {
			continue
		}
		l := logits[k*vocab : (k+1)*vocab]
		k++
		sess := s.sessions[r.Session]
		if sess == nil {
			continue
		}
		// The draw depends only on the seed and the position, so a replay
		// after a re-plan samples exactly what the lost pipeline would have.
		sess.sampler.Reseed(uint64(r.Pos))
		id, lp := sess.sampler.Sample(l, sess.history)
		s.trace(TraceSampled, r.Pos, 1)
		sess.history = append(sess.history, id)
		sess.generated++
		s.statsMu.Lock()
		s.stats.Tokens++
		s.statsMu.Unlock()
		t := &Token{Session: r.Session, Epoch: r.Epoch, Pos: r.Pos + 1, ID: uint32(id), Logprob: lp}
		switch {
		case !sess.sampling.IgnoreEOS && id == s.cfg.EOS:
			t.Stop = StopEOS
		case stopped(sess.history, sess.sampling.Stop):
			t.Stop = StopSequence
		case sess.sampling.MaxTokens > 0 && sess.generated >= sess.sampling.MaxTokens,
			int(t.Pos) >= context-1:
			t.Stop = StopMaxTokens
		}
		if s.first {
			s.token(t)
			continue
		}
		_ = s.down.Send(t)
		s.trace(TraceSent, r.Pos, 1)
		if t.Stop != StopNone {
			s.end(sess, false)
		}
	}
}

// stopped reports whether history ends with one of the stop sequences.
func stopped(history []int32, stops [][]uint32) bool {
	for _, seq := range stops {
		if len(seq) == 0 || len(seq) > len(history) {
			continue
		}
		tail := history[len(history)-len(seq):]
		if slices.EqualFunc(tail, seq, func(a int32, b uint32) bool { return uint32(a) == b }) {
			return true
		}
	}
	return false
}

// shutdown stops the readers and closes every connection.
func (s *Server) shutdown() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	conns := make([]Conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	close(s.stop)
	for _, c := range conns {
		c.Close()
	}
	s.readers.Wait()
}

// Close stops a server that will not run (or has run): it closes every
// connection given to it and waits for their readers.
func (s *Server) Close() { s.shutdown() }

// Stats returns a copy of the stage's counters; safe while Run runs.
func (s *Server) Stats() Stats {
	s.statsMu.Lock()
	defer s.statsMu.Unlock()
	st := s.stats
	st.HopRTT = append([]time.Duration(nil), s.stats.HopRTT...)
	return st
}

func (s *Server) recordHop(rtt time.Duration) {
	s.statsMu.Lock()
	defer s.statsMu.Unlock()
	if len(s.stats.HopRTT) == hopSamples {
		copy(s.stats.HopRTT, s.stats.HopRTT[1:])
		s.stats.HopRTT = s.stats.HopRTT[:hopSamples-1]
	}
	s.stats.HopRTT = append(s.stats.HopRTT, rtt)
}

// setSessions records the number of open sessions.
func (s *Server) setSessions() {
	s.statsMu.Lock()
	s.stats.Sessions = len(s.sessions)
	s.statsMu.Unlock()
}
