package ingest

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/userstream/userstream/internal/backoff"
	"github.com/userstream/userstream/internal/pgretry"
	"github.com/userstream/userstream/kafkasink/outbox"
	"github.com/userstream/userstream/transform"
)

// DefaultStageRetry is how long a page's Stage calls are retried after a
// lost connection when [WithStageRetry] is not given: long enough for a
// PostgreSQL restart or a failover, short enough that a database that is
// gone fails the run within minutes.
const DefaultStageRetry = 2 * time.Minute

// stageBackoff spaces the retries of a page: the first after 100-200 ms
// (a pool reconnects at once when the server is up), then doubling up to
// 5 s, so that a server that is restarting is asked a few times a minute.
var stageBackoff = backoff.Backoff{Min: 200 * time.Millisecond, Max: 5 * time.Second}

// stageRetrying calls Stage until it succeeds, fails with an error a new
// connection cannot heal, or the page's retries have taken longer than
// [WithStageRetry]. Retrying is safe because Stage is one transaction
// (all or nothing) and rows staged before are counted as duplicates: a
// page whose commit went through but whose answer was lost stages nothing
// the second time and reports its rows as duplicates.
func (l *Loop) stageRetrying(ctx context.Context, runID string, page []transform.Row, res *Result) (outbox.StageResult, error) {
	var first time.Time // of the page's first failure
	for attempt := 1; ; attempt++ {
		sr, err := l.dst.Stage(ctx, runID, page)
		if err == nil || l.cfg.stageRetry <= 0 || !pgretry.Retryable(ctx, err) {
			return sr, err
		}
		if attempt == 1 {
			first = time.Now()
		}
		wait := stageBackoff.Delay(attempt)
		if elapsed := time.Since(first); elapsed+wait > l.cfg.stageRetry {
			return sr, fmt.Errorf("gave up after %d retries in %v (WithStageRetry %v): %w",
				attempt-1, elapsed.Round(time.Millisecond), l.cfg.stageRetry, err)
		}
		res.StageRetries++
		if l.retries != nil {
			l.retries.Inc()
		}
		l.cfg.logger.Warn("stage failed on a lost connection; retrying the page",
			"run", runID, "rows", len(page), "attempt", attempt, "wait", wait, "err", err)
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return sr, errors.Join(err, ctx.Err())
		}
	}
}
