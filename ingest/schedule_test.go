package ingest_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/userstream/userstream/ingest"
)

func TestSchedule(t *testing.T) {
	ctx := context.Background()
	count := func(s ingest.Schedule) int {
		n := 0
		if err := s.Run(ctx, func(context.Context) error { n++; return nil }); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := count(ingest.Schedule{}); n != 1 {
		t.Errorf("zero schedule ran %d times, want 1", n)
	}
	if n := count(ingest.Schedule{Every: time.Nanosecond, Runs: 3}); n != 3 {
		t.Errorf("Runs 3 ran %d times", n)
	}

	boom := errors.New("boom")
	n := 0
	err := ingest.Schedule{Every: time.Nanosecond}.Run(ctx, func(context.Context) error {
		if n++; n == 2 {
			return boom
		}
		return nil
	})
	if !errors.Is(err, boom) || n != 2 {
		t.Errorf("%v after %d runs, want boom after 2", err, n)
	}

	// Stopped between runs: no error, no further run.
	cctx, cancel := context.WithCancel(ctx)
	n = 0
	err = ingest.Schedule{Every: time.Hour}.Run(cctx, func(context.Context) error { n++; cancel(); return nil })
	if err != nil || n != 1 {
		t.Errorf("%v after %d runs, want nil after 1", err, n)
	}
}
