package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/userstream/userstream/runledger"
)

type progress struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

func (pr *progress) stop() {
	pr.cancel()
	pr.wg.Wait()
}

// startProgress keeps the run's ledger row and the lag gauge current, and
// with -progress prints a live line on standard error, until stopped.
func (p *pipeline) startProgress(ctx context.Context, run runledger.Run) *progress {
	ctx, cancel := context.WithCancel(ctx)
	pr := &progress{cancel: cancel}
	tty := isTerminal(os.Stderr)
	pr.wg.Go(func() {
		t := time.NewTicker(time.Second)
		defer t.Stop()
		printed := false
		for n := 1; ; n++ {
			select {
			case <-ctx.Done():
				if printed && tty {
					fmt.Fprintln(os.Stderr)
				}
				return
			case <-t.C:
			}
			r := p.counted(run)
			lag := "?"
			if l, err := p.lag(ctx); err == nil {
				lag = thousands(p.m.setLag(l))
			}
			if n%5 == 0 {
				r.Status = runledger.StatusRunning
				if err := p.ledger.Update(ctx, r); err != nil {
					p.log.Warn("ledger update", "err", err)
				}
			}
			if !p.cfg.progress || (!tty && n%5 != 0) {
				continue
			}
			elapsed := time.Since(run.StartedAt)
			line := fmt.Sprintf("%5.0fs  stored %s  dlq %s  lag %s  %s/s", elapsed.Seconds(),
				thousands(r.Stored), thousands(r.DeadLettered), lag, thousands(int64(float64(r.Stored)/elapsed.Seconds())))
			if tty {
				fmt.Fprintf(os.Stderr, "\r\033[K%s", line)
			} else {
				fmt.Fprintln(os.Stderr, line)
			}
			printed = true
		}
	})
	return pr
}

// writeSummary prints what a run did.
func writeSummary(w io.Writer, c config, r runledger.Run, took time.Duration) {
	fmt.Fprintf(w, "\nrun %s: %s in %s\n", r.RunID, r.Status, took.Round(time.Millisecond))
	if r.Error != "" {
		fmt.Fprintf(w, "  error        %s\n", r.Error)
	}
	fmt.Fprintf(w, "  stored       %s rows in Cassandra %s.%s\n", thousands(r.Stored), c.keyspace, c.table)
	fmt.Fprintf(w, "  dead-letter  %s records this run\n", thousands(r.DeadLettered))
}

// thousands formats n with thousands separators, readable at a glance.
func thousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	for i := len(s) - 3; i > 0 && s[i-1] != '-'; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
