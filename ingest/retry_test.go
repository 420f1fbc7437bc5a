package ingest_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/userstream/userstream/ingest"
	"github.com/userstream/userstream/internal/testenv"
	"github.com/userstream/userstream/kafkasink/outbox"
	"github.com/userstream/userstream/transform"
)

// killRun is a run of pages pages of pageSize users staged into a fresh
// outbox by a pool of its own (application_name app), whose connections
// the page hook kills: after the pages in midTx, while the next page's
// transaction waits on a lock; after the pages in idle, while the pool's
// connection is idle between pages.
type killRun struct {
	pageSize, pages int
	midTx, idle     []int
}

type killResult struct {
	res    ingest.Result
	err    error
	kills  int64  // backends terminated
	total  int64  // rows in the outbox after the run
	unique int64  // distinct ids among them
	logs   string // the Loop's log
}

func (k killRun) run(t *testing.T, opts ...ingest.Opt) killResult {
	t.Helper()
	dsn := testenv.PostgresDSN(t)
	ctx := context.Background()
	admin, err := pgxpool.New(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	schema := testenv.Name(t, "ingest")
	t.Cleanup(func() { _, _ = admin.Exec(context.Background(), `DROP SCHEMA IF EXISTS `+schema+` CASCADE`) })

	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	app := testenv.Name(t, "stager")
	cfg.ConnConfig.RuntimeParams["application_name"] = app
	// The pool pings a connection idle for over a second before handing
	// it out. Never pinging hands out a killed idle connection, as when
	// the server restarts within a second of its last use, on every
	// machine however slow, so that each idle kill fails a Stage.
	cfg.ShouldPing = func(context.Context, pgxpool.ShouldPingParams) bool { return false }
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	store, err := outbox.NewStore(pool, outbox.WithSchema(schema))
	if err != nil {
		t.Fatal(err)
	}
	if err := store.Migrate(ctx); err != nil {
		t.Fatal(err)
	}

	// terminate kills the stager's backends that match cond and returns
	// how many; it waits (up to 10 s) for each to be gone.
	terminate := func(cond string) (int, error) {
		var n int
		err := admin.QueryRow(ctx, `SELECT count(*) FILTER (WHERE pg_terminate_backend(pid, 10000))
FROM pg_stat_activity
WHERE usename = current_user AND pid <> pg_backend_pid() AND application_name = $1`+cond, app).Scan(&n)
		return n, err
	}
	var (
		out     killResult
		kills   atomic.Int64
		page    int
		killers = make(chan error, len(k.midTx))
		started int
	)
	hook := func(ingest.Page) {
		page++
		switch {
		case containsInt(k.idle, page):
			n, err := terminate("")
			if err != nil || n == 0 {
				t.Errorf("after page %d: %d idle backends terminated, %v; want 1 or more", page, n, err)
			}
			kills.Add(int64(n))
		case containsInt(k.midTx, page):
			// Lock the outbox: the next page's transaction waits on the
			// lock, and is killed while it waits.
			tx, err := admin.Begin(ctx)
			if err == nil {
				_, err = tx.Exec(ctx, `LOCK TABLE `+pgx.Identifier{schema, "outbox"}.Sanitize()+` IN EXCLUSIVE MODE`)
			}
			if err != nil {
				t.Errorf("after page %d: lock: %v", page, err)
				return
			}
			started++
			go func() {
				defer tx.Rollback(context.Background())
				deadline := time.Now().Add(time.Minute)
				for time.Now().Before(deadline) {
					n, err := terminate(` AND wait_event_type = 'Lock'`)
					if err != nil || n > 0 {
						kills.Add(int64(n))
						killers <- err
						return
					}
					time.Sleep(20 * time.Millisecond)
				}
				killers <- fmt.Errorf("after page %d: no stager waited on the lock within a minute", page)
			}()
		}
	}
	logs := &testenv.Buffer{}
	opts = append([]ingest.Opt{ingest.WithPageSize(k.pageSize), ingest.WithPageHook(hook),
		ingest.WithLogger(slog.New(slog.NewTextHandler(logs, nil)))}, opts...)
	loop, err := ingest.New(api(t), store, opts...)
	if err != nil {
		t.Fatal(err)
	}
	out.res, out.err = loop.Run(ctx, "killed", testenv.Name(t, "seed"), k.pages*k.pageSize)
	for range started {
		if err := <-killers; err != nil {
			t.Error(err)
		}
	}
	out.logs, out.kills = logs.String(), kills.Load()
	if err := admin.QueryRow(ctx, `SELECT count(*), count(DISTINCT id) FROM `+pgx.Identifier{schema, "outbox"}.Sanitize()).
		Scan(&out.total, &out.unique); err != nil {
		t.Fatal(err)
	}
	return out
}

func containsInt(s []int, v int) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// The stager's PostgreSQL connections are killed six times during a run
// of 30 pages, three times mid-transaction and three times between pages:
// the run retries and completes, and every user is in the outbox once.
// With retries disabled, the same run fails at the first kill, with the
// pages before it staged and nothing of the killed page.
func TestRunRetriesKilledConnections(t *testing.T) {
	k := killRun{pageSize: 300, pages: 30, midTx: []int{3, 12, 21}, idle: []int{6, 15, 24}}
	users := int64(k.pageSize * k.pages)

	t.Run("retries", func(t *testing.T) {
		out := k.run(t)
		if out.err != nil {
			t.Fatalf("run failed: %v (%+v)\n%s", out.err, out.res, out.logs)
		}
		if out.kills < 6 {
			t.Errorf("%d backends killed, want 6 or more", out.kills)
		}
		if out.res.Fetched != users || out.res.Staged != users || out.res.Duplicates != 0 {
			t.Errorf("result %+v, want %d fetched and staged, no duplicates", out.res, users)
		}
		if out.total != users || out.unique != users {
			t.Errorf("outbox holds %d rows of %d ids, want %d of %d", out.total, out.unique, users, users)
		}
		// Each kill fails the next Stage at least once.
		logged := int64(strings.Count(out.logs, "retrying the page"))
		if out.res.StageRetries < 6 || logged != out.res.StageRetries {
			t.Errorf("%d stage retries, %d logged; want 6 or more, each logged\n%s", out.res.StageRetries, logged, out.logs)
		}
	})

	t.Run("disabled", func(t *testing.T) {
		out := k.run(t, ingest.WithStageRetry(0))
		var pg *pgconn.PgError
		if out.err == nil || !strings.HasPrefix(out.err.Error(), "stage: ") {
			t.Fatalf("run %+v, %v; want it failed by the first kill", out.res, out.err)
		}
		if errors.As(out.err, &pg) && pg.Code != "57P01" {
			t.Errorf("failed with %v, want the connection's loss (57P01 or a network error)", out.err)
		}
		staged := int64(k.midTx[0] * k.pageSize)
		if out.res.Staged != staged || out.res.StageRetries != 0 || out.total != staged || out.unique != staged {
			t.Errorf("result %+v, outbox %d rows of %d ids; want the %d users of the pages before the kill, no retries",
				out.res, out.total, out.unique, staged)
		}
	})
}

// flaky fails its first calls with errs, then stages into memStager.
type flaky struct {
	memStager
	errs []error
}

func (f *flaky) Stage(ctx context.Context, runID string, rows []transform.Row) (outbox.StageResult, error) {
	f.mu.Lock()
	if len(f.errs) > 0 {
		err := f.errs[0]
		f.errs = f.errs[1:]
		f.mu.Unlock()
		return outbox.StageResult{}, err
	}
	f.mu.Unlock()
	return f.memStager.Stage(ctx, runID, rows)
}

// Errors a new connection heals are retried, counted and logged; others
// fail the run at once; retries end at WithStageRetry, and with ctx.
func TestStageRetryClassifiesAndBounds(t *testing.T) {
	ctx := context.Background()
	lost := &outbox.Error{Op: "stage", Err: &pgconn.PgError{Code: "57P01", Message: "terminating connection due to administrator command"}}
	refused := &outbox.Error{Op: "stage", Err: fmt.Errorf("dial: %w", &netErr{})}
	full := &pgconn.PgError{Code: "53300", Message: "too many clients"}

	logs := &testenv.Buffer{}
	dst := &flaky{errs: []error{lost, refused, full}}
	loop, err := ingest.New(api(t), dst, ingest.WithPageSize(50), ingest.WithLogger(slog.New(slog.NewTextHandler(logs, nil))))
	if err != nil {
		t.Fatal(err)
	}
	res, err := loop.Run(ctx, "r", "retry-heals", 100)
	if err != nil || res.Staged != 100 || res.StageRetries != 3 || strings.Count(logs.String(), "retrying the page") != 3 {
		t.Errorf("%+v, %v; want 100 staged after 3 retries, each logged\n%s", res, err, logs)
	}

	for name, bad := range map[string]error{
		"unique violation": &pgconn.PgError{Code: "23505"},
		"permission":       &pgconn.PgError{Code: "42501"},
		"syntax":           &pgconn.PgError{Code: "42601"},
		"other":            errStage,
	} {
		dst := &flaky{errs: []error{bad}}
		loop, _ := ingest.New(api(t), dst, ingest.WithPageSize(50))
		res, err := loop.Run(ctx, "r", "retry-"+name, 100)
		if !errors.Is(err, bad) || res.StageRetries != 0 || res.Staged != 0 {
			t.Errorf("%s: %+v, %v; want the run failed at once", name, res, err)
		}
	}

	// Always lost: the retries end after about a second.
	always := make([]error, 1000)
	for i := range always {
		always[i] = lost
	}
	loop, _ = ingest.New(api(t), &flaky{errs: always}, ingest.WithPageSize(50), ingest.WithStageRetry(time.Second))
	res, err = loop.Run(ctx, "r", "retry-bound", 100)
	if !errors.Is(err, lost) || !strings.Contains(err.Error(), "gave up after") || res.StageRetries == 0 {
		t.Errorf("%+v, %v; want the run failed after some retries", res, err)
	}

	// ctx ends during a wait: the run ends with ctx's error.
	cctx, cancel := context.WithCancel(ctx)
	loop, _ = ingest.New(api(t), &flaky{errs: always}, ingest.WithPageSize(50),
		ingest.WithLogger(slog.New(cancelHandler{cancel})))
	res, err = loop.Run(cctx, "r", "retry-cancel", 100)
	if !errors.Is(err, context.Canceled) || res.StageRetries != 1 {
		t.Errorf("%+v, %v; want context.Canceled after the first retry's log", res, err)
	}

	if _, err := ingest.New(api(t), &memStager{}, ingest.WithStageRetry(-time.Second)); err == nil {
		t.Error("a negative WithStageRetry accepted")
	}
}

// netErr is a connection refused, as net.Error.
type netErr struct{}

func (netErr) Error() string   { return "connect: connection refused" }
func (netErr) Timeout() bool   { return false }
func (netErr) Temporary() bool { return false }

// cancelHandler cancels on the first log record.
type cancelHandler struct{ cancel context.CancelFunc }

func (h cancelHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h cancelHandler) Handle(context.Context, slog.Record) error {
	h.cancel()
	return nil
}
func (h cancelHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h cancelHandler) WithGroup(string) slog.Handler      { return h }
