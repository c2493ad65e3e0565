package cpu

import "sync/atomic"

// parallel runs fn over [0,n) in chunks of at least grain items and returns
// when every chunk is done. The calling goroutine works through chunks
// itself, and up to d.threads-1 helper goroutines take chunks from the same
// counter, so a helper the scheduler starts late (the machine is busy, or
// the op is tiny) costs nothing: the caller does not wait for helpers to
// start or exit, only for chunks a helper has already taken. A helper that
// finds no chunk left exits at once without touching fn, so fn and the
// buffers it captures are never used after parallel returns.
func (d *Device) parallel(n, grain int, fn func(lo, hi int)) {
	if n <= 0 {
		return
	}
	if grain < 1 {
		grain = 1
	}
	workers := min(d.threads, (n+grain-1)/grain)
	if workers <= 1 {
		fn(0, n)
		return
	}
	// About four chunks per worker balances load without much overhead.
	chunk := max(grain, (n+workers*4-1)/(workers*4))
	chunks := int64((n + chunk - 1) / chunk)
	j := &parallelJob{n: n, chunk: chunk, chunks: chunks, fn: fn, done: make(chan struct{})}
	for w := 1; w < workers; w++ {
		go j.work()
	}
	j.work()
	if j.finished.Load() < chunks {
		<-j.done
	}
}

// parallelJob is one parallel call's shared state.
type parallelJob struct {
	n, chunk int
	chunks   int64
	fn       func(lo, hi int)
	next     atomic.Int64  // next chunk to take
	finished atomic.Int64  // chunks completed
	done     chan struct{} // closed by whoever completes the last chunk
}

func (j *parallelJob) work() {
	for {
		c := j.next.Add(1) - 1
		if c >= j.chunks {
			return
		}
		lo := int(c) * j.chunk
		j.fn(lo, min(lo+j.chunk, j.n))
		if j.finished.Add(1) == j.chunks {
			close(j.done)
		}
	}
}

// minChunkWeights is the least work worth handing to another goroutine:
// a few microseconds of multiply-adds, well above the cost of the handoff.
const minChunkWeights = 32 << 10

// minChunkRows is the grain, in rows of cols weights, of a parallel matmul.
func minChunkRows(cols int) int { return max(1, minChunkWeights/max(cols, 1)) }
