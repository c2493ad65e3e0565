package node

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/pion/webrtc/v4"
	"github.com/tabshard/tabshard/pipeline"
	"github.com/tabshard/tabshard/swarm"
)

// A Link is one WebRTC connection between two peers carrying whole messages
// over a reliable, ordered data channel. Messages are cut into frames of at
// most 16 KiB (pipeline.Framer), the size every browser accepts, and
// reassembled on the other side (pipeline.Reassembler); a peer that breaks
// the framing is dropped. Descriptions and candidates travel through the
// signaling server (Signaler), so DTLS fingerprints come only from there.

// Signaler is what a link needs from the signaling client: sending a relayed
// offer, answer or candidate to a peer of the swarm. *swarm.Client
// implements it.
type Signaler interface {
	Send(ctx context.Context, b swarm.Body) error
}

// LinkConfig configures links. Zero values take the defaults noted.
type LinkConfig struct {
	// MaxMessageBytes bounds one reassembled message (default
	// pipeline.DefaultLimits().MaxMessageBytes).
	MaxMessageBytes int
	// MaxQueuedBytes bounds bytes waiting in either direction: messages
	// given to Send and not yet on the wire, and messages received and not
	// yet taken by Recv (default 256 MiB). Send refuses beyond it; a peer
	// that overruns the receiving side is dropped.
	MaxQueuedBytes int64
	// ConnectTimeout bounds offer-to-open (default 30s).
	ConnectTimeout time.Duration
	// IPFilter, natively, keeps only the local addresses it accepts as ICE
	// candidates (tests: the loopback or test-namespace prefix). A browser
	// chooses its own candidates; the filter is ignored there.
	IPFilter func(net.IP) bool
	// Native ICE timing: a path silent for ICEDisconnected is
	// "disconnected", for ICEFailed "failed" (which ends the link); checks
	// are sent every ICEKeepalive. Defaults 1s, 3s, 300ms: a killed peer is
	// noticed within seconds. Browsers use their own timing.
	ICEDisconnected time.Duration
	ICEFailed       time.Duration
	ICEKeepalive    time.Duration
	Logger          *slog.Logger
}

func (c *LinkConfig) withDefaults() (LinkConfig, error) {
	out := *c
	if out.MaxMessageBytes == 0 {
		out.MaxMessageBytes = pipeline.DefaultLimits().MaxMessageBytes
	}
	if out.MaxMessageBytes < 1 || out.MaxMessageBytes > 1<<30 {
		return out, fmt.Errorf("node: link config: max message bytes %d out of range [1, 1 GiB]", out.MaxMessageBytes)
	}
	if out.MaxQueuedBytes == 0 {
		out.MaxQueuedBytes = 256 << 20
	}
	if out.MaxQueuedBytes < int64(out.MaxMessageBytes) {
		return out, fmt.Errorf("node: link config: max queued bytes %d is below one message (%d)", out.MaxQueuedBytes, out.MaxMessageBytes)
	}
	if out.ConnectTimeout == 0 {
		out.ConnectTimeout = 30 * time.Second
	}
	if out.ICEDisconnected == 0 {
		out.ICEDisconnected = time.Second
	}
	if out.ICEFailed == 0 {
		out.ICEFailed = 3 * time.Second
	}
	if out.ICEKeepalive == 0 {
		out.ICEKeepalive = 300 * time.Millisecond
	}
	if out.ConnectTimeout < 0 || out.ICEDisconnected < 0 || out.ICEKeepalive < 0 || out.ICEFailed < out.ICEDisconnected {
		return out, errors.New("node: link config: negative timeout, or ICE failed timeout below disconnected timeout")
	}
	if out.Logger == nil {
		out.Logger = slog.Default()
	}
	return out, nil
}

// Errors a link ends with.
var (
	ErrLinkClosed     = errors.New("node: link closed")
	ErrPeerClosedLink = errors.New("node: peer closed the link")
)

// Flow control on the data channel: stop writing above sendHighWater bytes
// buffered, resume when the channel reports sendLowWater.
const (
	sendHighWater = 1 << 20
	sendLowWater  = 256 << 10
	dataChannelID = 0 // negotiated out of band: both sides create it
	signalTimeout = 5 * time.Second
)

// Link is one peer-to-peer connection. Send never waits for the peer (a ring
// of stages blocked on each other's sends would deadlock); Recv blocks.
// A link owns two goroutines (negotiation/teardown and writing); Close ends
// them and waits.
type Link struct {
	id      string
	remote  string
	offerer bool
	cfg     *LinkConfig
	sig     Signaler
	log     *slog.Logger

	pc *webrtc.PeerConnection
	dc *webrtc.DataChannel

	ctx    context.Context // cancelled when the link fails or closes
	cancel context.CancelFunc
	wg     sync.WaitGroup

	opened   chan struct{} // closed when the data channel opens
	openOnce sync.Once
	done     chan struct{} // closed when the link has ended
	failOnce sync.Once
	errMu    sync.Mutex
	err      error

	signals  chan swarm.Body // remote answer/candidates, for the run loop
	localMu  sync.Mutex
	local    []webrtc.ICECandidateInit // gathered, not yet signaled
	localSig chan struct{}

	lowWater chan struct{} // buffered amount fell to sendLowWater

	sendMu     sync.Mutex
	sendQ      [][]byte
	sendBytes  int64
	sendSig    chan struct{}
	framer     pipeline.Framer // writer-owned
	reasm      *pipeline.Reassembler
	recvMu     sync.Mutex
	recvQ      [][]byte
	recvBytes  int64
	recvSig    chan struct{}
	openedAt   time.Time
	negotiated time.Time
}

// ID names the link in signaling.
func (l *Link) ID() string { return l.id }

// Remote is the peer id at the other end.
func (l *Link) Remote() string { return l.remote }

// Done is closed when the link has ended (Err says why).
func (l *Link) Done() <-chan struct{} { return l.done }

// Err is why the link ended, nil while it is up.
func (l *Link) Err() error {
	l.errMu.Lock()
	defer l.errMu.Unlock()
	return l.err
}

// SetupTime is how long negotiation took, offer to open data channel (0
// before it opened).
func (l *Link) SetupTime() time.Duration {
	l.errMu.Lock()
	defer l.errMu.Unlock()
	if l.negotiated.IsZero() {
		return 0
	}
	return l.negotiated.Sub(l.openedAt)
}

// Send queues one whole message (the link keeps msg; do not modify it
// afterwards). It never waits for the peer; it fails once the link has
// ended or when more than MaxQueuedBytes are waiting.
func (l *Link) Send(msg []byte) error {
	if len(msg) == 0 {
		return errors.New("node: link: empty message")
	}
	if len(msg) > l.cfg.MaxMessageBytes {
		return fmt.Errorf("node: link: message of %d bytes exceeds the %d-byte limit", len(msg), l.cfg.MaxMessageBytes)
	}
	if err := l.Err(); err != nil {
		return err
	}
	l.sendMu.Lock()
	if l.sendBytes+int64(len(msg)) > l.cfg.MaxQueuedBytes {
		l.sendMu.Unlock()
		return fmt.Errorf("node: link to %s: %d bytes already queued, limit %d", l.remote, l.sendBytes, l.cfg.MaxQueuedBytes)
	}
	l.sendQ = append(l.sendQ, msg)
	l.sendBytes += int64(len(msg))
	l.sendMu.Unlock()
	notify(l.sendSig)
	return nil
}

// Recv returns the next whole message, blocking until one arrives or the
// link ends. Messages received before the end are still returned.
func (l *Link) Recv() ([]byte, error) {
	return l.RecvContext(context.Background())
}

// RecvContext is Recv bounded by ctx.
func (l *Link) RecvContext(ctx context.Context) ([]byte, error) {
	for {
		l.recvMu.Lock()
		if len(l.recvQ) > 0 {
			m := l.recvQ[0]
			l.recvQ[0] = nil
			l.recvQ = l.recvQ[1:]
			l.recvBytes -= int64(len(m))
			l.recvMu.Unlock()
			return m, nil
		}
		l.recvMu.Unlock()
		select {
		case <-l.recvSig:
			continue
		case <-l.done:
			// Drain what arrived before the end first.
			l.recvMu.Lock()
			n := len(l.recvQ)
			l.recvMu.Unlock()
			if n > 0 {
				continue
			}
			return nil, l.Err()
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// Close ends the link (the peer notices through the data channel closing)
// and waits for its goroutines.
func (l *Link) Close() error {
	l.fail(ErrLinkClosed)
	l.wg.Wait()
	return nil
}

// fail ends the link with err (the first reason wins). Safe from any
// goroutine, including pion's callbacks: the teardown itself runs in the
// link's run goroutine.
func (l *Link) fail(err error) {
	l.failOnce.Do(func() {
		l.errMu.Lock()
		l.err = err
		l.errMu.Unlock()
		l.cancel()
		close(l.done)
	})
}

func notify(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

func newLinkID() (string, error) {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return "l-" + hex.EncodeToString(b[:]), nil
}

// newLink builds the peer connection and the negotiated data channel and
// starts the link's goroutines. For an answerer, offer is the remote offer.
func newLink(cfg *LinkConfig, sig Signaler, id, remote string, offer *swarm.Offer) (*Link, error) {
	api := newAPI(cfg)
	pc, err := api.NewPeerConnection(webrtc.Configuration{}) // host candidates only: no STUN/TURN
	if err != nil {
		return nil, fmt.Errorf("node: link: peer connection: %w", err)
	}
	ordered, negotiated, chID := true, true, uint16(dataChannelID)
	dc, err := pc.CreateDataChannel("tabshard", &webrtc.DataChannelInit{Ordered: &ordered, Negotiated: &negotiated, ID: &chID})
	if err != nil {
		pc.Close()
		return nil, fmt.Errorf("node: link: data channel: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	l := &Link{
		id: id, remote: remote, offerer: offer == nil, cfg: cfg, sig: sig,
		log: cfg.Logger.With("link", id, "remote", remote),
		pc:  pc, dc: dc, ctx: ctx, cancel: cancel,
		opened: make(chan struct{}), done: make(chan struct{}),
		signals: make(chan swarm.Body, 256), localSig: make(chan struct{}, 1),
		lowWater: make(chan struct{}, 1), sendSig: make(chan struct{}, 1), recvSig: make(chan struct{}, 1),
		reasm:    pipeline.NewReassembler(cfg.MaxMessageBytes),
		openedAt: time.Now(),
	}
	// Callbacks only record and signal: in a browser they run on the JS
	// event loop, where blocking deadlocks the program.
	pc.OnICECandidate(func(c *webrtc.ICECandidate) {
		if c == nil {
			return // gathering complete; no end-of-candidates needed
		}
		l.localMu.Lock()
		l.local = append(l.local, c.ToJSON())
		l.localMu.Unlock()
		notify(l.localSig)
	})
	pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		switch s {
		case webrtc.PeerConnectionStateFailed:
			l.fail(fmt.Errorf("node: link to %s: connection failed (peer gone or unreachable)", remote))
		case webrtc.PeerConnectionStateClosed:
			l.fail(ErrPeerClosedLink)
		}
	})
	dc.SetBufferedAmountLowThreshold(sendLowWater)
	dc.OnBufferedAmountLow(func() { notify(l.lowWater) })
	dc.OnOpen(func() {
		l.openOnce.Do(func() {
			l.errMu.Lock()
			l.negotiated = time.Now()
			l.errMu.Unlock()
			close(l.opened)
		})
	})
	dc.OnClose(func() { l.fail(ErrPeerClosedLink) })
	dc.OnMessage(l.onFrame)

	l.wg.Add(2)
	go func() {
		defer l.wg.Done()
		l.run(offer)
	}()
	go func() {
		defer l.wg.Done()
		l.writeLoop()
	}()
	return l, nil
}

// onFrame reassembles frames into messages (pion calls it one frame at a
// time, in order).
func (l *Link) onFrame(m webrtc.DataChannelMessage) {
	if l.ctx.Err() != nil {
		return
	}
	if m.IsString {
		l.fail(fmt.Errorf("node: link to %s: peer sent a text frame", l.remote))
		return
	}
	msg, err := l.reasm.Push(m.Data)
	if err != nil {
		l.fail(fmt.Errorf("node: link to %s: dropped for a bad frame: %w", l.remote, err))
		return
	}
	if msg == nil {
		return
	}
	l.recvMu.Lock()
	if l.recvBytes+int64(len(msg)) > l.cfg.MaxQueuedBytes {
		l.recvMu.Unlock()
		l.fail(fmt.Errorf("node: link to %s: more than %d received bytes unread; dropping the peer", l.remote, l.cfg.MaxQueuedBytes))
		return
	}
	l.recvQ = append(l.recvQ, msg)
	l.recvBytes += int64(len(msg))
	l.recvMu.Unlock()
	notify(l.recvSig)
}

// run negotiates, relays local candidates, applies remote signals, and
// tears the connection down when the link ends.
func (l *Link) run(offer *swarm.Offer) {
	defer l.teardown()
	var err error
	if l.offerer {
		err = l.sendOffer()
	} else {
		err = l.answer(offer)
	}
	if err != nil {
		l.fail(err)
		return
	}
	var pending []webrtc.ICECandidateInit // remote candidates before the remote description
	haveRemote := !l.offerer
	timeout := time.NewTimer(l.cfg.ConnectTimeout)
	defer timeout.Stop()
	opened := l.opened
	for {
		select {
		case <-l.ctx.Done():
			return
		case <-timeout.C:
			l.fail(fmt.Errorf("node: link to %s: not open after %v", l.remote, l.cfg.ConnectTimeout))
			return
		case <-opened:
			timeout.Stop()
			opened = nil
		case <-l.localSig:
			l.localMu.Lock()
			cands := l.local
			l.local = nil
			l.localMu.Unlock()
			for _, c := range cands {
				msg := &swarm.Candidate{Route: swarm.Route{To: l.remote, Link: l.id}, Candidate: c.Candidate, SDPMid: c.SDPMid, SDPMLineIndex: c.SDPMLineIndex}
				if err := l.signal(msg); err != nil {
					l.fail(err)
					return
				}
			}
		case b := <-l.signals:
			switch m := b.(type) {
			case *swarm.Answer:
				if !l.offerer || haveRemote {
					l.fail(fmt.Errorf("node: link to %s: unexpected answer", l.remote))
					return
				}
				if err := l.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: m.SDP}); err != nil {
					l.fail(fmt.Errorf("node: link to %s: remote answer: %w", l.remote, err))
					return
				}
				haveRemote = true
				for _, c := range pending {
					if err := l.pc.AddICECandidate(c); err != nil {
						l.log.Warn("node: link: remote candidate refused", "err", err)
					}
				}
				pending = nil
			case *swarm.Candidate:
				if m.Candidate == "" {
					continue // end of candidates
				}
				c := webrtc.ICECandidateInit{Candidate: m.Candidate, SDPMid: m.SDPMid, SDPMLineIndex: m.SDPMLineIndex}
				if !haveRemote {
					if len(pending) >= 256 {
						l.fail(fmt.Errorf("node: link to %s: too many candidates before the answer", l.remote))
						return
					}
					pending = append(pending, c)
					continue
				}
				if err := l.pc.AddICECandidate(c); err != nil {
					// One bad candidate does not doom the link; ICE uses the rest.
					l.log.Warn("node: link: remote candidate refused", "err", err)
				}
			default:
				l.fail(fmt.Errorf("node: link to %s: unexpected %s", l.remote, b.MessageType()))
				return
			}
		}
	}
}

// signal sends through the signaling server. The timeout is detached from
// the link's context on purpose: cancelling a WebSocket write midway breaks
// the whole signaling connection, not just this link.
func (l *Link) signal(b swarm.Body) error {
	ctx, cancel := context.WithTimeout(context.Background(), signalTimeout)
	defer cancel()
	if err := l.sig.Send(ctx, b); err != nil {
		return fmt.Errorf("node: link to %s: signaling %s: %w", l.remote, b.MessageType(), err)
	}
	return nil
}

func (l *Link) sendOffer() error {
	offer, err := l.pc.CreateOffer(nil)
	if err != nil {
		return fmt.Errorf("node: link to %s: create offer: %w", l.remote, err)
	}
	if err := l.pc.SetLocalDescription(offer); err != nil {
		return fmt.Errorf("node: link to %s: local offer: %w", l.remote, err)
	}
	return l.signal(&swarm.Offer{Route: swarm.Route{To: l.remote, Link: l.id}, SDP: offer.SDP})
}

func (l *Link) answer(offer *swarm.Offer) error {
	if err := l.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offer.SDP}); err != nil {
		return fmt.Errorf("node: link from %s: remote offer: %w", l.remote, err)
	}
	answer, err := l.pc.CreateAnswer(nil)
	if err != nil {
		return fmt.Errorf("node: link from %s: create answer: %w", l.remote, err)
	}
	if err := l.pc.SetLocalDescription(answer); err != nil {
		return fmt.Errorf("node: link from %s: local answer: %w", l.remote, err)
	}
	return l.signal(&swarm.Answer{Route: swarm.Route{To: l.remote, Link: l.id}, SDP: answer.SDP})
}

// teardown closes the channel and the connection. It runs in the run
// goroutine, never inside a pion callback.
func (l *Link) teardown() {
	l.fail(ErrLinkClosed) // no-op when the link already failed
	// Closing the channel first resets its stream, which the peer sees at
	// once; closing the connection then ends DTLS and ICE.
	_ = l.dc.Close()
	_ = l.pc.Close()
}

// popSend waits for the next queued message.
func (l *Link) popSend() ([]byte, bool) {
	for {
		l.sendMu.Lock()
		if len(l.sendQ) > 0 {
			m := l.sendQ[0]
			l.sendQ[0] = nil
			l.sendQ = l.sendQ[1:]
			l.sendMu.Unlock()
			return m, true
		}
		l.sendMu.Unlock()
		select {
		case <-l.sendSig:
		case <-l.ctx.Done():
			return nil, false
		}
	}
}

// writeLoop frames queued messages onto the data channel, pausing while the
// channel's buffer is above the high-water mark.
func (l *Link) writeLoop() {
	select {
	case <-l.opened:
	case <-l.ctx.Done():
		return
	}
	for {
		msg, ok := l.popSend()
		if !ok {
			return
		}
		frames, err := l.framer.Split(msg)
		if err != nil {
			l.fail(fmt.Errorf("node: link to %s: %w", l.remote, err))
			return
		}
		for _, f := range frames {
			for l.dc.BufferedAmount() > sendHighWater {
				select {
				case <-l.lowWater:
				case <-l.ctx.Done():
					return
				}
			}
			if err := l.dc.Send(f); err != nil {
				l.fail(fmt.Errorf("node: link to %s: send: %w", l.remote, err))
				return
			}
		}
		l.sendMu.Lock()
		l.sendBytes -= int64(len(msg))
		l.sendMu.Unlock()
	}
}
