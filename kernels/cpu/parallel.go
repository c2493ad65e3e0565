package cpu

import (
	"sync"
	"sync/atomic"
)

// parallel runs fn over [0,n) in chunks of at least grain items on up to
// d.threads goroutines, and returns when all are done. Chunks are handed out
// dynamically so a slow core does not hold the others back.
func (d *Device) parallel(n, grain int, fn func(lo, hi int)) {
	if n <= 0 {
		return
	}
	if grain < 1 {
		grain = 1
	}
	workers := d.threads
	if max := (n + grain - 1) / grain; workers > max {
		workers = max
	}
	if workers <= 1 {
		fn(0, n)
		return
	}
	// About four chunks per worker balances load without much overhead.
	chunk := (n + workers*4 - 1) / (workers * 4)
	if chunk < grain {
		chunk = grain
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	wg.Add(workers)
	for w := 0; w < workers; w++ {
		go func() {
			defer wg.Done()
			for {
				lo := int(next.Add(int64(chunk))) - chunk
				if lo >= n {
					return
				}
				fn(lo, min(lo+chunk, n))
			}
		}()
	}
	wg.Wait()
}
