package node

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"sync"
	"time"

	"github.com/tabshard/tabshard/kernels"
	"github.com/tabshard/tabshard/model"
	"github.com/tabshard/tabshard/pipeline"
	"github.com/tabshard/tabshard/quant"
	"github.com/tabshard/tabshard/shard"
	"github.com/tabshard/tabshard/swarm"
)

// stageAttemptTimeout bounds one attempt to link to the next stage;
// redialPause is the first pause between attempts.
const (
	stageAttemptTimeout = 20 * time.Second
	redialPause         = 50 * time.Millisecond
)

// StageSettings size the runtime state of the stage a node serves.
type StageSettings struct {
	Slots    int        // sessions at once (default 16)
	Context  int        // positions per session (default: the model's, at most 2048)
	MaxBatch int        // rows per forward pass (default 256)
	KV       quant.Type // KV-cache format (default F32)
	// Groups is how many groups of sessions the stage batches separately
	// (pipeline.ServerConfig.Groups; default: one per stage of the plan, at
	// most this machine's cores).
	Groups int
}

// Config configures a node.
type Config struct {
	// Signal is the URL, swarm and token; role and capabilities are filled
	// in, and without a Reconnect policy the node reconnects with the
	// client's defaults (backoff from 250 ms to 10 s, never giving up):
	// a node is a long-lived server, and a signaling blip otherwise ended it.
	Signal       swarm.ClientConfig
	Device       kernels.Device
	Models       ModelSource
	Stage        StageSettings
	Link         LinkConfig
	Limits       pipeline.Limits
	MemoryBudget uint64 // bytes offered for weights and KV (0: measured default)
	Logger       *slog.Logger
	// Trace, if set, receives the stage server's trace points
	// (pipeline.ServerConfig.Trace).
	Trace func(pipeline.TraceEvent)
}

// Node is one participant that holds layers and serves them.
type Node struct {
	cfg   Config
	log   *slog.Logger
	sig   *swarm.Client
	links *Links

	mu      sync.Mutex
	stage   *shard.Stage
	weights *Weights
	part    model.Part
	ref     swarm.ManifestRef
	serving *serving // the pipeline server of the current epoch
	pending []*incoming
	stats   pipeline.Stats
	// assignCancel stops the assignment being set up (a newer one arrived).
	assignCancel context.CancelFunc
	// hand is the assignment taken last and whether it has ended (set up
	// failed or its pipeline stopped): see takeAssign.
	hand handAssign

	wg sync.WaitGroup
}

// incoming is an accepted link whose Hello we have read.
type incoming struct {
	conn  *linkConn
	hello *pipeline.Hello
}

// serving is one epoch's pipeline server and what feeds it.
type serving struct {
	epoch  uint64
	assign *swarm.Assign
	digest [32]byte
	server *pipeline.Server
	cancel context.CancelFunc
	done   chan struct{}
}

// Run joins the swarm and serves assignments until ctx ends.
func Run(ctx context.Context, cfg Config) error {
	n, err := start(ctx, cfg)
	if err != nil {
		return err
	}
	return n.loop(ctx)
}

func start(ctx context.Context, cfg Config) (*Node, error) {
	if cfg.Device == nil || cfg.Models == nil {
		return nil, errors.New("node: config needs a device and a model source")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Limits.MaxMessageBytes == 0 {
		cfg.Limits = pipeline.DefaultLimits()
	}
	s := &cfg.Stage
	if s.Slots <= 0 {
		s.Slots = 16
	}
	if s.MaxBatch <= 0 {
		s.MaxBatch = 256
	}
	if s.KV == 0 {
		s.KV = quant.F32
	}
	if s.Groups < 0 {
		return nil, fmt.Errorf("node: %d session groups", s.Groups)
	}
	caps, err := Measure(cfg.Device, cfg.MemoryBudget)
	if err != nil {
		return nil, err
	}
	sc := cfg.Signal
	sc.Role = swarm.RoleNode
	sc.Capabilities = caps
	if sc.Reconnect == nil {
		sc.Reconnect = &swarm.ReconnectPolicy{}
	}
	sig, err := swarm.Dial(ctx, sc)
	if err != nil {
		return nil, err
	}
	links, err := NewLinks(sig, cfg.Link)
	if err != nil {
		sig.Close()
		return nil, err
	}
	n := &Node{cfg: cfg, log: cfg.Logger.With("node", sig.PeerID()), sig: sig, links: links}
	n.log.Info("joined", "swarm", sc.Swarm, "device", cfg.Device.Name(), "budget", caps.MemoryBudgetBytes)
	return n, nil
}

// loop handles assignments until ctx ends; it owns every goroutine it starts.
func (n *Node) loop(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer func() {
		cancel()
		n.stopServing()
		n.links.Close()
		n.sig.Close()
		n.wg.Wait()
		n.release()
	}()
	assigns := make(chan *swarm.Assign, 16)
	n.wg.Add(2)
	go func() { defer n.wg.Done(); n.acceptLoop(ctx) }()
	go func() { defer n.wg.Done(); n.inboxLoop(ctx, assigns) }()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-n.sig.Done():
			return fmt.Errorf("node: signaling ended: %w", n.sig.Err())
		case a := <-assigns:
			actx, acancel := context.WithCancel(ctx)
			n.mu.Lock()
			n.assignCancel = acancel
			n.mu.Unlock()
			err := n.assign(ctx, actx, a)
			acancel()
			if err != nil {
				n.mu.Lock()
				n.hand.end(a.Epoch)
				n.mu.Unlock()
				n.log.Error("assignment failed", "epoch", a.Epoch, "err", err)
				n.status(ctx, a.Epoch, swarm.StateFailed, err.Error())
			}
		}
	}
}

// inboxLoop routes signaling: link negotiation to the link manager (always
// at once: a stage waiting for its neighbour must not stall negotiation),
// assignments to loop. A newer assignment cancels one still being set up.
func (n *Node) inboxLoop(ctx context.Context, assigns chan<- *swarm.Assign) {
	for {
		select {
		case <-ctx.Done():
			return
		case b, ok := <-n.sig.Inbox():
			if !ok {
				// Signaling ended (its inbox closes): stop setting up an
				// assignment, which may be dialling a neighbour through
				// it, so that loop sees the end. Reading the closed inbox
				// again would spin.
				n.mu.Lock()
				if n.assignCancel != nil {
					n.assignCancel()
				}
				n.mu.Unlock()
				return
			}
			if n.links.Handle(b) {
				continue
			}
			switch m := b.(type) {
			case *swarm.Assign:
				n.mu.Lock()
				take := n.hand.take(m)
				if take && n.assignCancel != nil {
					n.assignCancel()
				}
				n.mu.Unlock()
				if !take {
					n.log.Warn("ignored an assignment for the epoch in hand", "epoch", m.Epoch, "stage", m.Stage)
					continue
				}
				select {
				case assigns <- m:
				case <-ctx.Done():
					return
				}
			case *swarm.Error:
				n.log.Warn("server error", "code", m.Code, "msg", m.Message)
			case *swarm.Welcome:
				// A new peer id: the server planned around the old one and
				// will plan this one in; old links stay until replaced.
				n.log.Info("rejoined", "peer", m.Peer)
			}
		}
	}
}

// acceptLoop reads the Hello of every incoming link and admits it.
func (n *Node) acceptLoop(ctx context.Context) {
	for {
		l, err := n.links.Accept(ctx)
		if err != nil {
			return
		}
		n.wg.Add(1)
		go func() {
			defer n.wg.Done()
			c := newLinkConn(l, n.cfg.Limits)
			hctx, cancel := context.WithTimeout(ctx, handshakeTimeout)
			defer cancel()
			b, err := l.RecvContext(hctx)
			if err != nil {
				l.Close()
				return
			}
			m, err := pipeline.Decode(b, n.cfg.Limits)
			h, ok := m.(*pipeline.Hello)
			if err != nil || !ok {
				n.log.Warn("refused link: first message is not a valid Hello", "peer", l.Remote(), "err", err)
				l.Close()
				return
			}
			n.admit(&incoming{conn: c, hello: h})
		}()
	}
}

// admit attaches an incoming link to the server of its epoch, keeps it for
// an epoch we have not been told of yet, or refuses it.
func (n *Node) admit(in *incoming) {
	n.mu.Lock()
	defer n.mu.Unlock()
	s := n.serving
	switch {
	case s != nil && in.hello.Plan == s.epoch:
		n.attach(s, in)
	case s == nil || in.hello.Plan > s.epoch:
		n.pending = append(n.pending, in)
	default:
		in.conn.Close() // an older plan
	}
}

// attach (under mu) checks the peer and adds it upstream of s's server.
func (n *Node) attach(s *serving, in *incoming) {
	local := n.hello(s)
	if err := pipeline.CheckHello(local, in.hello); err != nil {
		_ = in.conn.Send(&pipeline.Error{Code: pipeline.ErrCodeDigest, Text: err.Error()})
		in.conn.Close()
		return
	}
	prev := s.assign.Prev()
	isPrev := in.hello.Role == pipeline.RoleStage && in.conn.l.Remote() == prev && len(s.assign.Pipeline) > 1
	isClient := in.hello.Role == pipeline.RoleClient && s.assign.Stage == 0
	if !isPrev && !isClient {
		_ = in.conn.Send(&pipeline.Error{Code: pipeline.ErrCodeStale, Text: "not a neighbour in this plan"})
		in.conn.Close()
		return
	}
	if err := in.conn.Send(local); err != nil {
		in.conn.Close()
		return
	}
	if isClient {
		s.server.AddClient(in.conn)
	} else {
		s.server.AddUpstream(in.conn)
	}
}

func (n *Node) hello(s *serving) *pipeline.Hello {
	r := s.assign.Layers()
	return &pipeline.Hello{Version: pipeline.ProtocolVersion, Digest: s.digest, Role: pipeline.RoleStage,
		NodeID: n.sig.PeerID(), Plan: s.epoch, First: uint32(r.Start), End: uint32(r.End), Layers: uint32(s.assign.TotalLayers)}
}

// assign switches the node to a new plan: it keeps its layers when the
// range is unchanged, loads them otherwise, links to its next stage and
// serves.
func (n *Node) assign(ctx, setup context.Context, a *swarm.Assign) error {
	n.stopServing()
	if a.Stage < 0 {
		n.release()
		n.status(ctx, a.Epoch, swarm.StateIdle, "standby")
		return nil
	}
	digest, err := parseDigest(a.Manifest.SHA256)
	if err != nil {
		return err
	}
	r := a.Layers()
	part := model.Part{First: r.Start, Last: r.End}
	if n.stage == nil || part != n.part || a.Manifest != n.ref {
		n.release()
		n.status(ctx, a.Epoch, swarm.StateLoading, fmt.Sprintf("loading layers [%d,%d)", r.Start, r.End))
		if err := n.load(setup, a, part); err != nil {
			return err
		}
	}
	s := &serving{epoch: a.Epoch, assign: a, digest: digest, done: make(chan struct{})}
	srv, err := pipeline.NewServer(pipeline.ServerConfig{Stage: n.stage, Model: n.weights.Config, Plan: a.Epoch,
		EOS: n.weights.EOS, Limits: n.cfg.Limits, Groups: groups(n.cfg.Stage.Groups, len(a.Pipeline)), Report: func(l string) { n.log.Warn(l) }, Trace: n.cfg.Trace})
	if err != nil {
		return err
	}
	s.server = srv
	sctx, cancel := context.WithCancel(ctx)
	s.cancel = cancel
	// Serve this epoch's incoming links before dialling our own: in the
	// ring every stage dials its next while its previous dials it.
	n.mu.Lock()
	n.serving = s
	keep := n.pending[:0]
	for _, in := range n.pending {
		switch {
		case in.hello.Plan == s.epoch:
			n.attach(s, in)
		case in.hello.Plan > s.epoch:
			keep = append(keep, in)
		default:
			in.conn.Close()
		}
	}
	n.pending = keep
	n.mu.Unlock()
	if len(a.Pipeline) > 1 {
		down, err := n.dialStage(setup, a.Next(), n.hello(s))
		if err != nil {
			n.mu.Lock()
			n.serving = nil
			n.mu.Unlock()
			cancel()
			srv.Close() // closes what was attached
			close(s.done)
			return fmt.Errorf("node: linking to next stage %s: %w", a.Next(), err)
		}
		srv.SetDownstream(down)
	}
	n.wg.Add(2)
	go func() { defer n.wg.Done(); n.report(sctx, s) }()
	go func() {
		defer n.wg.Done()
		defer close(s.done)
		err := srv.Run(sctx)
		n.mu.Lock()
		n.stats = srv.Stats()
		n.hand.end(s.epoch)
		n.mu.Unlock()
		if err != nil && sctx.Err() == nil {
			n.log.Warn("pipeline stopped", "epoch", s.epoch, "err", err)
			n.status(ctx, s.epoch, swarm.StateFailed, err.Error())
		}
	}()
	if err := n.sig.Send(ctx, &swarm.Ready{Epoch: a.Epoch}); err != nil {
		return err
	}
	n.status(ctx, a.Epoch, swarm.StateServing, "")
	n.log.Info("serving", "epoch", a.Epoch, "layers", fmt.Sprintf("[%d,%d)", r.Start, r.End), "stage", a.Stage, "of", len(a.Pipeline))
	return nil
}

// dialStage links to a stage of the plan and exchanges Hellos.
// Each attempt has stageAttemptTimeout; a link whose Hello goes unanswered
// (the peer still loading, or a handshake lost in a rare race at channel
// open) is dropped and dialled afresh until handshakeTimeout, after a pause
// that doubles from redialPause to a second: an attempt that fails at once
// must not spin. Dialling goes through signaling, so it stops when
// signaling ends (the inbox loop may have ended before this assignment
// began, leaving nobody to cancel it).
func (n *Node) dialStage(ctx context.Context, peer string, local *pipeline.Hello) (*linkConn, error) {
	ctx, cancel := context.WithTimeout(ctx, handshakeTimeout)
	defer cancel()
	var last error
	for attempt := 1; ctx.Err() == nil; attempt++ {
		if attempt > 1 {
			pause := time.NewTimer(min(redialPause<<min(attempt-2, 10), time.Second))
			select {
			case <-pause.C:
			case <-ctx.Done():
			case <-n.sig.Done():
			}
			pause.Stop()
			if ctx.Err() != nil {
				break
			}
		}
		select {
		case <-n.sig.Done():
			return nil, fmt.Errorf("node: no link to %s: signaling ended: %w", peer, n.sig.Err())
		default:
		}
		actx, acancel := context.WithTimeout(ctx, stageAttemptTimeout)
		l, err := n.links.Dial(actx, peer)
		if err == nil {
			c := newLinkConn(l, n.cfg.Limits)
			if _, err = greet(actx, c, local); err == nil {
				acancel()
				return c, nil
			}
			c.Close()
		}
		acancel()
		last = err
		if errors.Is(err, errHelloRefused) {
			return nil, err // another protocol or model: for good
		}
		n.log.Warn("link to the next stage not ready; dialling again", "peer", peer, "attempt", attempt, "err", err)
	}
	if last == nil {
		last = ctx.Err()
	}
	return nil, fmt.Errorf("node: no link to %s within %v: %w", peer, handshakeTimeout, last)
}

func (n *Node) load(ctx context.Context, a *swarm.Assign, part model.Part) error {
	start := time.Now()
	w, err := n.cfg.Models.Open(ctx, a.Manifest, part, func(done, total int64) {
		n.statusBytes(ctx, a.Epoch, done, total)
	})
	if err != nil {
		return err
	}
	sc := n.cfg.Stage
	if sc.Context <= 0 {
		sc.Context = min(w.Config.Context, 2048)
	}
	st, err := shard.NewStage(n.cfg.Device, w.Source, w.Config, part, shard.StageConfig{Slots: sc.Slots, Context: sc.Context, MaxBatch: sc.MaxBatch, KV: sc.KV})
	if err != nil {
		w.Close()
		return err
	}
	n.stage, n.weights, n.part, n.ref = st, w, part, a.Manifest
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	n.log.Info("loaded", "layers", fmt.Sprintf("[%d,%d)", part.First, part.Last), "in", time.Since(start).Round(time.Millisecond), "heap", ms.HeapInuse)
	return nil
}

// handAssign is the assignment a node has taken last. A plan's assignments
// are fixed for its epoch, so another assignment for the same epoch while
// the one in hand is still being set up or served can only be a repeat or
// a contradiction, and acting on it would tear down a working pipeline:
// the planner answers a node's join with a standby for the current plan
// when that plan is unchanged, and when the join is processed after the
// plan already included the node, the standby reaches a stage of the
// plan (seen as a ring that stalls for good about once in 40 starts of 4
// nodes). Older epochs are stale. A same-epoch assignment is taken again
// once the one in hand has ended (failed or stopped), and always when the
// node holds no stage.
type handAssign struct {
	epoch uint64
	stage int
	held  bool // an assignment has been taken
	ended bool
}

// take reports whether a should be acted on, and if so makes it the one in
// hand.
func (h *handAssign) take(a *swarm.Assign) bool {
	if h.held && (a.Epoch < h.epoch || (a.Epoch == h.epoch && h.stage >= 0 && !h.ended)) {
		return false
	}
	*h = handAssign{epoch: a.Epoch, stage: a.Stage, held: true}
	return true
}

// end marks the assignment of epoch as over, if it is still the one in hand.
func (h *handAssign) end(epoch uint64) {
	if h.held && h.epoch == epoch {
		h.ended = true
	}
}

// groups is the session groups a stage of a pipeline of n stages batches
// separately: the configured number, else one per stage but no more than
// this machine's cores. With one node per machine every stage computes at
// once and one group per stage keeps them all busy; nodes sharing a
// machine compute at most one batch per core at once, and smaller batches
// only cost more (4 nodes on 2 cores, 8 sessions: 1 group ~960 tok/s,
// 2 groups ~1150, 4 groups ~820). A node cannot tell whether it shares
// its machine, so the cores bound the default.
func groups(configured, n int) int {
	if configured > 0 {
		return configured
	}
	return max(1, min(n, runtime.NumCPU()))
}

// stopServing ends the current epoch's server and waits for it.
func (n *Node) stopServing() {
	n.mu.Lock()
	s := n.serving
	n.serving = nil
	n.mu.Unlock()
	if s != nil {
		s.cancel()
		<-s.done
	}
}

func (n *Node) release() {
	if n.stage != nil {
		n.stage.Release()
		n.stage = nil
	}
	if n.weights != nil {
		n.weights.Close()
		n.weights = nil
	}
	n.part, n.ref = model.Part{}, swarm.ManifestRef{}
}

func (n *Node) status(ctx context.Context, epoch uint64, state swarm.PeerState, msg string) {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	_ = n.sig.Send(ctx, &swarm.Status{Epoch: epoch, State: state, Message: truncateText(msg, 200), HeapBytes: ms.HeapInuse})
}

func (n *Node) statusBytes(ctx context.Context, epoch uint64, done, total int64) {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	_ = n.sig.Send(ctx, &swarm.Status{Epoch: epoch, State: swarm.StateLoading, LoadedBytes: uint64(done), TotalBytes: uint64(total), HeapBytes: ms.HeapInuse})
}

func truncateText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

func parseDigest(s string) ([32]byte, error) {
	var d [32]byte
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != 32 {
		return d, fmt.Errorf("node: manifest digest %q is not 64 hex digits", s)
	}
	copy(d[:], b)
	return d, nil
}
