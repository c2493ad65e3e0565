package pipeline

import (
	"slices"
	"testing"
)

// takeServer is a stage with open sessions 1..n (epoch 1, slot = id) and
// nothing else: enough for take and groupSessions, which touch no stage.
func takeServer(n, groups int) *Server {
	s := &Server{cfg: ServerConfig{Groups: groups}, sessions: make(map[uint64]*session)}
	for id := uint64(1); id <= uint64(n); id++ {
		s.sessions[id] = &session{id: id, epoch: 1, slot: int32(id)}
	}
	return s
}

func sessionsOf(rows []Row) []uint64 {
	var ids []uint64
	for _, r := range rows {
		ids = append(ids, r.Session)
	}
	return ids
}

func TestGroupSessions(t *testing.T) {
	for _, c := range []struct{ open, groups, want int }{
		{8, 0, 8}, {8, 1, 8}, {8, 2, 4}, {8, 4, 2}, {7, 2, 4}, {3, 4, 1}, {0, 2, 1}, {1, 4, 1},
	} {
		if got := takeServer(c.open, c.groups).groupSessions(); got != c.want {
			t.Errorf("%d sessions in %d groups: %d a batch, want %d", c.open, c.groups, got, c.want)
		}
	}
}

// A batch serves at most maxSessions sessions, oldest rows first, and a
// group that arrived as one message is split with its hidden values.
func TestTakeKeepsGroupsApart(t *testing.T) {
	s := takeServer(4, 2)
	const width = 2
	// Stage 1's view: one Batch of sessions 1, 2, 3, then one of session 4.
	s.queue = []pending{
		{rows: []Row{{Session: 1, Epoch: 1, Pos: 5}, {Session: 2, Epoch: 1, Pos: 6}, {Session: 3, Epoch: 1, Pos: 7}},
			hidden: []float32{1, 1, 2, 2, 3, 3}},
		{rows: []Row{{Session: 4, Epoch: 1, Pos: 8}}, hidden: []float32{4, 4}},
	}
	rows, srows, hidden := s.take(256, s.groupSessions(), width)
	if got := sessionsOf(rows); !slices.Equal(got, []uint64{1, 2}) {
		t.Fatalf("first batch serves sessions %v, want [1 2]", got)
	}
	if !slices.Equal(hidden, []float32{1, 1, 2, 2}) || srows[1].Slot != 2 || srows[1].Pos != 6 {
		t.Fatalf("first batch: hidden %v, rows %+v", hidden, srows)
	}
	rows, _, hidden = s.take(256, s.groupSessions(), width)
	if got := sessionsOf(rows); !slices.Equal(got, []uint64{3, 4}) || !slices.Equal(hidden, []float32{3, 3, 4, 4}) {
		t.Fatalf("second batch serves sessions %v with hidden %v, want [3 4] with [3 3 4 4]", got, hidden)
	}
	if len(s.queue) != 0 {
		t.Fatalf("%d queue entries left", len(s.queue))
	}
}

// A prompt's rows count as one session; stale rows are dropped and do not
// take a place in the batch; maxRows still bounds the batch.
func TestTakePrefillAndStaleRows(t *testing.T) {
	s := takeServer(3, 3)
	s.sessions[2].epoch = 2 // replayed: its epoch-1 rows are stale
	prompt := []Row{{Session: 1, Epoch: 1, Pos: 0, Token: 9}, {Session: 1, Epoch: 1, Pos: 1, Token: 8}, {Session: 1, Epoch: 1, Pos: 2, Token: 7}}
	s.queue = []pending{{rows: prompt}, {rows: []Row{{Session: 2, Epoch: 1, Pos: 4}}}, {rows: []Row{{Session: 3, Epoch: 1, Pos: 1}}}}
	rows, srows, _ := s.take(256, 1, 0)
	if len(rows) != 3 || srows[2].Token != 7 || rows[2].Token != 0 {
		t.Fatalf("prompt batch: %+v / %+v", rows, srows)
	}
	rows, _, _ = s.take(256, 1, 0)
	if got := sessionsOf(rows); !slices.Equal(got, []uint64{3}) {
		t.Fatalf("after the stale row: sessions %v, want [3]", got)
	}
	s.queue = []pending{{rows: prompt}}
	if rows, _, _ = s.take(2, 8, 0); len(rows) != 2 || len(s.queue) != 1 || len(s.queue[0].rows) != 1 {
		t.Fatalf("maxRows 2 took %d rows and left %v", len(rows), s.queue)
	}
}
