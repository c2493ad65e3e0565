package pipeline

import (
	"context"
	"errors"
	"sync"

	"github.com/tabshard/tabshard/model"
	"github.com/tabshard/tabshard/shard"
)

// Local is a pipeline inside one process: a server per stage, linked by
// Pipes into the ring, and a client attached to the first stage. It is the
// whole system minus the network: the CLI and the API serve from it when no
// swarm is wanted, and tests compare it with the engine.
type Local struct {
	*Client
	cancel context.CancelFunc
	wg     sync.WaitGroup
	mu     sync.Mutex
	err    error
}

// StartLocal links stages (in pipeline order, covering the model) and
// serves them until Stop.
func StartLocal(stages []*shard.Stage, cfg model.Config, eos int32, lim Limits) (*Local, error) {
	if len(stages) == 0 {
		return nil, errors.New("pipeline: no stages")
	}
	var servers []*Server
	for _, st := range stages {
		s, err := NewServer(ServerConfig{Stage: st, Model: cfg, Plan: 1, EOS: eos, Limits: lim})
		if err != nil {
			return nil, err
		}
		servers = append(servers, s)
	}
	if len(servers) > 1 {
		for i, s := range servers {
			a, b := Pipe(lim)
			s.SetDownstream(a)
			servers[(i+1)%len(servers)].AddUpstream(b)
		}
	}
	clientEnd, stageEnd := Pipe(lim)
	servers[0].AddClient(stageEnd)
	ctx, cancel := context.WithCancel(context.Background())
	l := &Local{Client: NewClient(lim), cancel: cancel}
	for _, s := range servers {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			if err := s.Run(ctx); err != nil && ctx.Err() == nil {
				l.mu.Lock()
				l.err = err
				l.mu.Unlock()
				cancel()         // one stage failing stops the ring
				l.Client.Close() // and its sessions end with an error
			}
		}()
	}
	l.Attach(clientEnd)
	return l, nil
}

// Stop ends every session and stage, and returns the first stage error.
func (l *Local) Stop() error {
	l.Client.Close()
	l.cancel()
	l.wg.Wait()
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.err
}
