package node

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/tabshard/tabshard/swarm"
)

// Links makes and accepts the links of one peer. Feed it every message from
// the signaling client's inbox (Handle); it routes answers and candidates to
// their link by (sender, link id) and turns offers into incoming links that
// Accept returns once open. It owns one goroutine per link that watches the
// link's end; Close closes every link and waits.
type Links struct {
	cfg LinkConfig
	sig Signaler

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu       sync.Mutex
	closed   bool
	links    map[linkKey]*Link
	accepted chan *Link
}

// linkKey includes the remote peer: the server binds the sender id, so one
// peer cannot reach into another peer's link by guessing its id.
type linkKey struct{ remote, id string }

// ErrLinksClosed is returned after Links.Close.
var ErrLinksClosed = errors.New("node: links closed")

// acceptBacklog bounds opened incoming links not yet taken by Accept.
const acceptBacklog = 16

// NewLinks returns a link manager that signals through sig.
func NewLinks(sig Signaler, cfg LinkConfig) (*Links, error) {
	if sig == nil {
		return nil, errors.New("node: links: nil signaler")
	}
	c, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Links{cfg: c, sig: sig, ctx: ctx, cancel: cancel, links: map[linkKey]*Link{}, accepted: make(chan *Link, acceptBacklog)}, nil
}

// Dial opens a link to a peer of the swarm and waits until it is open.
func (m *Links) Dial(ctx context.Context, remote string) (*Link, error) {
	if !swarm.ValidID(remote) {
		return nil, fmt.Errorf("node: dial: bad peer id %q", remote)
	}
	id, err := newLinkID()
	if err != nil {
		return nil, err
	}
	l, err := m.start(id, remote, nil)
	if err != nil {
		return nil, err
	}
	select {
	case <-l.opened:
		return l, nil
	case <-l.done:
		return nil, l.Err()
	case <-ctx.Done():
		l.Close()
		return nil, ctx.Err()
	}
}

// Accept returns the next incoming link once it is open.
func (m *Links) Accept(ctx context.Context) (*Link, error) {
	select {
	case l := <-m.accepted:
		return l, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-m.ctx.Done():
		return nil, ErrLinksClosed
	}
}

// Handle takes one message from the signaling inbox. It returns false for
// messages that are not about links (assignments, welcomes, errors), which
// the caller handles itself.
func (m *Links) Handle(b swarm.Body) bool {
	switch msg := b.(type) {
	case *swarm.Offer:
		if msg.From == "" {
			return true // the server always fills From; nothing to answer
		}
		m.mu.Lock()
		_, dup := m.links[linkKey{msg.From, msg.Link}]
		m.mu.Unlock()
		if dup {
			m.cfg.Logger.Warn("node: links: duplicate offer ignored", "from", msg.From, "link", msg.Link)
			return true
		}
		if _, err := m.start(msg.Link, msg.From, msg); err != nil && !errors.Is(err, ErrLinksClosed) {
			m.cfg.Logger.Warn("node: links: cannot answer offer", "from", msg.From, "link", msg.Link, "err", err)
		}
		return true
	case *swarm.Answer, *swarm.Candidate:
		rt := msg.(swarm.Relayed).Routing()
		m.mu.Lock()
		l := m.links[linkKey{rt.From, rt.Link}]
		m.mu.Unlock()
		if l == nil {
			return true // a link that has ended: late signals are normal
		}
		select {
		case l.signals <- b:
		default:
			l.fail(fmt.Errorf("node: link to %s: signaling backlog full", l.remote))
		}
		return true
	}
	return false
}

// start creates and registers a link and its watcher.
func (m *Links) start(id, remote string, offer *swarm.Offer) (*Link, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, ErrLinksClosed
	}
	l, err := newLink(&m.cfg, m.sig, id, remote, offer)
	if err != nil {
		return nil, err
	}
	key := linkKey{remote, id}
	m.links[key] = l
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		m.watch(key, l, offer != nil)
	}()
	return l, nil
}

// watch hands an incoming link to Accept once open, and forgets the link
// when it ends (closing it when the manager closes).
func (m *Links) watch(key linkKey, l *Link, incoming bool) {
	defer func() {
		m.mu.Lock()
		if m.links[key] == l {
			delete(m.links, key)
		}
		m.mu.Unlock()
	}()
	if incoming {
		select {
		case <-l.opened:
			select {
			case m.accepted <- l:
			default:
				l.fail(fmt.Errorf("node: link from %s: %d opened links not yet accepted", l.remote, acceptBacklog))
			}
		case <-l.done:
		case <-m.ctx.Done():
		}
	}
	select {
	case <-l.done:
		l.wg.Wait()
	case <-m.ctx.Done():
		l.Close()
	}
}

// Close closes every link and waits for all their goroutines.
func (m *Links) Close() error {
	m.mu.Lock()
	m.closed = true
	m.mu.Unlock()
	m.cancel()
	m.wg.Wait()
	return nil
}
