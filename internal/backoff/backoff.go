// Package backoff computes the waits between retries of a failing call:
// exponential, capped, with jitter. Every package of the module that retries
// (randomuser, kafkasink, kafkasink/outbox) uses it, so their
// WithBackoff(min, max) options mean the same thing. It is internal: the
// options are the public surface, the arithmetic behind them is not.
//
//	b := backoff.Backoff{Min: 100 * time.Millisecond, Max: 10 * time.Second}
//	for attempt := 1; ; attempt++ {
//		if err = call(ctx); err == nil || !retryable(err) {
//			break
//		}
//		if err := b.Wait(ctx, attempt); err != nil {
//			return err // ctx ended
//		}
//	}
package backoff

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"
)

// Backoff is an exponential backoff with jitter. After the n-th failure in
// a row the ceiling is Min·2^(n-1), capped at Max, and the wait is drawn at
// random from the upper half of the ceiling ("equal jitter"): clients that
// failed together do not retry in lockstep, and none retries much sooner
// than the ceiling says. A Backoff is a plain value, safe for concurrent
// use; the caller counts its failures.
type Backoff struct {
	Min time.Duration // the ceiling after the first failure; above 0
	Max time.Duration // the largest ceiling; at least Min
}

// Validate reports an error unless 0 < Min <= Max.
func (b Backoff) Validate() error {
	if b.Min <= 0 || b.Max < b.Min {
		return fmt.Errorf("backoff %v..%v: want 0 < min <= max", b.Min, b.Max)
	}
	return nil
}

// Ceiling returns the longest wait after the attempt-th failure in a row
// (1 for the first): Min doubled attempt-1 times, capped at Max. Attempts
// below 1 count as 1.
func (b Backoff) Ceiling(attempt int) time.Duration {
	n := max(attempt-1, 0)
	if n >= 62 || b.Min > b.Max>>n {
		return b.Max
	}
	return b.Min << n
}

// Delay returns a wait after the attempt-th failure in a row (1 for the
// first): a random duration in [Ceiling/2, Ceiling].
func (b Backoff) Delay(attempt int) time.Duration {
	c := b.Ceiling(attempt)
	if c <= 0 {
		return 0
	}
	return c/2 + rand.N(c-c/2+1)
}

// Wait sleeps for Delay(attempt), or until ctx ends; then it returns
// ctx.Err(), so a retry loop stops waiting as soon as it is cancelled.
func (b Backoff) Wait(ctx context.Context, attempt int) error {
	t := time.NewTimer(b.Delay(attempt))
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
