package runledger

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"time"
)

// Progress keeps the ledger row of a running run current and can show the
// run's progress as a line, from a goroutine of its own, until stopped:
// what a scheduler's or an operator's view of a long run needs. Fill the
// fields, then call [Progress.Start].
type Progress struct {
	// Sample returns the run so far (its counts, RunID and StartedAt); it
	// is called once a tick from Progress's goroutine. Required.
	Sample func(ctx context.Context) Run
	// Ledger, when set, gets the sample, with StatusRunning, every fifth
	// tick ([Ledger.Update]); its failures are logged, not returned. This
	// is the run's heartbeat: five ticks must stay well within the
	// ledger's lease ([WithLease]), or the run reads as abandoned.
	Ledger *Ledger
	// Line formats the progress line of a sample; nil: no line.
	Line func(r Run, elapsed time.Duration) string
	// Out is where lines go; nil: standard error.
	Out io.Writer
	// Live rewrites one line in place every tick, for a terminal; otherwise
	// a new line is written every fifth tick, for a log file.
	Live bool
	// Tick is the period of the samples; 0: one second.
	Tick time.Duration
	// Logger gets failed ledger updates at Warn; nil: slog.Default().
	Logger *slog.Logger
}

// Start starts sampling run's progress until stop is called or ctx ends.
// stop waits for the goroutine to finish (so no line is written after it
// returns) and ends a live line with a newline; it may be called more
// than once. Start panics without a Sample.
func (p Progress) Start(ctx context.Context, run Run) (stop func()) {
	if p.Sample == nil {
		panic("runledger: Progress without a Sample")
	}
	out, tick, log := p.Out, p.Tick, p.Logger
	if out == nil {
		out = os.Stderr
	}
	if tick <= 0 {
		tick = time.Second
	}
	if log == nil {
		log = slog.Default()
	}
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(tick)
		defer t.Stop()
		printed := false
		for n := 1; ; n++ {
			select {
			case <-ctx.Done():
				if printed && p.Live {
					fmt.Fprintln(out)
				}
				return
			case <-t.C:
			}
			r := p.Sample(ctx)
			if p.Ledger != nil && n%5 == 0 {
				r.Status = StatusRunning
				if err := p.Ledger.Update(ctx, r); err != nil {
					log.Warn("ledger update", "err", err)
				}
			}
			if p.Line == nil || (!p.Live && n%5 != 0) {
				continue
			}
			line := p.Line(r, time.Since(run.StartedAt))
			if p.Live {
				fmt.Fprintf(out, "\r\033[K%s", line)
			} else {
				fmt.Fprintln(out, line)
			}
			printed = true
		}
	})
	return func() {
		cancel()
		wg.Wait()
	}
}
