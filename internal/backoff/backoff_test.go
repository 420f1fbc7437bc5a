package backoff_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/userstream/userstream/internal/backoff"
)

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		b  backoff.Backoff
		ok bool
	}{
		{backoff.Backoff{Min: time.Millisecond, Max: time.Second}, true},
		{backoff.Backoff{Min: time.Second, Max: time.Second}, true},
		{backoff.Backoff{Min: 0, Max: time.Second}, false},
		{backoff.Backoff{Min: -time.Second, Max: time.Second}, false},
		{backoff.Backoff{Min: 2 * time.Second, Max: time.Second}, false},
	} {
		if err := tc.b.Validate(); (err == nil) != tc.ok {
			t.Errorf("%+v.Validate() = %v, want ok %v", tc.b, err, tc.ok)
		}
	}
}

func TestCeilingDoublesUpToMax(t *testing.T) {
	b := backoff.Backoff{Min: 100 * time.Millisecond, Max: time.Second}
	want := map[int]time.Duration{
		-3: 100 * time.Millisecond, 0: 100 * time.Millisecond, 1: 100 * time.Millisecond,
		2: 200 * time.Millisecond, 3: 400 * time.Millisecond, 4: 800 * time.Millisecond,
		5: time.Second, 6: time.Second, 63: time.Second, 64: time.Second, 1 << 30: time.Second,
	}
	for attempt, w := range want {
		if got := b.Ceiling(attempt); got != w {
			t.Errorf("Ceiling(%d) = %v, want %v", attempt, got, w)
		}
	}
	// A Max near the largest duration must not overflow into a negative
	// or smaller ceiling.
	huge := backoff.Backoff{Min: time.Hour, Max: time.Duration(1<<63 - 1)}
	prev := time.Duration(0)
	for attempt := 1; attempt < 80; attempt++ {
		c := huge.Ceiling(attempt)
		if c < prev || c <= 0 {
			t.Fatalf("Ceiling(%d) = %v after %v: not monotonic", attempt, c, prev)
		}
		prev = c
	}
}

func TestDelayIsInTheUpperHalf(t *testing.T) {
	b := backoff.Backoff{Min: 10 * time.Millisecond, Max: 80 * time.Millisecond}
	for attempt := 1; attempt <= 6; attempt++ {
		c := b.Ceiling(attempt)
		lo, hi := c, time.Duration(0)
		for range 2000 {
			d := b.Delay(attempt)
			if d < c/2 || d > c {
				t.Fatalf("Delay(%d) = %v, want within [%v, %v]", attempt, d, c/2, c)
			}
			lo, hi = min(lo, d), max(hi, d)
		}
		// Jitter: 2,000 draws over millions of nanoseconds are not all
		// equal (the chance that they are is nil).
		if lo == hi {
			t.Errorf("Delay(%d) always %v: no jitter", attempt, lo)
		}
	}
	if d := (backoff.Backoff{Min: 1, Max: 1}).Delay(1); d != 0 && d != 1 {
		t.Errorf("Delay of a 1ns backoff = %v", d)
	}
}

func TestWaitEndsWithContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	b := backoff.Backoff{Min: time.Hour, Max: time.Hour}
	if err := b.Wait(ctx, 1); !errors.Is(err, context.Canceled) {
		t.Errorf("Wait on a cancelled context = %v, want context.Canceled", err)
	}
	if err := (backoff.Backoff{Min: time.Nanosecond, Max: time.Nanosecond}).Wait(context.Background(), 3); err != nil {
		t.Errorf("Wait = %v, want nil", err)
	}
}
