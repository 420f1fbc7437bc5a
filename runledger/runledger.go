// Package runledger records pipeline runs in PostgreSQL: one row per run
// with what each stage did (users fetched, staged, published, stored,
// dead-lettered), its status and its error, so that a scheduler, an
// operator or a test can see what ran, when, and how it ended.
//
//	l, err := runledger.New(pool) // table userstream.runs
//	if err := l.Migrate(ctx); err != nil { … } // idempotent: at every start
//	id := runledger.NewRunID("ingest")
//	if err := l.Start(ctx, id, "ingest"); err != nil { … }
//	// … the run …
//	err = l.Update(ctx, runledger.Run{RunID: id, Fetched: n, Staged: s, Status: runledger.StatusSucceeded})
//
// The ledger borrows a *pgxpool.Pool that the caller owns and closes.
// A Ledger is safe for concurrent use; several processes (a producer and
// its consumers) may share one table, each recording its own runs.
//
// # Heartbeat and abandoned runs
//
// A running run's row has a heartbeat: [Ledger.Start] and every
// [Ledger.Update] set it to the database's now(), and a [Progress] with a
// Ledger updates the row every five ticks (five seconds by default). A run
// still [StatusRunning] whose heartbeat is older than the ledger's lease
// ([WithLease], default [DefaultLease], one minute) is read as
// [StatusAbandoned]: its process was killed, or lost the database, before
// it could record how it ended. Abandoned is computed when the row is read
// ([Ledger.Recent], [Ledger.Get]), not written: the row still says
// running, so a run that was only stalled (a paused process, a partition
// from PostgreSQL longer than the lease) reads as running again at its
// next heartbeat, and its last Update records how it really ended. Reading
// never writes, and no sweeper has to run. Both times are the database's,
// so the clocks of the processes do not matter. A process that records a
// run without a Progress must call Update with [StatusRunning] more often
// than the lease.
//
// While a run goes on, a [Progress] keeps its row current (every five
// seconds, as running, with its counts so far) and can show a progress
// line on a terminal or in a log:
//
//	stop := runledger.Progress{Ledger: l, Sample: counts, Line: format, Live: true}.Start(ctx, run)
//	defer stop()
//
// # Metrics
//
// With [WithMetrics], a Ledger registers one series on the caller's
// prometheus.Registerer (none without it); ledgers given the same registry
// share it.
//
//	name                                              type   labels  buckets  meaning
//	userstream_last_successful_run_timestamp_seconds  gauge  none    -        when the last run finished with success, Unix seconds; 0 until one has
//
// [Ledger.Update] sets it when it records [StatusSucceeded], to the end
// time it writes. [Ledger.Migrate], which a process calls at start, sets
// it to the end of the newest succeeded run already in the table, of any
// kind, so a restarted process does not show 0 (an alert on the time
// since the last success would fire at every restart). Both only move it
// forward: ledgers sharing the gauge (of other schemas, or a second
// ledger migrated later) never set it back to an older success.
package runledger

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/userstream/userstream/internal/backoff"
	"github.com/userstream/userstream/internal/pgretry"
	"github.com/userstream/userstream/internal/pgschema"
	"github.com/userstream/userstream/internal/promreg"
)

// Run statuses.
const (
	StatusRunning     = "running"
	StatusSucceeded   = "succeeded"
	StatusFailed      = "failed"
	StatusInterrupted = "interrupted"
	// StatusAbandoned is read, never written: a run recorded as running
	// whose heartbeat is older than the lease ([WithLease]). See the
	// package doc.
	StatusAbandoned = "abandoned"
)

// DefaultLease is how long a running run may go without a heartbeat
// before it is read as [StatusAbandoned]: twelve heartbeats of a
// [Progress] with its default tick.
const DefaultLease = time.Minute

// DefaultRetry is how long [Ledger.Start] retries a statement that failed
// on a lost or refused connection when [WithRetry] is not given: as long
// as ingest retries a page, so that a process starting while PostgreSQL
// restarts or fails over records its run once the server is back instead
// of exiting.
const DefaultRetry = 2 * time.Minute

// retryBackoff spaces the ledger's retries: 200 ms doubling up to 5 s.
var retryBackoff = backoff.Backoff{Min: 200 * time.Millisecond, Max: 5 * time.Second}

// DefaultSchema is the PostgreSQL schema of the ledger's table, the same
// as the outbox's default.
const DefaultSchema = "userstream"

// ErrNotFound is returned by [Ledger.Get] for a run id the ledger does not
// hold.
var ErrNotFound = errors.New("runledger: run not found")

// Run is one row of the ledger: what a run did, stage by stage. Counts
// the run's kind has no stage for stay zero.
type Run struct {
	RunID        string
	Kind         string // what ran, e.g. "full", "ingest" or "consume"
	StartedAt    time.Time
	EndedAt      *time.Time // nil while running
	Fetched      int64      // users received from the API
	Staged       int64      // new users written to the outbox
	Duplicates   int64      // users already staged (fetched before)
	Invalid      int64      // users that failed validation before staging
	Published    int64      // users the relay published to Kafka
	Stored       int64      // rows written to Cassandra
	DeadLettered int64      // records sent to the dead-letter topic
	Status       string     // one of the Status constants
	Error        string     // why it failed; empty otherwise
	// HeartbeatAt is when the run's row was last written (Start or
	// Update); read only, Update ignores it.
	HeartbeatAt time.Time
}

// Since returns r's counts less base's: one run's share of counters that
// keep running across the runs of a process.
func (r Run) Since(base Run) Run {
	r.Fetched -= base.Fetched
	r.Staged -= base.Staged
	r.Duplicates -= base.Duplicates
	r.Invalid -= base.Invalid
	r.Published -= base.Published
	r.Stored -= base.Stored
	r.DeadLettered -= base.DeadLettered
	return r
}

// Opt configures a [Ledger].
type Opt interface{ apply(*config) }

type config struct {
	schema  string
	metrics prometheus.Registerer
	lease   time.Duration
	retry   time.Duration
}

type opt func(*config)

func (o opt) apply(c *config) { o(c) }

// WithSchema sets the PostgreSQL schema of the ledger's table (runs),
// overriding the default [DefaultSchema].
func WithSchema(name string) Opt { return opt(func(c *config) { c.schema = name }) }

// WithLease sets how long a running run may go without a heartbeat before
// the ledger reads it as [StatusAbandoned], overriding [DefaultLease]. Keep
// it several heartbeats long: five ticks of the runs' [Progress] (five
// seconds by default). Zero or negative fails [New].
func WithLease(d time.Duration) Opt { return opt(func(c *config) { c.lease = d }) }

// WithRetry sets how long [Ledger.Start] retries a statement that failed
// on a lost, refused or reset connection or a server shutting down or
// starting up, overriding [DefaultRetry]; zero or negative: no retry.
// Other errors (a missing table, a permission) are returned at once.
// [Ledger.Update] retries the same errors within its own 10 s.
func WithRetry(d time.Duration) Opt { return opt(func(c *config) { c.retry = d }) }

// WithMetrics registers the ledger's series (see the package doc) on reg
// and records it, overriding the default: no metrics (also when reg is
// nil). Registering is idempotent per registry: ledgers handed the same
// reg share the series. [New] fails if reg refuses it for another reason.
func WithMetrics(reg prometheus.Registerer) Opt { return opt(func(c *config) { c.metrics = reg }) }

// Ledger records runs in the table <schema>.runs.
type Ledger struct {
	pool        *pgxpool.Pool
	schema      string
	table       string
	lease       time.Duration
	retry       time.Duration
	lastSuccess prometheus.Gauge // nil without WithMetrics
}

// New returns the ledger over pool. It does no I/O; call [Ledger.Migrate]
// before the first run.
func New(pool *pgxpool.Pool, opts ...Opt) (*Ledger, error) {
	if pool == nil {
		return nil, errors.New("runledger: nil pool")
	}
	cfg := config{schema: DefaultSchema, lease: DefaultLease, retry: DefaultRetry}
	for _, o := range opts {
		o.apply(&cfg)
	}
	if cfg.schema == "" {
		return nil, errors.New("runledger: empty schema")
	}
	if cfg.lease <= 0 {
		return nil, fmt.Errorf("runledger: WithLease %v: want above 0", cfg.lease)
	}
	l := &Ledger{pool: pool, schema: cfg.schema, table: pgx.Identifier{cfg.schema, "runs"}.Sanitize(), lease: cfg.lease, retry: cfg.retry}
	if cfg.metrics != nil {
		g, err := promreg.Register(cfg.metrics, prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "userstream_last_successful_run_timestamp_seconds",
			Help: "When the last run finished with success, in Unix seconds; 0 until one has.",
		}))
		if err != nil {
			return nil, fmt.Errorf("runledger: WithMetrics: %w", err)
		}
		l.lastSuccess = g
	}
	return l, nil
}

// NewRunID returns a run id that sorts by start time: the kind, the UTC
// start to the second, and 6 random hex digits.
func NewRunID(kind string) string {
	var b [3]byte
	_, _ = rand.Read(b[:])
	return kind + "-" + time.Now().UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(b[:])
}

// Migrate creates the schema and the table if they are missing. Processes
// that start together take turns on an advisory lock, because concurrent
// CREATE … IF NOT EXISTS of one schema can fail with a unique violation.
// With [WithMetrics] it then sets the last-success gauge from the table,
// if the table's last success is later than the gauge shows.
func (l *Ledger) Migrate(ctx context.Context) error {
	if err := l.migrate(ctx); err != nil {
		return err
	}
	if l.lastSuccess == nil {
		return nil
	}
	var last *time.Time
	err := l.pool.QueryRow(ctx, `SELECT max(ended_at) FROM `+l.table+` WHERE status = $1`, StatusSucceeded).Scan(&last)
	if err != nil {
		return fmt.Errorf("runledger: read the last successful run: %w", err)
	}
	if last != nil {
		l.recordSuccess(unixSeconds(*last))
	}
	return nil
}

// unixSeconds returns t in Unix seconds, with its fraction.
func unixSeconds(t time.Time) float64 { return float64(t.UnixMicro()) / 1e6 }

// lastSuccessMu makes recordSuccess's read and set one step. It is one for
// the package because ledgers on one registry share one gauge (promreg).
var lastSuccessMu sync.Mutex

// recordSuccess sets the last-success gauge to v if v is later than what
// it shows: a gauge shared by ledgers of several tables, or set by a
// Migrate that read an older success than an Update already recorded,
// must not move back.
func (l *Ledger) recordSuccess(v float64) {
	lastSuccessMu.Lock()
	defer lastSuccessMu.Unlock()
	var m dto.Metric
	if err := l.lastSuccess.Write(&m); err == nil && m.GetGauge().GetValue() >= v {
		return
	}
	l.lastSuccess.Set(v)
}

func (l *Ledger) migrate(ctx context.Context) error {
	tx, err := l.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("runledger: migrate: %w", err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }() // no-op after Commit
	// One lock per schema, shared with the outbox's migration, which the
	// examples run into the same schema.
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, pgschema.LockKey(l.schema)); err != nil {
		return fmt.Errorf("runledger: migrate: %w", err)
	}
	_, err = tx.Exec(ctx, `CREATE SCHEMA IF NOT EXISTS `+pgx.Identifier{l.schema}.Sanitize()+`;
CREATE TABLE IF NOT EXISTS `+l.table+` (
	run_id        text PRIMARY KEY,
	kind          text NOT NULL,
	started_at    timestamptz NOT NULL,
	ended_at      timestamptz,
	fetched       bigint NOT NULL DEFAULT 0,
	staged        bigint NOT NULL DEFAULT 0,
	duplicates    bigint NOT NULL DEFAULT 0,
	invalid       bigint NOT NULL DEFAULT 0,
	published     bigint NOT NULL DEFAULT 0,
	stored        bigint NOT NULL DEFAULT 0,
	dead_lettered bigint NOT NULL DEFAULT 0,
	status        text NOT NULL,
	error         text NOT NULL DEFAULT ''
)`)
	if err == nil {
		err = l.addHeartbeat(ctx, tx)
	}
	if err == nil {
		err = tx.Commit(ctx)
	}
	if err != nil {
		return fmt.Errorf("runledger: migrate: %w", err)
	}
	return nil
}

// addHeartbeat adds the heartbeat column to a table created before it
// (the table above is the first release's, left as it was). ALTER TABLE
// locks the table even when the column exists, so it runs only when the
// column is missing. Rows older than the column have none: they are read
// with their end or start time instead.
func (l *Ledger) addHeartbeat(ctx context.Context, tx pgx.Tx) error {
	var has bool
	err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_attribute
WHERE attrelid = $1::regclass AND attname = 'heartbeat_at' AND NOT attisdropped)`, l.table).Scan(&has)
	if err != nil || has {
		return err
	}
	_, err = tx.Exec(ctx, `ALTER TABLE `+l.table+` ADD COLUMN IF NOT EXISTS heartbeat_at timestamptz`)
	return err
}

// Start records a run of kind as running, from now, with its first
// heartbeat. A lost or refused connection is retried for up to
// [WithRetry] (default [DefaultRetry]), within ctx.
func (l *Ledger) Start(ctx context.Context, runID, kind string) error {
	err := l.retrying(ctx, l.retry, func(ctx context.Context, attempt int) error {
		_, err := l.pool.Exec(ctx, `INSERT INTO `+l.table+` (run_id, kind, started_at, status, heartbeat_at) VALUES ($1, $2, now(), $3, now())`,
			runID, kind, StatusRunning)
		var pg *pgconn.PgError
		if attempt > 1 && errors.As(err, &pg) && pg.Code == "23505" {
			// unique_violation on a retry: the attempt whose answer
			// was lost had committed the run.
			return nil
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("runledger: start run %s: %w", runID, err)
	}
	return nil
}

// retrying calls fn until it succeeds, fails with an error a new
// connection cannot heal (or once ctx has ended), or its retries have
// taken longer than window.
func (l *Ledger) retrying(ctx context.Context, window time.Duration, fn func(ctx context.Context, attempt int) error) error {
	var first time.Time // of the first failure
	for attempt := 1; ; attempt++ {
		err := fn(ctx, attempt)
		if err == nil || window <= 0 || !pgretry.Retryable(ctx, err) {
			return err
		}
		if attempt == 1 {
			first = time.Now()
		}
		wait := retryBackoff.Delay(attempt)
		if elapsed := time.Since(first); elapsed+wait > window {
			return fmt.Errorf("gave up after %d retries in %v: %w", attempt-1, elapsed.Round(time.Millisecond), err)
		}
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return errors.Join(err, ctx.Err())
		}
	}
}

// Update writes r's counts, status and error to the run r.RunID and sets
// its heartbeat; a status other than [StatusRunning] also sets its end
// time, and
// [StatusSucceeded] the last-success gauge ([WithMetrics]; only forward).
// It runs on a
// context of its own (ctx's values, a 10 s timeout, not ctx's
// cancellation), so that the end of a run interrupted by a signal is still
// recorded; within those 10 s it retries a lost or refused connection.
func (l *Ledger) Update(ctx context.Context, r Run) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	var ended *time.Time
	err := l.retrying(ctx, 10*time.Second, func(ctx context.Context, _ int) error {
		return l.pool.QueryRow(ctx, `UPDATE `+l.table+` SET fetched = $2, staged = $3, duplicates = $4, invalid = $5,
	published = $6, stored = $7, dead_lettered = $8, status = $9, error = $10,
	ended_at = CASE WHEN $9 = 'running' THEN NULL ELSE now() END, heartbeat_at = now()
WHERE run_id = $1
RETURNING ended_at`,
			r.RunID, r.Fetched, r.Staged, r.Duplicates, r.Invalid, r.Published, r.Stored, r.DeadLettered, r.Status, r.Error).Scan(&ended)
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("runledger: update run %s: %w", r.RunID, ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("runledger: update run %s: %w", r.RunID, err)
	}
	if l.lastSuccess != nil && r.Status == StatusSucceeded && ended != nil {
		l.recordSuccess(unixSeconds(*ended))
	}
	return nil
}

// Recent returns the last n runs, newest first. A running run whose
// heartbeat is older than the lease has [StatusAbandoned].
func (l *Ledger) Recent(ctx context.Context, n int) ([]Run, error) {
	return l.query(ctx, `ORDER BY started_at DESC, run_id DESC LIMIT $1`, n)
}

// Get returns one run, or an error wrapping [ErrNotFound]. A running run
// whose heartbeat is older than the lease has [StatusAbandoned].
func (l *Ledger) Get(ctx context.Context, runID string) (Run, error) {
	runs, err := l.query(ctx, `WHERE run_id = $1`, runID)
	if err != nil {
		return Run{}, err
	}
	if len(runs) == 0 {
		return Run{}, fmt.Errorf("%w: %s", ErrNotFound, runID)
	}
	return runs[0], nil
}

// query reads runs; tail's parameters are $1 on, the lease is the last.
func (l *Ledger) query(ctx context.Context, tail string, args ...any) ([]Run, error) {
	lease := fmt.Sprintf("$%d::interval", len(args)+1)
	rows, err := l.pool.Query(ctx, `SELECT run_id, kind, started_at, ended_at, fetched, staged, duplicates, invalid,
	published, stored, dead_lettered,
	CASE WHEN status = 'running' AND coalesce(heartbeat_at, started_at) < now() - `+lease+` THEN 'abandoned' ELSE status END,
	error, coalesce(heartbeat_at, ended_at, started_at)
FROM `+l.table+` `+tail, append(args, l.lease)...)
	if err != nil {
		return nil, fmt.Errorf("runledger: read runs: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Run, error) {
		var r Run
		err := row.Scan(&r.RunID, &r.Kind, &r.StartedAt, &r.EndedAt, &r.Fetched, &r.Staged, &r.Duplicates, &r.Invalid,
			&r.Published, &r.Stored, &r.DeadLettered, &r.Status, &r.Error, &r.HeartbeatAt)
		return r, err
	})
	if err != nil {
		return nil, fmt.Errorf("runledger: read runs: %w", err)
	}
	return out, nil
}
