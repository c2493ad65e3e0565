//go:build !js

// The server runs natively only; tabs use the client.

package swarm

import (
	"fmt"
	"time"
)

// RateLimit bounds how many messages one connection may send: a token bucket
// refilled at PerSecond, holding at most Burst messages.
type RateLimit struct {
	PerSecond float64
	Burst     int
}

func (r RateLimit) validate() error {
	if !(r.PerSecond > 0 && r.PerSecond <= 1e6) {
		return fmt.Errorf("rate limit: per-second rate %v out of range (0, 1e6]", r.PerSecond)
	}
	if r.Burst < 1 || r.Burst > 1e6 {
		return fmt.Errorf("rate limit: burst %d out of range [1, 1e6]", r.Burst)
	}
	return nil
}

// bucket is a token bucket owned by one connection's read loop (not safe for
// concurrent use; it needs none).
type bucket struct {
	limit  RateLimit
	tokens float64
	last   time.Time
}

func newBucket(l RateLimit, now time.Time) *bucket {
	return &bucket{limit: l, tokens: float64(l.Burst), last: now}
}

// allow takes one token if there is one.
func (b *bucket) allow(now time.Time) bool {
	if d := now.Sub(b.last); d > 0 {
		b.tokens += d.Seconds() * b.limit.PerSecond
		if b.tokens > float64(b.limit.Burst) {
			b.tokens = float64(b.limit.Burst)
		}
		b.last = now
	}
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}
