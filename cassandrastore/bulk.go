package cassandrastore

import (
	"cmp"
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"math/bits"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gocql/gocql"

	"github.com/userstream/userstream/transform"
)

// WriteStrategy is how [Store.UpsertMany] and [Store.ApplyMany] send rows. See the package doc
// for the measurements behind the default.
type WriteStrategy int

const (
	// WriteConcurrent sends one INSERT per row, at most the configured
	// concurrency at a time, each routed to a replica of its row.
	WriteConcurrent WriteStrategy = iota + 1

	// WriteUnloggedBatch groups the rows by the node owning their token's
	// range (a replica of every row of the group), and sends each group as
	// unlogged batches of up to the configured batch size, coordinated by
	// that node; a group of one row goes as a plain INSERT.
	// It saves requests, and the per-request cost dominates for rows this
	// small, so it is the default. A batch is not atomic and, when it
	// fails, all its rows are reported failed. (A logged batch across
	// partitions also writes the batchlog to other nodes and is far slower;
	// this package never sends one.)
	WriteUnloggedBatch
)

func (w WriteStrategy) String() string {
	switch w {
	case WriteConcurrent:
		return "concurrent"
	case WriteUnloggedBatch:
		return "unlogged-batch"
	}
	return "WriteStrategy(" + strconv.Itoa(int(w)) + ")"
}

// maxBatchBytes keeps a batch below Cassandra's default
// batch_size_fail_threshold (50 KiB) whatever the rows' sizes.
const maxBatchBytes = 32 << 10

// UpsertMany writes rows with the store's [WriteStrategy] and returns when
// every row is written or has failed. Rows are independent: a row that
// fails does not stop the others. The error, when some rows fail, is a
// *[WriteError] listing them; [IsRetryable] tells whether backing off and
// writing them again may succeed. When ctx ends, rows not yet sent are
// reported as failed with ctx's error.
//
// Rows are written as given (validate them first, with
// transform.Row.Validate); a row whose id is not a UUID fails with
// [ErrInvalidID] without being sent. Writing a row whose id exists replaces
// its columns, so repeating a call is safe.
//
// It is [Store.ApplyMany] of unversioned upserts (transform.Upsert of each
// row), without copying the rows into changes.
func (s *Store) UpsertMany(ctx context.Context, rows []transform.Row) error {
	return s.apply(ctx, rowSet(rows))
}

// ApplyMany applies changes, each an upsert of its row or, with Delete, a
// delete of its id, with the store's [WriteStrategy], and returns when
// every change is applied or has failed; it is [Store.UpsertMany] for
// changes, with the same strategies, errors and metrics. The error, when
// some changes fail, is a *[WriteError] whose RowError indices are indices
// into changes.
//
// A change with a Version is written at it (USING TIMESTAMP Version), so
// the newest version of a row wins whatever order, and however often, the
// versions are applied: an older version applied later changes nothing.
// A delete so versioned leaves a tombstone at its version, which hides
// the row from every older version applied later (until Cassandra purges
// it; see the package doc's "Versions and deletes"), and an upsert of a
// newer version brings the row back. A change with Version 0 is written at
// the driver's clock, as UpsertMany writes: the last write wins.
//
// An upsert's row is written as given, as UpsertMany writes it; a delete
// needs only Row.ID. A change whose id is not a UUID fails with
// [ErrInvalidID], and one with a negative Version with
// [ErrInvalidVersion], without being sent. Applying a change again changes
// nothing (a versioned one leaves the same row and write time), so
// repeating a call is safe.
func (s *Store) ApplyMany(ctx context.Context, changes []transform.Change) error {
	return s.apply(ctx, changeSet(changes))
}

// changes is what apply writes: the rows of UpsertMany or the changes of
// ApplyMany, read in place, so that UpsertMany shares the path without
// copying each row into a transform.Change.
type changes interface {
	len() int
	// at returns the i-th change: its row, whether it deletes, and its
	// version (0: unversioned).
	at(i int) (r *transform.Row, del bool, version int64)
}

type rowSet []transform.Row

func (s rowSet) len() int                               { return len(s) }
func (s rowSet) at(i int) (*transform.Row, bool, int64) { return &s[i], false, 0 }

type changeSet []transform.Change

func (s changeSet) len() int { return len(s) }
func (s changeSet) at(i int) (*transform.Row, bool, int64) {
	c := &s[i]
	return &c.Row, c.Delete, c.Version
}

// apply writes cs with the store's strategy: the one path of UpsertMany
// and ApplyMany.
func (s *Store) apply(ctx context.Context, cs changes) error {
	n := cs.len()
	if n == 0 {
		return nil
	}
	start := time.Now()
	errs := make([]error, n)
	switch s.cfg.strategy {
	case WriteUnloggedBatch:
		s.applyBatched(ctx, cs, errs)
	default:
		s.applyConcurrent(ctx, cs, errs)
	}
	var failed []RowError
	for i, err := range errs {
		if err != nil {
			r, _, _ := cs.at(i)
			failed = append(failed, RowError{Index: i, ID: r.ID, Err: err})
			s.cfg.logger.Debug("cassandrastore: row not written", "id", r.ID, "err", err)
		}
	}
	s.metrics.bulk(n-len(failed), failed != nil, time.Since(start))
	if failed != nil {
		return &WriteError{Rows: n, Failed: failed}
	}
	return nil
}

// checkVersion rejects a negative version before it is sent: no outbox
// assigns one, and as a write time it would lose to every write.
func checkVersion(v int64) error {
	if v < 0 {
		return ErrInvalidVersion
	}
	return nil
}

// statement returns the statement and bound values of a change: an INSERT
// or a DELETE, with USING TIMESTAMP when the change is versioned. Each
// []any is sized exactly, one allocation per change besides the boxing.
func (s *Store) statement(r *transform.Row, del bool, version int64) (string, []any) {
	switch {
	case del && version > 0:
		return s.delTSStmt, []any{version, r.ID}
	case del:
		return s.delStmt, []any{r.ID}
	case version > 0:
		return s.insTSStmt, rowValuesAt(r, version)
	default:
		return s.insStmt, rowValues(r)
	}
}

// parallel calls fn(i) for every i in [0, n) from at most workers
// goroutines. A fixed pool pulling indices, rather than a goroutine per row
// behind a semaphore, keeps a 100,000-row call from parking 100,000
// goroutines.
func parallel(n, workers int, fn func(i int)) {
	workers = min(workers, n)
	var (
		next atomic.Int64
		wg   sync.WaitGroup
	)
	for range workers {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				fn(i)
			}
		})
	}
	wg.Wait()
}

func (s *Store) applyConcurrent(ctx context.Context, cs changes, errs []error) {
	parallel(cs.len(), s.cfg.concurrency, func(i int) {
		if err := ctx.Err(); err != nil {
			errs[i] = err
			return
		}
		r, del, v := cs.at(i)
		if err := cmp.Or(checkID(r.ID), checkVersion(v)); err != nil {
			errs[i] = err
			return
		}
		errs[i] = s.exec(ctx, r, del, v)
	})
}

// exec sends one change as a single statement.
func (s *Store) exec(ctx context.Context, r *transform.Row, del bool, version int64) error {
	stmt, vals := s.statement(r, del, version)
	q := s.session.Session.Query(stmt, vals...).WithContext(ctx).Idempotent(true)
	err := q.Exec()
	q.Release()
	return err
}

type tokenRow struct {
	i     int // index into the changes
	tok   int64
	owner int // the node owning tok's range, an index into the ring's nodes
}

// applyBatched sends cs as unlogged batches. A versioned change's USING
// TIMESTAMP holds inside a batch: Cassandra refuses per-statement
// timestamps only in a batch that sets its own (BEGIN BATCH USING
// TIMESTAMP, which this package never sends); the driver's default
// timestamp of the batch applies only to its unversioned statements.
func (s *Store) applyBatched(ctx context.Context, cs changes, errs []error) {
	n := cs.len()
	items := make([]tokenRow, 0, n)
	for i := range n {
		r, _, v := cs.at(i)
		u, err := gocql.ParseUUID(r.ID)
		if err != nil {
			errs[i] = ErrInvalidID
			continue
		}
		if err := checkVersion(v); err != nil {
			errs[i] = err
			continue
		}
		items = append(items, tokenRow{i: i, tok: token(u)})
	}
	if len(items) == 0 {
		return // nothing to send: not even the ring is read
	}
	ring := s.ringTokens(ctx)
	for j := range items {
		items[j].owner = ring.owner(items[j].tok)
	}
	slices.SortFunc(items, func(a, b tokenRow) int {
		return cmp.Or(cmp.Compare(a.owner, b.owner), cmp.Compare(a.tok, b.tok))
	})

	batches := planBatches(items, func(i int) int {
		r, del, _ := cs.at(i)
		if del {
			return deleteBytes
		}
		return rowBytes(r)
	}, s.cfg.batchSize)
	parallel(len(batches), s.cfg.concurrency, func(k int) {
		group := items[batches[k].lo:batches[k].hi]
		var err error
		switch {
		case ctx.Err() != nil:
			err = ctx.Err()
		case len(group) == 1:
			r, del, v := cs.at(group[0].i)
			err = s.exec(ctx, r, del, v)
		default:
			b := s.session.Session.NewBatch(gocql.UnloggedBatch).WithContext(ctx)
			b.Entries = make([]gocql.BatchEntry, len(group))
			for e, it := range group {
				stmt, vals := s.statement(cs.at(it.i))
				b.Entries[e] = gocql.BatchEntry{Stmt: stmt, Args: vals, Idempotent: true}
			}
			err = s.session.Session.ExecuteBatch(b)
		}
		if err != nil {
			for _, it := range group {
				errs[it.i] = err
			}
		}
	})
}

// span is a batch: items[lo:hi].
type span struct{ lo, hi int }

// planBatches cuts items, sorted by owner, into batches of at most
// batchSize rows and maxBatchBytes, each of rows of one owner. The owner is
// a replica of every row of its batch and coordinates it (gocql routes a
// batch by its first statement's token), so it applies its own mutations
// locally and sends the others' to the same replicas a single-row write
// would: a batch whose rows had different owners would make the
// coordinator forward whole mutations, the known batch anti-pattern.
// Grouping by owner rather than by token range matters with vnodes: a node
// owns many ranges (16 by default), and a call's rows split over all of
// them would make batches of a few rows.
func planBatches(items []tokenRow, size func(i int) int, batchSize int) []span {
	var batches []span
	lo, bytes := 0, 0
	for j, it := range items {
		b := size(it.i)
		if j > lo && (it.owner != items[lo].owner || j-lo >= batchSize || bytes+b > maxBatchBytes) {
			batches = append(batches, span{lo, j})
			lo, bytes = j, 0
		}
		bytes += b
	}
	if lo < len(items) {
		batches = append(batches, span{lo, len(items)})
	}
	return batches
}

// ringTTL is how long a read of the token ring is trusted. A stale ring
// only makes batches less local, never wrong, so it is refreshed lazily.
const ringTTL = time.Minute

// ring is the cluster's tokens, sorted, and the node owning each: the range
// (tokens[i-1], tokens[i]] belongs to owners[i], and the range past the
// last token wraps to the first.
type ring struct {
	tokens []int64
	owners []int
}

// owner returns the node owning t's range; 0 for an empty ring.
func (r ring) owner(t int64) int {
	if len(r.tokens) == 0 {
		return 0
	}
	i, _ := slices.BinarySearch(r.tokens, t)
	if i == len(r.tokens) {
		i = 0
	}
	return r.owners[i]
}

type ringCache struct {
	ring
	loaded time.Time
}

// ringTokens returns the cluster's ring, reading system.local and
// system.peers at most once per ringTTL. gocql keeps its own ring private,
// hence the read. Without a ring (the read failed) all rows have one
// owner, and batches still group neighbouring tokens.
func (s *Store) ringTokens(ctx context.Context) ring {
	s.ringMu.Lock()
	defer s.ringMu.Unlock()
	if !s.ring.loaded.IsZero() && time.Since(s.ring.loaded) < ringTTL {
		return s.ring.ring
	}
	r, err := s.loadRing(ctx)
	if err != nil {
		if ctx.Err() == nil {
			s.ring.loaded = time.Now() // do not retry the read for every call
			s.cfg.logger.Warn("cassandrastore: cannot read the token ring; batching by token order only", "err", err)
		}
		return s.ring.ring
	}
	s.ring = ringCache{ring: r, loaded: time.Now()}
	return r
}

func (s *Store) loadRing(ctx context.Context) (ring, error) {
	type tokOwner struct {
		tok   int64
		owner int
	}
	var all []tokOwner
	add := func(ts []string, owner int) error {
		for _, t := range ts {
			v, err := strconv.ParseInt(t, 10, 64)
			if err != nil {
				return fmt.Errorf("token %q: %w (is the partitioner Murmur3?)", t, err)
			}
			all = append(all, tokOwner{v, owner})
		}
		return nil
	}
	var local []string
	if err := s.sysQuery(ctx, `SELECT tokens FROM system.local`).Scan(&local); err != nil {
		return ring{}, err
	}
	if err := add(local, 0); err != nil {
		return ring{}, err
	}
	it := s.sysQuery(ctx, `SELECT tokens FROM system.peers`).Iter()
	var peer []string
	for n := 1; it.Scan(&peer); n++ {
		if err := add(peer, n); err != nil {
			_ = it.Close()
			return ring{}, err
		}
		peer = nil
	}
	if err := it.Close(); err != nil {
		return ring{}, err
	}
	slices.SortFunc(all, func(a, b tokOwner) int { return cmp.Compare(a.tok, b.tok) })
	all = slices.CompactFunc(all, func(a, b tokOwner) bool { return a.tok == b.tok })
	var r ring
	for _, t := range all {
		r.tokens = append(r.tokens, t.tok)
		r.owners = append(r.owners, t.owner)
	}
	return r, nil
}

// token is the Murmur3Partitioner token of a uuid partition key: the first
// half of MurmurHash3 x64/128 (seed 0) of its 16 bytes, as Cassandra
// computes it. Sixteen bytes are exactly one block, so Cassandra's
// sign-extension quirk in the tail never applies.
func token(u gocql.UUID) int64 {
	const c1, c2 = 0x87c37b91114253d5, 0x4cf5ad432745937f
	k1 := binary.LittleEndian.Uint64(u[0:8])
	k2 := binary.LittleEndian.Uint64(u[8:16])
	var h1, h2 uint64

	k1 *= c1
	k1 = bits.RotateLeft64(k1, 31)
	k1 *= c2
	h1 ^= k1
	h1 = bits.RotateLeft64(h1, 27)
	h1 += h2
	h1 = h1*5 + 0x52dce729

	k2 *= c2
	k2 = bits.RotateLeft64(k2, 33)
	k2 *= c1
	h2 ^= k2
	h2 = bits.RotateLeft64(h2, 31)
	h2 += h1
	h2 = h2*5 + 0x38495ab5

	h1 ^= 16
	h2 ^= 16
	h1 += h2
	h2 += h1
	h1, h2 = fmix64(h1), fmix64(h2)
	h1 += h2

	t := int64(h1)
	if t == math.MinInt64 { // Cassandra reserves the minimum token
		t = math.MaxInt64
	}
	return t
}

func fmix64(k uint64) uint64 {
	k ^= k >> 33
	k *= 0xff51afd7ed558ccd
	k ^= k >> 33
	k *= 0xc4ceb9fe1a85ec53
	k ^= k >> 33
	return k
}
