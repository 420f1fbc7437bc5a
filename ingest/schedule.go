package ingest

import (
	"context"
	"log/slog"
	"time"
)

// Schedule repeats a run on a fixed period. The zero value runs once.
type Schedule struct {
	// Every is the period from the start of one run to the start of the
	// next; 0 or less runs once.
	Every time.Duration
	// Runs is how many runs in all, with Every; 0 means until ctx ends.
	Runs int
	// Logger logs the time of the next run, at Info; nil: not logged.
	Logger *slog.Logger
}

// Run calls run now and then on s's schedule. A run that takes longer than
// Every is followed by the next at once. It returns run's first error, or
// nil once the runs are done or ctx ends between runs (a stopped schedule
// is not a failure; run sees ctx end itself).
func (s Schedule) Run(ctx context.Context, run func(context.Context) error) error {
	for n := 1; ; n++ {
		start := time.Now()
		if err := run(ctx); err != nil {
			return err
		}
		if s.Every <= 0 || (s.Runs > 0 && n >= s.Runs) {
			return nil
		}
		next := start.Add(s.Every)
		if s.Logger != nil {
			s.Logger.Info("next run scheduled", "at", next.Format(time.RFC3339))
		}
		t := time.NewTimer(time.Until(next))
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
	}
}
