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
// its consumers) may share one table, each recording its own runs. A run
// whose process was killed stays [StatusRunning]: nothing marks it
// otherwise.
//
// While a run goes on, a [Progress] keeps its row current (every five
// seconds, as running, with its counts so far) and can show a progress
// line on a terminal or in a log:
//
//	stop := runledger.Progress{Ledger: l, Sample: counts, Line: format, Live: true}.Start(ctx, run)
//	defer stop()
package runledger

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/userstream/userstream/internal/pgschema"
)

// Run statuses.
const (
	StatusRunning     = "running"
	StatusSucceeded   = "succeeded"
	StatusFailed      = "failed"
	StatusInterrupted = "interrupted"
)

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

type config struct{ schema string }

type opt func(*config)

func (o opt) apply(c *config) { o(c) }

// WithSchema sets the PostgreSQL schema of the ledger's table (runs),
// overriding the default [DefaultSchema].
func WithSchema(name string) Opt { return opt(func(c *config) { c.schema = name }) }

// Ledger records runs in the table <schema>.runs.
type Ledger struct {
	pool   *pgxpool.Pool
	schema string
	table  string
}

// New returns the ledger over pool. It does no I/O; call [Ledger.Migrate]
// before the first run.
func New(pool *pgxpool.Pool, opts ...Opt) (*Ledger, error) {
	if pool == nil {
		return nil, errors.New("runledger: nil pool")
	}
	cfg := config{schema: DefaultSchema}
	for _, o := range opts {
		o.apply(&cfg)
	}
	if cfg.schema == "" {
		return nil, errors.New("runledger: empty schema")
	}
	return &Ledger{pool: pool, schema: cfg.schema, table: pgx.Identifier{cfg.schema, "runs"}.Sanitize()}, nil
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
func (l *Ledger) Migrate(ctx context.Context) error {
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
		err = tx.Commit(ctx)
	}
	if err != nil {
		return fmt.Errorf("runledger: migrate: %w", err)
	}
	return nil
}

// Start records a run of kind as running, from now.
func (l *Ledger) Start(ctx context.Context, runID, kind string) error {
	_, err := l.pool.Exec(ctx, `INSERT INTO `+l.table+` (run_id, kind, started_at, status) VALUES ($1, $2, now(), $3)`,
		runID, kind, StatusRunning)
	if err != nil {
		return fmt.Errorf("runledger: start run %s: %w", runID, err)
	}
	return nil
}

// Update writes r's counts, status and error to the run r.RunID; a status
// other than [StatusRunning] also sets its end time. It runs on a context
// of its own (ctx's values, a 10 s timeout, not ctx's cancellation), so
// that the end of a run interrupted by a signal is still recorded.
func (l *Ledger) Update(ctx context.Context, r Run) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	tag, err := l.pool.Exec(ctx, `UPDATE `+l.table+` SET fetched = $2, staged = $3, duplicates = $4, invalid = $5,
	published = $6, stored = $7, dead_lettered = $8, status = $9, error = $10,
	ended_at = CASE WHEN $9 = 'running' THEN NULL ELSE now() END
WHERE run_id = $1`,
		r.RunID, r.Fetched, r.Staged, r.Duplicates, r.Invalid, r.Published, r.Stored, r.DeadLettered, r.Status, r.Error)
	if err != nil {
		return fmt.Errorf("runledger: update run %s: %w", r.RunID, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("runledger: update run %s: %w", r.RunID, ErrNotFound)
	}
	return nil
}

// Recent returns the last n runs, newest first.
func (l *Ledger) Recent(ctx context.Context, n int) ([]Run, error) {
	return l.query(ctx, `ORDER BY started_at DESC, run_id DESC LIMIT $1`, n)
}

// Get returns one run, or an error wrapping [ErrNotFound].
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

func (l *Ledger) query(ctx context.Context, tail string, args ...any) ([]Run, error) {
	rows, err := l.pool.Query(ctx, `SELECT run_id, kind, started_at, ended_at, fetched, staged, duplicates, invalid,
	published, stored, dead_lettered, status, error FROM `+l.table+` `+tail, args...)
	if err != nil {
		return nil, fmt.Errorf("runledger: read runs: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Run, error) {
		var r Run
		err := row.Scan(&r.RunID, &r.Kind, &r.StartedAt, &r.EndedAt, &r.Fetched, &r.Staged, &r.Duplicates, &r.Invalid,
			&r.Published, &r.Stored, &r.DeadLettered, &r.Status, &r.Error)
		return r, err
	})
	if err != nil {
		return nil, fmt.Errorf("runledger: read runs: %w", err)
	}
	return out, nil
}
