package ingest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/userstream/userstream/internal/backoff"
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
		if err == nil || l.cfg.stageRetry <= 0 || !retryable(ctx, err) {
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

// retryable reports whether err is one a new connection can heal: the
// connection was lost, refused or reset, or the server is shutting down,
// starting up or out of connection slots. Not a constraint, permission or
// syntax error (a retry would fail the same way), and nothing once ctx
// has ended.
func retryable(ctx context.Context, err error) bool {
	if err == nil || ctx.Err() != nil {
		return false
	}
	var pg *pgconn.PgError
	if errors.As(err, &pg) {
		// The server answered: its SQLSTATE says whether it was the
		// connection. Class 08 is "connection exception".
		switch pg.Code {
		case "57P01", // admin_shutdown: pg_terminate_backend, a fast shutdown
			"57P02", // crash_shutdown: another backend crashed
			"57P03", // cannot_connect_now: starting up or in recovery
			"53300": // too_many_connections
			return true
		}
		return strings.HasPrefix(pg.Code, "08")
	}
	// pgx says the error came before anything was sent (a closed
	// connection taken from the pool, for one).
	if pgconn.SafeToRetry(err) {
		return true
	}
	// The connection failed under a statement or could not be made: a
	// network error (refused, reset, a dial or read timeout, a DNS
	// failure) or the server closing the socket.
	var ne net.Error
	return errors.As(err, &ne) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, pgconn.ErrConnClosed) || errors.Is(err, net.ErrClosed) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, syscall.EPIPE)
}
