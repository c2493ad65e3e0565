//go:build !js

// The server runs natively only; tabs use the client.

package swarm

import (
	"context"
	"sort"
	"time"
)

// room is one swarm's membership. All fields are guarded by Server.mu.
type room struct {
	name  string
	token []byte
	peers map[string]*peer
	epoch uint64  // highest epoch assigned so far
	plan  *Assign // the latest plan sent (Stage -1), for status readers
}

func newRoom(c SwarmConfig) *room {
	return &room{name: c.Name, token: []byte(c.Token), peers: map[string]*peer{}}
}

// peer is one joined connection. Immutable fields are set before the peer is
// published in its room; the rest are guarded by Server.mu.
type peer struct {
	id       string
	swarm    string
	role     Role
	caps     *Capabilities
	joinedAt time.Time
	out      chan []byte        // encoded messages for the writer
	kill     context.CancelFunc // ends the connection
	killWhy  string             // set under Server.mu before kill, for the log

	lastSeen   time.Time
	assigned   *Assign
	readyEpoch uint64
	ready      bool
	status     *Status
}

// enqueue hands an encoded message to the peer's writer without blocking the
// caller (often another peer's read loop). A peer too slow to drain its queue
// is disconnected. Called with Server.mu held.
func (p *peer) enqueue(msg []byte) {
	select {
	case p.out <- msg:
	default:
		if p.killWhy == "" {
			p.killWhy = "send queue overflow"
		}
		p.kill()
	}
}

// PeerInfo is a snapshot of one peer, as the planner and the status endpoint
// see it.
type PeerInfo struct {
	ID           string        `json:"id"`
	Role         Role          `json:"role"`
	Capabilities *Capabilities `json:"capabilities,omitempty"`
	JoinedAt     time.Time     `json:"joined_at"`
	LastSeen     time.Time     `json:"last_seen"`
	// Epoch, Stage and Layers describe the last assignment sent to the peer
	// (Stage -1 when none or when it holds no stage).
	Epoch  uint64     `json:"epoch"`
	Stage  int        `json:"stage"`
	Layers LayerRange `json:"layers"`
	// Ready is true when the peer has reported ready for its assigned epoch.
	Ready      bool    `json:"ready"`
	ReadyEpoch uint64  `json:"ready_epoch"`
	Status     *Status `json:"status,omitempty"`
}

// SwarmView is a snapshot of one swarm.
type SwarmView struct {
	Name  string     `json:"name"`
	Epoch uint64     `json:"epoch"`
	Plan  *Assign    `json:"plan,omitempty"` // the latest pipeline (its Stage is -1)
	Peers []PeerInfo `json:"peers"`          // in join order
}

// Peer returns the snapshot of one peer of the view.
func (v *SwarmView) Peer(id string) (PeerInfo, bool) {
	for _, p := range v.Peers {
		if p.ID == id {
			return p, true
		}
	}
	return PeerInfo{}, false
}

// info snapshots a peer. Called with Server.mu held. Capabilities and status
// are immutable once stored (replaced, never modified), so sharing the
// pointers is safe.
func (p *peer) info() PeerInfo {
	pi := PeerInfo{
		ID: p.id, Role: p.role, Capabilities: p.caps, JoinedAt: p.joinedAt, LastSeen: p.lastSeen,
		Stage: -1, ReadyEpoch: p.readyEpoch, Status: p.status,
	}
	if p.assigned != nil {
		pi.Epoch = p.assigned.Epoch
		pi.Stage = p.assigned.Stage
		pi.Layers = p.assigned.Layers()
		pi.Ready = p.ready && p.readyEpoch == p.assigned.Epoch
	}
	return pi
}

// view snapshots a room. Called with Server.mu held.
func (r *room) view() SwarmView {
	v := SwarmView{Name: r.name, Epoch: r.epoch, Plan: r.plan, Peers: make([]PeerInfo, 0, len(r.peers))}
	for _, p := range r.peers {
		v.Peers = append(v.Peers, p.info())
	}
	sort.Slice(v.Peers, func(i, j int) bool {
		a, b := v.Peers[i], v.Peers[j]
		if !a.JoinedAt.Equal(b.JoinedAt) {
			return a.JoinedAt.Before(b.JoinedAt)
		}
		return a.ID < b.ID
	})
	return v
}

// Swarm returns a snapshot of the named swarm.
func (s *Server) Swarm(name string) (SwarmView, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.swarms[name]
	if !ok {
		return SwarmView{}, false
	}
	return r.view(), true
}

// Swarms returns snapshots of every swarm, sorted by name.
func (s *Server) Swarms() []SwarmView {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]SwarmView, 0, len(s.swarms))
	for _, r := range s.swarms {
		out = append(out, r.view())
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}
