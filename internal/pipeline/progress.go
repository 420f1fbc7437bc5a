package pipeline

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"
)

type progress struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

func (pr *progress) stop() {
	pr.cancel()
	pr.wg.Wait()
}

// startProgress prints a live line on standard error (with -progress) and
// keeps the run's ledger row and lag gauges current, until stopped.
func (p *Pipeline) startProgress(ctx context.Context, runID string, c *Counters, base RunRecord, start time.Time) *progress {
	ctx, cancel := context.WithCancel(ctx)
	pr := &progress{cancel: cancel}
	tty := isTerminal(os.Stderr)
	pr.wg.Go(func() {
		t := time.NewTicker(time.Second)
		defer t.Stop()
		var lastLedger time.Time
		printed := false
		for {
			select {
			case <-ctx.Done():
				if printed && tty {
					fmt.Fprintln(os.Stderr)
				}
				return
			case <-t.C:
			}
			r := p.snapshot(c).since(base)
			var lag int64 = -1
			if p.needs.Consume {
				if l, err := p.Lag(ctx); err == nil {
					lag = p.m.SetLag(l)
				}
			}
			if time.Since(lastLedger) >= 5*time.Second {
				r.RunID, r.Status = runID, StatusRunning
				if err := p.ledger.Update(ctx, r); err != nil {
					p.log.Warn("ledger update", "err", err)
				}
				lastLedger = time.Now()
			}
			if !p.cfg.Progress {
				continue
			}
			line := progressLine(r, lag, time.Since(start))
			if tty {
				fmt.Fprintf(os.Stderr, "\r\033[K%s", line)
			} else if int(time.Since(start).Seconds())%5 == 0 {
				fmt.Fprintln(os.Stderr, line)
			}
			printed = true
		}
	})
	return pr
}

func progressLine(r RunRecord, lag int64, elapsed time.Duration) string {
	var b strings.Builder
	secs := max(elapsed.Seconds(), 0.001)
	fmt.Fprintf(&b, "%5.0fs  fetched %s  staged %s (dup %s)  published %s  stored %s  dlq %s",
		elapsed.Seconds(), itoa(r.Fetched), itoa(r.Staged), itoa(r.Duplicates), itoa(r.Published),
		itoa(r.Stored), itoa(r.DeadLettered))
	if lag >= 0 {
		fmt.Fprintf(&b, "  lag %s", itoa(lag))
	}
	rate := r.Stored
	if rate == 0 {
		rate = r.Fetched
	}
	fmt.Fprintf(&b, "  %s/s", itoa(int64(float64(rate)/secs)))
	return b.String()
}

// writeSummary prints what a run did and what the final check found.
func writeSummary(w io.Writer, cfg Config, r Report) {
	fmt.Fprintf(w, "\nrun %s: %s in %s\n", r.RunID, r.Status, r.Duration.Round(time.Millisecond))
	if r.Error != "" {
		fmt.Fprintf(w, "  error        %s\n", r.Error)
	}
	if r.Kind != "consume" {
		fmt.Fprintf(w, "  fetched      %s users (%s invalid)\n", itoa(r.Fetched), itoa(r.Invalid))
		fmt.Fprintf(w, "  staged       %s new in PostgreSQL, %s already staged (duplicates)\n", itoa(r.Staged), itoa(r.Duplicates))
		fmt.Fprintf(w, "  published    %s to Kafka topic %s\n", itoa(r.Published), cfg.Topic)
	}
	if r.Kind != "ingest" {
		fmt.Fprintf(w, "  stored       %s rows in Cassandra %s.%s\n", itoa(r.Stored), cfg.Keyspace, cfg.Table)
		fmt.Fprintf(w, "  dead-letter  %s records this run", itoa(r.DeadLettered))
		if r.Verification != nil {
			fmt.Fprintf(w, "; %s in %s in all", itoa(r.DeadLetters), cfg.DLQTopic)
		}
		fmt.Fprintln(w)
	}
	if secs := r.Duration.Seconds(); secs > 0 && r.Kind == "full" && r.Stored > 0 {
		fmt.Fprintf(w, "  throughput   %s users/s fetched to stored", itoa(int64(float64(r.Stored)/secs)))
		if r.P99 > 0 {
			fmt.Fprintf(w, "; latency fetch to stored p50 %s, p99 %s", r.P50.Round(time.Millisecond), r.P99.Round(time.Millisecond))
		}
		fmt.Fprintln(w)
	}
	if v := r.Verification; v != nil {
		fmt.Fprintf(w, "  verified     %s of %s unique users fetched are in %s.%s; the table holds %s rows\n",
			itoa(int64(v.Found)), itoa(int64(v.Unique)), cfg.Keyspace, cfg.Table, itoa(r.TableRows))
		for _, id := range v.Missing {
			fmt.Fprintf(w, "  missing      %s\n", id)
		}
		for _, s := range v.Samples {
			fmt.Fprintf(w, "  sample       %s  %s %s <%s>, %s\n", s.ID, s.FirstName, s.LastName, s.Email, s.Address)
		}
	}
}
