package node

import (
	"context"
	"runtime"
	"slices"
	"time"

	"github.com/tabshard/tabshard/pipeline"
	"github.com/tabshard/tabshard/swarm"
)

// reportEvery spaces the status reports of a serving node (the server also
// rate-limits messages; one a second is far below its limit).
const reportEvery = time.Second

// report sends the serving stage's throughput, load and hop latency to the
// signaling server (which shows them on the dashboard) until ctx ends.
func (n *Node) report(ctx context.Context, s *serving) {
	t := time.NewTicker(reportEvery)
	defer t.Stop()
	prev, prevAt := s.server.Stats(), time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			st := s.server.Stats()
			dt := now.Sub(prevAt).Seconds()
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			p50, p99 := hopLatency(st)
			status := &swarm.Status{
				Epoch:      s.epoch,
				State:      swarm.StateServing,
				HeapBytes:  ms.HeapInuse,
				TokensPerS: float64(st.Rows-prev.Rows) / dt,
				Sessions:   st.Sessions,
				Busy:       min(1, (st.Busy-prev.Busy).Seconds()/dt),
				HopP50Ms:   p50,
				HopP99Ms:   p99,
			}
			_ = n.sig.Send(ctx, status)
			prev, prevAt = st, now
		}
	}
}

// hopLatency is the median and 99th percentile one-way latency to the next
// stage, in milliseconds: half the ping round trips.
func hopLatency(st pipeline.Stats) (p50, p99 float64) {
	if len(st.HopRTT) == 0 {
		return 0, 0
	}
	rtt := slices.Clone(st.HopRTT)
	slices.Sort(rtt)
	at := func(q float64) float64 {
		return rtt[min(len(rtt)-1, int(q*float64(len(rtt))))].Seconds() * 1e3 / 2
	}
	return at(0.50), at(0.99)
}
