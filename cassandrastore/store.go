package cassandrastore

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"regexp"
	"strings"
	"sync"

	"github.com/gocql/gocql"
	"github.com/scylladb/gocqlx/v2"
	"github.com/scylladb/gocqlx/v2/qb"
	"github.com/scylladb/gocqlx/v2/table"

	"github.com/userstream/userstream/transform"
)

// Defaults of [New] and [Store.All]. The write defaults come from
// BenchmarkWriteTuning; see the package doc.
const (
	DefaultKeyspace = "spark_streams"
	DefaultTable    = "created_users"
	DefaultStrategy = WriteUnloggedBatch

	// DefaultConcurrency is the requests in flight per UpsertMany call with
	// WriteConcurrent: single-row writes need many in flight to keep the
	// replicas busy.
	DefaultConcurrency = 64

	// DefaultBatchConcurrency is the batches in flight per UpsertMany call
	// with WriteUnloggedBatch: each carries many rows, so fewer suffice.
	DefaultBatchConcurrency = 16

	// DefaultBatchSize is the most rows in one unlogged batch.
	DefaultBatchSize = 32

	DefaultPageSize = 5000
)

// columns are the table's columns in the order of the seed's CREATE TABLE,
// with dob, the column the seed fetched but dropped, added last. rowValues
// must list the fields in the same order.
var columns = []string{
	"id", "first_name", "last_name", "gender", "address", "post_code",
	"email", "username", "registered_date", "phone", "picture", "dob",
}

// rowValues returns r's values in the order of columns. The bulk paths bind
// these directly: a gocql batch entry takes plain values, which gocqlx v2
// cannot bind into, and both bulk paths then send exactly what the plain
// gocql ceiling of the benchmark sends. (Measured, BindStruct's reflection
// costs nothing visible next to a round trip.)
func rowValues(r *transform.Row) []any {
	return []any{
		r.ID, r.FirstName, r.LastName, r.Gender, r.Address, r.PostCode,
		r.Email, r.Username, r.RegisteredDate, r.Phone, r.Picture, r.DOB,
	}
}

// rowValuesAt returns rowValues(r) followed by version, the values of the
// INSERT ... USING TIMESTAMP ?.
func rowValuesAt(r *transform.Row, version int64) []any {
	return []any{
		r.ID, r.FirstName, r.LastName, r.Gender, r.Address, r.PostCode,
		r.Email, r.Username, r.RegisteredDate, r.Phone, r.Picture, r.DOB, version,
	}
}

// deleteBytes estimates the size a delete (a partition tombstone) adds to
// a batch mutation.
const deleteBytes = 16 + 16

// rowBytes estimates the size a row adds to a batch mutation.
func rowBytes(r *transform.Row) int {
	const perColumn = 8 // cell overhead: a timestamp and lengths
	return 16 + len(r.FirstName) + len(r.LastName) + len(r.Gender) + len(r.Address) +
		len(r.PostCode) + len(r.Email) + len(r.Username) + len(r.RegisteredDate) +
		len(r.Phone) + len(r.Picture) + len(r.DOB) + perColumn*len(columns)
}

// Store is a repository of created_users rows. It is safe for concurrent
// use. It borrows the session it is given and never closes it.
type Store struct {
	session  gocqlx.Session
	cfg      storeConfig
	table    *table.Table
	getStmt  string
	getNames []string
	allStmt  string
	idsStmt  string
	insStmt  string
	insNames []string
	// The statements of ApplyMany: insTSStmt is insStmt USING TIMESTAMP,
	// its last marker the timestamp; delTSStmt binds the timestamp, then
	// the id.
	insTSStmt string
	delStmt   string
	delTSStmt string
	// The reads of Lookup and Scan, of storedColumns.
	lookupStmt string
	scanStmt   string

	ringMu sync.Mutex
	ring   ringCache

	metrics *metrics // nil without WithMetrics
}

// New returns a store of the table named by the options in session's
// cluster. It validates the options and does no I/O: call [Store.Migrate] to
// create or upgrade the table and [Store.Ping] to check the connection.
func New(session gocqlx.Session, opts ...StoreOpt) (*Store, error) {
	all := config{store: defaultStoreConfig()}
	for _, o := range opts {
		o.apply(&all)
	}
	cfg := all.store
	if !cfg.concurrencySet {
		cfg.concurrency = DefaultConcurrency
		if cfg.strategy == WriteUnloggedBatch {
			cfg.concurrency = DefaultBatchConcurrency
		}
	}
	cfg.keyspace, cfg.table = strings.ToLower(cfg.keyspace), strings.ToLower(cfg.table)
	for _, name := range []string{cfg.keyspace, cfg.table} {
		if err := validName(name); err != nil {
			return nil, fmt.Errorf("cassandrastore: new: %w", err)
		}
	}
	switch {
	case session.Session == nil:
		return nil, errors.New("cassandrastore: new: nil session")
	case cfg.strategy != WriteConcurrent && cfg.strategy != WriteUnloggedBatch:
		return nil, fmt.Errorf("cassandrastore: new: unknown write strategy %d", cfg.strategy)
	case cfg.concurrency < 1:
		return nil, fmt.Errorf("cassandrastore: new: concurrency %d < 1", cfg.concurrency)
	case cfg.batchSize < 1:
		return nil, fmt.Errorf("cassandrastore: new: batch size %d < 1", cfg.batchSize)
	}
	if err := cfg.replication.validate(); err != nil {
		return nil, fmt.Errorf("cassandrastore: new: %w", err)
	}

	// Identifiers are the only text built into statements, and validName
	// has vetted them; every value travels as a bound parameter.
	s := &Store{session: session, cfg: cfg}
	if cfg.registerer != nil {
		m, err := newMetrics(cfg.registerer)
		if err != nil {
			return nil, err
		}
		s.metrics = m
	}
	s.table = table.New(table.Metadata{
		Name:    cfg.keyspace + "." + cfg.table,
		Columns: columns,
		PartKey: []string{"id"},
	})
	// Explicit columns rather than SELECT *: a column added to the table
	// later by someone else must not break scanning into transform.Row.
	s.getStmt, s.getNames = s.table.Get(columns...)
	s.allStmt, _ = qb.Select(s.table.Name()).Columns(columns...).ToCql()
	s.idsStmt, _ = qb.Select(s.table.Name()).Columns("id").ToCql()
	s.insStmt, s.insNames = s.table.Insert()
	s.insTSStmt, _ = qb.Insert(s.table.Name()).Columns(columns...).TimestampNamed("version").ToCql()
	s.delStmt, _ = qb.Delete(s.table.Name()).Where(qb.Eq("id")).ToCql()
	s.delTSStmt, _ = qb.Delete(s.table.Name()).Where(qb.Eq("id")).TimestampNamed("version").ToCql()
	s.lookupStmt = storedSelect(s.table.Name()) + " WHERE id = ?"
	// token(id) >= MinInt64 includes the ring's minimum, which no key has
	// (token maps it to MaxInt64): harmless.
	s.scanStmt = storedSelect(s.table.Name()) + " WHERE token(id) >= ? AND token(id) <= ?"
	return s, nil
}

// Keyspace returns the keyspace name in effect.
func (s *Store) Keyspace() string { return s.cfg.keyspace }

// Table returns the table name in effect.
func (s *Store) Table() string { return s.cfg.table }

// Ping checks that the cluster answers a query.
func (s *Store) Ping(ctx context.Context) error {
	var v string
	err := s.session.Session.Query(`SELECT release_version FROM system.local`).
		WithContext(ctx).Consistency(gocql.One).Scan(&v)
	if err != nil {
		return fmt.Errorf("cassandrastore: ping: %w", err)
	}
	return nil
}

// Upsert writes row. Writing a row whose id exists replaces its columns, so
// writing the same row twice leaves one row.
func (s *Store) Upsert(ctx context.Context, row transform.Row) error {
	if err := checkID(row.ID); err != nil {
		return fmt.Errorf("cassandrastore: upsert %q: %w", row.ID, err)
	}
	q := s.table.InsertQueryContext(ctx, s.session).BindStruct(row)
	q.Idempotent(true)
	err := q.ExecRelease()
	s.metrics.row(err)
	if err != nil {
		return fmt.Errorf("cassandrastore: upsert %q: %w", row.ID, err)
	}
	return nil
}

// Get returns the row with the given id, or an error wrapping [ErrNotFound].
// Columns that are null, such as the dob of rows written before the
// migration added it, come back empty.
func (s *Store) Get(ctx context.Context, id string) (transform.Row, error) {
	var row transform.Row
	if err := checkID(id); err != nil {
		return row, fmt.Errorf("cassandrastore: get %q: %w", id, err)
	}
	err := s.session.ContextQuery(ctx, s.getStmt, s.getNames).
		BindMap(qb.M{"id": id}).GetRelease(&row)
	if errors.Is(err, gocql.ErrNotFound) {
		return transform.Row{}, fmt.Errorf("cassandrastore: get %q: %w", id, ErrNotFound)
	}
	if err != nil {
		return transform.Row{}, fmt.Errorf("cassandrastore: get %q: %w", id, err)
	}
	return row, nil
}

// All iterates over every row of the table, fetching pageSize rows per
// request ([DefaultPageSize] when pageSize < 1), so memory stays bounded
// whatever the table's size. Rows come in token order, not insertion order.
// An error ends the iteration and is yielded with a zero Row. Stopping the
// loop early releases the query.
func (s *Store) All(ctx context.Context, pageSize int) iter.Seq2[transform.Row, error] {
	if pageSize < 1 {
		pageSize = DefaultPageSize
	}
	return func(yield func(transform.Row, error) bool) {
		q := s.session.ContextQuery(ctx, s.allStmt, nil)
		q.PageSize(pageSize)
		it := q.Iter()
		defer q.Release()
		var row transform.Row
		for it.StructScan(&row) {
			if !yield(row, nil) {
				_ = it.Close()
				return
			}
			row = transform.Row{}
		}
		if err := it.Close(); err != nil {
			yield(transform.Row{}, fmt.Errorf("cassandrastore: all: %w", err))
		}
	}
}

// Count returns the number of rows by reading every id, a page at a time.
// It is a full table scan, meant for tests and the demo, not for serving:
// its cost grows with the table. Paging client-side, rather than SELECT
// COUNT(*), keeps each request small so a large table does not hit the
// server's range-request timeout.
func (s *Store) Count(ctx context.Context) (int64, error) {
	q := s.session.ContextQuery(ctx, s.idsStmt, nil)
	q.PageSize(DefaultPageSize)
	defer q.Release()
	it := q.Iter()
	var (
		n  int64
		id gocql.UUID
	)
	for it.Scan(&id) {
		n++
	}
	if err := it.Close(); err != nil {
		return 0, fmt.Errorf("cassandrastore: count: %w", err)
	}
	return n, nil
}

// checkID rejects an id that is not a UUID before it is sent: gocql would
// fail to marshal it only after the retry policy had backed off.
func checkID(id string) error {
	if _, err := gocql.ParseUUID(id); err != nil {
		return ErrInvalidID
	}
	return nil
}

var identRE = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9_]{0,47}$`)

// reserved are CQL's reserved keywords: unquoted, they cannot name a
// keyspace or table.
var reserved = map[string]bool{}

func init() {
	for _, w := range strings.Fields(`add allow alter and apply asc authorize batch begin by
		columnfamily create delete desc describe drop entries execute from full grant if in
		index infinity insert into is keyspace limit materialized mbean mbeans modify nan
		norecursive not null of on or order primary rename replace revoke schema select set
		table to token truncate unlogged unset update use using view where with`) {
		reserved[w] = true
	}
}

// validName reports whether name may be written unquoted into a statement.
func validName(name string) error {
	if !identRE.MatchString(name) {
		return fmt.Errorf("%w: %q is not a letter followed by up to 47 letters, digits or underscores", ErrInvalidName, name)
	}
	if reserved[strings.ToLower(name)] {
		return fmt.Errorf("%w: %q is a reserved CQL keyword", ErrInvalidName, name)
	}
	return nil
}
