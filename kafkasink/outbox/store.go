package outbox

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Store is the outbox of one schema: the append-only table <schema>.outbox,
// which [Store.Stage] appends to, and the relay position
// <schema>.outbox_position, the seq of the last row published, which a
// [Relay] moves. Rows at or below the position are published, the others
// pending. A Store is safe for concurrent use; it borrows its pool.
type Store struct {
	pool   *pgxpool.Pool
	schema string
	cfg    storeConfig
	q      queries
	m      *storeMetrics // nil without WithMetrics
}

// StageResult counts the changes of one [Store.Stage] or
// [Store.StageDeletes] call: Staged + Duplicates is the number of rows (or
// ids) given.
type StageResult struct {
	Staged     int // versions written, now waiting to be published
	Duplicates int // equal to their id's latest version, or to the row before them of the same id in the page: not written
	Updates    int // of Staged, versions of users the outbox already had a version of
}

// InvalidRowError is returned by [Store.Stage] for a page with a row that
// fails [transform.Row.Validate]; nothing of the page is staged. Err is the
// *transform.ValidationError, which names the fields but never their
// values.
type InvalidRowError struct {
	Index int // the row's index in the page
	Err   error
}

func (e *InvalidRowError) Error() string {
	return fmt.Sprintf("outbox: row %d of the page is invalid: %v", e.Index, e.Err)
}

func (e *InvalidRowError) Unwrap() error { return e.Err }

var schemaName = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,55}$`)

// NewStore returns the store of pool's database, in the schema "userstream"
// unless [WithSchema] says otherwise. It does no I/O: call [Store.Migrate]
// to create the tables, or [Store.Ping] to check the connection. It fails
// on an invalid option, or when [WithMetrics]' registry refuses a series.
// The caller owns the pool and closes it after the store's last use.
func NewStore(pool *pgxpool.Pool, opts ...StoreOpt) (*Store, error) {
	if pool == nil {
		return nil, errors.New("outbox: nil pool")
	}
	all := config{store: defaultStoreConfig()}
	for _, o := range opts {
		o.apply(&all)
	}
	cfg := all.store
	if !schemaName.MatchString(cfg.schema) || strings.HasPrefix(cfg.schema, "pg_") {
		return nil, fmt.Errorf("outbox: WithSchema(%q): want a lower-case identifier of at most 56 bytes, not starting with pg_", cfg.schema)
	}
	if cfg.copyThreshold < 1 {
		return nil, fmt.Errorf("outbox: WithCopyThreshold(%d): want at least 1", cfg.copyThreshold)
	}
	s := &Store{pool: pool, schema: cfg.schema, cfg: cfg, q: newQueries(cfg.schema)}
	if cfg.metrics != nil {
		m, err := newStoreMetrics(cfg.metrics)
		if err != nil {
			return nil, err
		}
		s.m = m
	}
	return s, nil
}

// Schema returns the store's schema name.
func (s *Store) Schema() string { return s.schema }

// Channel returns the notification channel that staging signals on and
// relays LISTEN to: "<schema>_outbox".
func (s *Store) Channel() string { return s.schema + "_outbox" }

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error {
	return s.wrap("ping", s.pool.Ping(ctx))
}

// Counts is a snapshot of the outbox.
type Counts struct {
	Pending   int64 // after the relay position: waiting to be published
	Published int64 // at or below it: published and not yet deleted
}

// Counts counts the rows of the outbox on either side of the relay
// position. It scans the table: use it for monitoring and tests, not per
// page.
func (s *Store) Counts(ctx context.Context) (Counts, error) {
	var c Counts
	err := s.pool.QueryRow(ctx, s.q.counts).Scan(&c.Pending, &c.Published)
	return c, s.wrap("count", err)
}

// Pending counts the rows after the relay position: staged and not yet
// published. Unlike [Store.Counts] it reads only those rows, through the
// seq index: cheap enough to poll while a relay keeps up.
func (s *Store) Pending(ctx context.Context) (int64, error) {
	var n int64
	err := s.pool.QueryRow(ctx, s.q.pending).Scan(&n)
	return n, s.wrap("count", err)
}

// OldestPending returns the fetch time of the oldest row pending (staged
// and not yet published), and false when nothing is pending: now minus it
// is how long the outbox has held its oldest user, the outbox's part of the
// pipeline's freshness (userstream_outbox_oldest_pending_seconds, see the
// package doc). The oldest is the first pending row in stage (seq) order,
// the next one the relay publishes: one probe of the primary key, however
// long the backlog. Stage order is fetch order, up to the wait of a
// stager for its turn (see Staging): milliseconds, where the ages that
// matter are minutes. The fetch time is the row's fetched_at, which Stage
// sets when it writes the page.
func (s *Store) OldestPending(ctx context.Context) (time.Time, bool, error) {
	var t time.Time
	err := s.pool.QueryRow(ctx, s.q.oldestPending).Scan(&t)
	if errors.Is(err, pgx.ErrNoRows) {
		return time.Time{}, false, nil
	}
	if err != nil {
		return time.Time{}, false, s.wrap("oldest pending", err)
	}
	return t, true, nil
}

// deleteChunk bounds the rows one DELETE of DeletePublished removes, so
// cleaning up a large backlog does not hold one long transaction.
const deleteChunk = 10000

// DeletePublished deletes the published versions (at or below the
// position) staged more than olderThan ago that a newer version of the same
// user replaced, and returns how many it deleted. Pending versions are
// never deleted, however old, nor is a user's latest version: it is what
// Stage compares a new row with, and what [Store.Latest] reads. It also
// deletes the relay rounds' records of where rows went in Kafka
// ([Store.History]) made more than olderThan ago. [Relay.Run] calls it every
// [WithCleanupInterval] with its [WithRetention]; call it yourself to clean
// up without a running relay.
func (s *Store) DeletePublished(ctx context.Context, olderThan time.Duration) (int64, error) {
	var total int64
	for {
		tag, err := s.pool.Exec(ctx, s.q.deletePublished, olderThan.Microseconds(), deleteChunk)
		if err != nil {
			return total, s.wrap("cleanup", err)
		}
		total += tag.RowsAffected()
		if tag.RowsAffected() < deleteChunk {
			break
		}
	}
	// The rounds' records of where rows went in Kafka go after the same
	// retention: an explanation then still has the version and that it
	// was published (seq at or below the position), not its offset.
	// A schema not yet migrated to version 5 has no rounds to delete.
	var pg *pgconn.PgError
	if _, err := s.pool.Exec(ctx, s.q.deleteRounds, olderThan.Microseconds()); err != nil &&
		!(errors.As(err, &pg) && pg.Code == codeUndefinedTable) {
		return total, s.wrap("cleanup", err)
	}
	return total, nil
}
