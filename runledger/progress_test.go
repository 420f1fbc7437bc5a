package runledger_test

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/userstream/userstream/runledger"
)

// lockedBuffer is a bytes.Buffer safe for the Progress goroutine and the
// test.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// While a run goes on, its ledger row shows it running with its counts so
// far; lines go to Out, live ones ended by stop.
func TestProgress(t *testing.T) {
	l, _ := newLedger(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := l.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	run := runledger.Run{RunID: runledger.NewRunID("test"), Kind: "test", StartedAt: time.Now()}
	if err := l.Start(ctx, run.RunID, run.Kind); err != nil {
		t.Fatal(err)
	}
	var fetched atomic.Int64
	samples := make(chan struct{}, 1)
	var out lockedBuffer
	stop := runledger.Progress{Ledger: l, Out: &out, Live: true, Tick: time.Millisecond,
		Sample: func(context.Context) runledger.Run {
			r := run
			r.Fetched = fetched.Add(1)
			select {
			case samples <- struct{}{}:
			default:
			}
			return r
		},
		Line: func(r runledger.Run, _ time.Duration) string { return fmt.Sprintf("fetched %d", r.Fetched) },
	}.Start(ctx, run)
	// Wait for the ledger to show a sample (every fifth tick).
	for {
		got, err := l.Get(ctx, run.RunID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Fetched >= 5 {
			if got.Status != runledger.StatusRunning || got.EndedAt != nil {
				t.Errorf("row %+v, want running", got)
			}
			break
		}
		select {
		case <-samples:
		case <-ctx.Done():
			t.Fatal("no ledger update")
		}
	}
	stop()
	text := out.String()
	if !strings.HasPrefix(text, "\r\033[Kfetched 1") || !strings.HasSuffix(text, "\n") {
		t.Errorf("live lines %q: want each rewritten in place, and a newline at the end", text)
	}
	stop() // again: a no-op
	if out.String() != text {
		t.Error("a line after stop")
	}
}

// Not live: a line every fifth tick, each on its own line; no ledger.
func TestProgressLog(t *testing.T) {
	ctx := context.Background()
	var out lockedBuffer
	var n atomic.Int64
	fifth := make(chan struct{})
	stop := runledger.Progress{Out: &out, Tick: time.Millisecond,
		Sample: func(context.Context) runledger.Run {
			if n.Add(1) == 10 {
				close(fifth)
			}
			return runledger.Run{Fetched: n.Load()}
		},
		Line: func(r runledger.Run, _ time.Duration) string { return fmt.Sprintf("fetched %d", r.Fetched) },
	}.Start(ctx, runledger.Run{StartedAt: time.Now()})
	<-fifth
	stop()
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if len(lines) < 1 || lines[0] != "fetched 5" || (len(lines) > 1 && lines[1] != "fetched 10") {
		t.Errorf("lines %q, want fetched 5, fetched 10, ...", lines)
	}
}
