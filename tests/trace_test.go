package tests

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tabshard/tabshard/pipeline"
)

// stageTrace is one node's trace inside a time window: when each point
// first passed each position.
type stageTrace map[pipeline.TraceKind]map[uint32]time.Time

// readTraces reads the trace files matching pattern (node --trace),
// keeping the points between from and to.
func readTraces(pattern string, from, to time.Time) ([]stageTrace, error) {
	paths, err := filepath.Glob(pattern)
	if err != nil {
		return nil, err
	}
	var out []stageTrace
	for _, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			return nil, err
		}
		st, err := parseTrace(f, from, to)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		if len(st) > 0 {
			out = append(out, st)
		}
	}
	return out, nil
}

func parseTrace(r io.Reader, from, to time.Time) (stageTrace, error) {
	st := stageTrace{}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 4 {
			return nil, fmt.Errorf("bad line %q", sc.Text())
		}
		ns, err1 := strconv.ParseInt(f[0], 10, 64)
		kind, ok := pipeline.ParseTraceKind(f[1])
		pos, err2 := strconv.ParseUint(f[2], 10, 32)
		if err1 != nil || err2 != nil || !ok {
			return nil, fmt.Errorf("bad line %q", sc.Text())
		}
		at := time.Unix(0, ns)
		if at.Before(from) || at.After(to) {
			continue
		}
		if st[kind] == nil {
			st[kind] = map[uint32]time.Time{}
		}
		if _, seen := st[kind][uint32(pos)]; !seen {
			st[kind][uint32(pos)] = at
		}
	}
	return st, sc.Err()
}

// tokenBreakdown splits one session's time per token along the ring:
// each stage's forward pass, each hop (results queued on one stage until
// decoded on the next), the last stage's sampling, and the rest.
type tokenBreakdown struct {
	tokens   int
	period   []time.Duration   // first stage's forward start to the next one's
	forward  [][]time.Duration // per stage
	hop      [][]time.Duration // per stage, to the next (the last: round the ring)
	sampling []time.Duration
}

// breakdown orders the stages by when they computed a position and
// collects each token's durations. Positions not seen by every point
// (the prompt, the last token) are left out.
func breakdown(stages []stageTrace) (*tokenBreakdown, error) {
	var common uint32
	found := false
	for p := range stages[0][pipeline.TraceForward] {
		all := true
		for _, st := range stages[1:] {
			if _, ok := st[pipeline.TraceForward][p]; !ok {
				all = false
			}
		}
		if all && (!found || p > common) {
			common, found = p, true
		}
	}
	if !found {
		return nil, fmt.Errorf("no position computed by all %d stages", len(stages))
	}
	slices.SortFunc(stages, func(a, b stageTrace) int {
		return a[pipeline.TraceForward][common].Compare(b[pipeline.TraceForward][common])
	})
	n := len(stages)
	b := &tokenBreakdown{forward: make([][]time.Duration, n), hop: make([][]time.Duration, n)}
	first, last := stages[0], stages[n-1]
	for p, start := range first[pipeline.TraceForward] {
		next, ok := first[pipeline.TraceForward][p+1]
		if !ok {
			continue
		}
		var fwd, hop []time.Duration
		for i, st := range stages {
			f0, ok0 := st[pipeline.TraceForward][p]
			f1, ok1 := st[pipeline.TraceForwarded][p]
			sent, ok2 := st[pipeline.TraceSent][p]
			recvPos := p
			if i == n-1 {
				recvPos = p + 1 // the sampled token starts the next row
			}
			recv, ok3 := stages[(i+1)%n][pipeline.TraceReceived][recvPos]
			if !ok0 || !ok1 || !ok2 || !ok3 {
				fwd = nil
				break
			}
			fwd = append(fwd, f1.Sub(f0))
			hop = append(hop, recv.Sub(sent))
		}
		sampled, ok := last[pipeline.TraceSampled][p]
		if fwd == nil || !ok {
			continue
		}
		b.tokens++
		b.period = append(b.period, next.Sub(start))
		for i := range stages {
			b.forward[i] = append(b.forward[i], fwd[i])
			b.hop[i] = append(b.hop[i], hop[i])
		}
		b.sampling = append(b.sampling, sampled.Sub(last[pipeline.TraceForwarded][p]))
	}
	if b.tokens == 0 {
		return nil, fmt.Errorf("no token traced through all %d stages", n)
	}
	return b, nil
}

// quantile of d (sorted in place), in microseconds.
func quantile(d []time.Duration, q float64) float64 {
	slices.Sort(d)
	return float64(d[min(len(d)-1, int(q*float64(len(d))))].Nanoseconds()) / 1e3
}

// print writes the medians (and the hops' 99th percentiles) per stage.
func (b *tokenBreakdown) print(w io.Writer) {
	n := len(b.forward)
	period := quantile(b.period, 0.5)
	fmt.Fprintf(w, "one session, per token (medians over %d tokens): %.0f µs\n", b.tokens, period)
	var fwd, hops float64
	for i := range n {
		f, h, h99 := quantile(b.forward[i], 0.5), quantile(b.hop[i], 0.5), quantile(b.hop[i], 0.99)
		fwd += f
		hops += h
		line := fmt.Sprintf("  stage %d: forward %.0f µs", i, f)
		if i == n-1 {
			s := quantile(b.sampling, 0.5)
			fwd += s
			line += fmt.Sprintf(", sampling %.0f µs", s)
		}
		fmt.Fprintf(w, "%s; hop to stage %d: p50 %.0f µs, p99 %.0f µs\n", line, (i+1)%n, h, h99)
	}
	fmt.Fprintf(w, "  compute %.0f µs, %d hops %.0f µs, the rest (decoding, queueing) %.0f µs\n", fwd, n, hops, period-fwd-hops)
}
