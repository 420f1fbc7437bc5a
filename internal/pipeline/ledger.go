package pipeline

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Run statuses in the ledger.
const (
	StatusRunning     = "running"
	StatusSucceeded   = "succeeded"
	StatusFailed      = "failed"
	StatusInterrupted = "interrupted"
)

// RunRecord is one row of the run ledger: what a run did, stage by stage.
type RunRecord struct {
	RunID        string
	Kind         string // "full", "ingest" or "consume"
	StartedAt    time.Time
	EndedAt      *time.Time
	Fetched      int64 // users received from the API
	Staged       int64 // new users written to the outbox
	Duplicates   int64 // users already staged (fetched before)
	Invalid      int64 // users that failed validation before staging
	Published    int64 // users the relay published to Kafka
	Stored       int64 // rows written to Cassandra
	DeadLettered int64 // poison records sent to the dead-letter topic
	Status       string
	Error        string
}

// Ledger records runs in PostgreSQL, in <schema>.runs.
type Ledger struct {
	pool  *pgxpool.Pool
	table string
}

// NewLedger returns the ledger in schema; it does no I/O.
func NewLedger(pool *pgxpool.Pool, schema string) *Ledger {
	return &Ledger{pool: pool, table: pgx.Identifier{schema, "runs"}.Sanitize()}
}

// Migrate creates the ledger's table if it is missing. Processes that start
// together (a producer and its consumers) take turns on an advisory lock:
// concurrent CREATE ... IF NOT EXISTS of one schema can fail with a unique
// violation.
func (l *Ledger) Migrate(ctx context.Context, schema string) error {
	tx, err := l.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("ledger: migrate: %w", err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }() // no-op after Commit
	h := fnv.New64a()
	h.Write([]byte("github.com/userstream/userstream/internal/pipeline.Ledger:" + schema))
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(h.Sum64())); err != nil {
		return fmt.Errorf("ledger: migrate: %w", err)
	}
	_, err = tx.Exec(ctx, `CREATE SCHEMA IF NOT EXISTS `+pgx.Identifier{schema}.Sanitize()+`;
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
		return fmt.Errorf("ledger: migrate: %w", err)
	}
	return nil
}

// Start records a run as running.
func (l *Ledger) Start(ctx context.Context, runID, kind string) error {
	_, err := l.pool.Exec(ctx, `INSERT INTO `+l.table+` (run_id, kind, started_at, status) VALUES ($1, $2, now(), $3)`,
		runID, kind, StatusRunning)
	if err != nil {
		return fmt.Errorf("ledger: start run %s: %w", runID, err)
	}
	return nil
}

// Update writes the run's counts; with a final status it also sets the end
// time. It uses its own short timeout, so that the end of an interrupted
// run is still recorded.
func (l *Ledger) Update(ctx context.Context, r RunRecord) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	_, err := l.pool.Exec(ctx, `UPDATE `+l.table+` SET fetched = $2, staged = $3, duplicates = $4, invalid = $5,
	published = $6, stored = $7, dead_lettered = $8, status = $9, error = $10,
	ended_at = CASE WHEN $9 = 'running' THEN NULL ELSE now() END
WHERE run_id = $1`,
		r.RunID, r.Fetched, r.Staged, r.Duplicates, r.Invalid, r.Published, r.Stored, r.DeadLettered, r.Status, r.Error)
	if err != nil {
		return fmt.Errorf("ledger: update run %s: %w", r.RunID, err)
	}
	return nil
}

// Recent returns the last n runs, newest first.
func (l *Ledger) Recent(ctx context.Context, n int) ([]RunRecord, error) {
	return l.query(ctx, `ORDER BY started_at DESC LIMIT $1`, n)
}

// Get returns one run.
func (l *Ledger) Get(ctx context.Context, runID string) (RunRecord, error) {
	runs, err := l.query(ctx, `WHERE run_id = $1`, runID)
	if err != nil {
		return RunRecord{}, err
	}
	if len(runs) == 0 {
		return RunRecord{}, errors.New("ledger: no run " + runID)
	}
	return runs[0], nil
}

func (l *Ledger) query(ctx context.Context, tail string, args ...any) ([]RunRecord, error) {
	rows, err := l.pool.Query(ctx, `SELECT run_id, kind, started_at, ended_at, fetched, staged, duplicates, invalid,
	published, stored, dead_lettered, status, error FROM `+l.table+` `+tail, args...)
	if err != nil {
		return nil, fmt.Errorf("ledger: read runs: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (RunRecord, error) {
		var r RunRecord
		err := row.Scan(&r.RunID, &r.Kind, &r.StartedAt, &r.EndedAt, &r.Fetched, &r.Staged, &r.Duplicates, &r.Invalid,
			&r.Published, &r.Stored, &r.DeadLettered, &r.Status, &r.Error)
		return r, err
	})
	if err != nil {
		return nil, fmt.Errorf("ledger: read runs: %w", err)
	}
	return out, nil
}
