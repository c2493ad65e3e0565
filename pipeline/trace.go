package pipeline

import "time"

// TraceKind names a point on a row batch's way through a stage.
type TraceKind uint8

// The points a stage traces, in the order a batch meets them.
const (
	// TraceReceived: a Batch or Token was read and decoded from an
	// upstream connection (on the connection's reader goroutine).
	TraceReceived TraceKind = iota + 1
	// TraceForward and TraceForwarded bracket the forward pass.
	TraceForward
	TraceForwarded
	// TraceSampled: the last stage has drawn the batch's tokens.
	TraceSampled
	// TraceSent: the results were handed to the downstream connection
	// (queued; its writer puts them on the wire).
	TraceSent
)

var traceKindNames = [...]string{TraceReceived: "received", TraceForward: "forward", TraceForwarded: "forwarded", TraceSampled: "sampled", TraceSent: "sent"}

func (k TraceKind) String() string {
	if int(k) < len(traceKindNames) && traceKindNames[k] != "" {
		return traceKindNames[k]
	}
	return "unknown"
}

// ParseTraceKind is String's inverse.
func ParseTraceKind(s string) (TraceKind, bool) {
	for k, n := range traceKindNames {
		if n != "" && n == s {
			return TraceKind(k), true
		}
	}
	return 0, false
}

// TraceEvent is one traced point. Pos is the position of the batch's first
// row; a received Token's is the position of the row it starts (its Pos),
// the sampled row's plus one.
type TraceEvent struct {
	Kind TraceKind
	At   time.Time
	Pos  uint32
	Rows int
}

// trace reports an event when the server is traced.
func (s *Server) trace(k TraceKind, pos uint32, rows int) {
	if s.cfg.Trace != nil {
		s.cfg.Trace(TraceEvent{Kind: k, At: time.Now(), Pos: pos, Rows: rows})
	}
}

// traceReceived traces a Batch or Token read from upstream.
func (s *Server) traceReceived(m Message) {
	if s.cfg.Trace == nil {
		return // untraced: not even the type switch on every message
	}
	switch m := m.(type) {
	case *Batch:
		if len(m.Rows) > 0 {
			s.trace(TraceReceived, m.Rows[0].Pos, len(m.Rows))
		}
	case *Token:
		s.trace(TraceReceived, m.Pos, 1)
	}
}
