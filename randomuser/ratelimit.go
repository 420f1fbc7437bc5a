package randomuser

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// bucket is a token bucket counted in users. Waiters reserve their tokens
// up front (the balance may go negative), so concurrent callers are served
// in arrival order and a large request cannot be starved by small ones.
type bucket struct {
	mu     sync.Mutex
	rate   float64 // tokens per second
	burst  float64
	tokens float64
	last   time.Time
	now    func() time.Time
}

func newBucket(users int, per time.Duration) *bucket {
	return &bucket{
		rate:   float64(users) / per.Seconds(),
		burst:  float64(users),
		tokens: float64(users),
		now:    time.Now,
	}
}

// reserve takes n tokens and returns how long to wait before using them.
func (b *bucket) reserve(n int) time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.now()
	if !b.last.IsZero() {
		b.tokens = min(b.burst, b.tokens+now.Sub(b.last).Seconds()*b.rate)
	}
	b.last = now
	b.tokens -= float64(n)
	if b.tokens >= 0 {
		return 0
	}
	return time.Duration(-b.tokens / b.rate * float64(time.Second))
}

func (b *bucket) refund(n int) {
	b.mu.Lock()
	b.tokens = min(b.burst, b.tokens+float64(n))
	b.mu.Unlock()
}

// wait blocks until n tokens are available. If the context ends first, or
// its deadline is too close for the wait, the tokens are given back.
func (b *bucket) wait(ctx context.Context, n int) error {
	d := b.reserve(n)
	if d <= 0 {
		return nil
	}
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < d {
		b.refund(n)
		return fmt.Errorf("randomuser: client rate limit needs a %v wait, past the context deadline: %w", d.Round(time.Millisecond), context.DeadlineExceeded)
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		b.refund(n)
		return ctx.Err()
	}
}
