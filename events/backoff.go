package events

import (
	"context"
	"math/rand/v2"
	"time"
)

// backoff is an exponential backoff with full jitter on the upper half.
type backoff struct {
	min, max time.Duration
	cur      time.Duration
}

// next returns the next delay and advances.
func (b *backoff) next() time.Duration {
	switch {
	case b.cur == 0:
		b.cur = b.min
	case b.cur < b.max:
		b.cur = min(b.cur*2, b.max)
	}
	half := b.cur / 2
	if half <= 0 {
		return b.cur
	}
	return half + rand.N(half+1)
}

// reset returns the backoff to its start.
func (b *backoff) reset() { b.cur = 0 }

// sleepCtx waits for d or until ctx ends; it reports whether d elapsed.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
