package randomuser

import (
	"context"
	"errors"
	"testing"
	"time"
)

// The bucket is internal; its arithmetic is checked with a fake clock.
func TestBucket(t *testing.T) {
	now := time.Unix(1000, 0)
	b := newBucket(20000, 5*time.Minute) // the public limit: 66.67 users/s
	b.now = func() time.Time { return now }
	if d := b.reserve(5000); d != 0 {
		t.Errorf("first page waits %v", d)
	}
	for range 3 {
		b.reserve(5000)
	}
	// The burst is spent: the next page needs 5000/66.67 = 75s.
	if d := b.reserve(5000); d != 75*time.Second {
		t.Errorf("fifth page waits %v, want 75s", d)
	}
	// A second caller queues behind the first one's reservation.
	if d := b.reserve(5000); d != 150*time.Second {
		t.Errorf("sixth page waits %v, want 150s", d)
	}
	now = now.Add(150 * time.Second)
	if d := b.reserve(1); d <= 0 || d > time.Second {
		t.Errorf("after paying the debt, one user waits %v", d)
	}
	b.refund(10001)
	now = now.Add(time.Hour)
	if d := b.reserve(20000); d != 0 {
		t.Errorf("refill is not capped at the burst: wait %v", d)
	}
	if d := b.reserve(1); d == 0 {
		t.Error("tokens above the burst")
	}
}

func TestBucketWaitRefundsOnCancel(t *testing.T) {
	b := newBucket(10, time.Hour)
	ctx, cancel := context.WithCancel(context.Background())
	if err := b.wait(ctx, 10); err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := b.wait(ctx, 5); !errors.Is(err, context.Canceled) {
		t.Errorf("wait = %v", err)
	}
	if b.tokens < -0.01 {
		t.Errorf("tokens = %v, the cancelled reservation was not refunded", b.tokens)
	}
}
