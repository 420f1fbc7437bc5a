package cassandrastore

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"strings"
	"sync"

	"github.com/gocql/gocql"

	"github.com/userstream/userstream/transform"
)

// Stored is a row as the table holds it, with its write time: what a
// reconciler compares with the versions it expects.
type Stored struct {
	Row transform.Row
	// WriteTime is the newest write time, in microseconds since the Unix
	// epoch, among the row's non-key columns, as CQL's writetime() reports
	// it: the Version of the change that wrote the row, when ApplyMany
	// wrote it at one.
	WriteTime int64
}

// TokenRange is a range of Murmur3 tokens, both ends included.
type TokenRange struct{ Start, End int64 }

// FullRing is the range of every token.
var FullRing = TokenRange{math.MinInt64, math.MaxInt64}

// SplitRing returns n contiguous ranges, in token order, of (nearly) equal
// width, that cover the ring exactly once: for scanning it with n
// [Store.Scan] calls in parallel. n < 1 is taken as 1: [FullRing].
func SplitRing(n int) []TokenRange {
	n = max(n, 1)
	out := make([]TokenRange, n)
	// Range i starts i/n of the way round the ring of 2^64 tokens from
	// its minimum: the quotient of i·2^64 by n, which bits.Div64 computes
	// without overflow since i < n.
	start := func(i int) int64 {
		q, _ := bits.Div64(uint64(i), 0, uint64(n))
		return int64(uint64(1<<63) + q) // MinInt64 + q, wrapping
	}
	for i := range out {
		out[i].Start = start(i)
		if i+1 < n {
			out[i].End = start(i+1) - 1
		} else {
			out[i].End = math.MaxInt64
		}
	}
	return out
}

// Token returns the Murmur3 token of the partition of id, the one
// Cassandra's token(id) returns, or an error wrapping [ErrInvalidID] when
// id is not a UUID.
func Token(id string) (int64, error) {
	u, err := gocql.ParseUUID(id)
	if err != nil {
		return 0, fmt.Errorf("cassandrastore: token %q: %w", id, ErrInvalidID)
	}
	return token(u), nil
}

// storedColumns are the columns a Stored is read from: columns, then the
// writetime of each non-key column (the key has none).
var storedColumns = func() []string {
	out := append([]string(nil), columns...)
	for _, c := range columns[1:] {
		out = append(out, "writetime("+c+")")
	}
	return out
}()

// storedSelect returns the SELECT of storedColumns from table.
func storedSelect(table string) string {
	return "SELECT " + strings.Join(storedColumns, ", ") + " FROM " + table
}

// storedScanner reads rows of storedColumns into Stored values.
type storedScanner struct {
	st   Stored
	wt   []int64 // of columns[1:]
	dest []any
}

func newStoredScanner() *storedScanner {
	sc := &storedScanner{wt: make([]int64, len(columns)-1)}
	r := &sc.st.Row
	sc.dest = []any{
		&r.ID, &r.FirstName, &r.LastName, &r.Gender, &r.Address, &r.PostCode,
		&r.Email, &r.Username, &r.RegisteredDate, &r.Phone, &r.Picture, &r.DOB,
	}
	for i := range sc.wt {
		sc.dest = append(sc.dest, &sc.wt[i])
	}
	return sc
}

// stored returns the row scanned last and clears the scanner for the next.
// A null column reads as "" and its null writetime as 0.
func (sc *storedScanner) stored() Stored {
	// The newest of the columns' write times, not one column's: ApplyMany
	// writes every column at the version, but a hand UPDATE of one column
	// moves only that column's, and the row then holds data newer than
	// its version, which a reconciler must see.
	st := sc.st
	st.WriteTime = 0
	for _, w := range sc.wt {
		st.WriteTime = max(st.WriteTime, w)
	}
	sc.st = Stored{}
	clear(sc.wt)
	return st
}

// Lookup returns the rows among ids that the table holds, with their write
// times, in any order; an id with no row is left out (an id given twice
// comes back twice). It reads each id by itself, routed to a replica of
// it, 64 reads in flight, at the session's consistency. An id that is not
// a UUID fails the call with [ErrInvalidID] before anything is read; the
// first read that fails ends the call with its error.
func (s *Store) Lookup(ctx context.Context, ids []string) ([]Stored, error) {
	for _, id := range ids {
		if err := checkID(id); err != nil {
			return nil, fmt.Errorf("cassandrastore: lookup %q: %w", id, err)
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		mu       sync.Mutex
		out      []Stored
		firstErr error
	)
	parallel(len(ids), DefaultConcurrency, func(i int) {
		if ctx.Err() != nil {
			return
		}
		sc := newStoredScanner()
		q := s.session.Session.Query(s.lookupStmt, ids[i]).WithContext(ctx).Idempotent(true)
		err := q.Scan(sc.dest...)
		q.Release()
		mu.Lock()
		defer mu.Unlock()
		switch {
		case err == nil:
			out = append(out, sc.stored())
		case errors.Is(err, gocql.ErrNotFound):
		case firstErr == nil:
			firstErr = fmt.Errorf("cassandrastore: lookup %q: %w", ids[i], err)
			cancel()
		}
	})
	if firstErr == nil && ctx.Err() != nil {
		// The caller's context ended: some ids were never read.
		firstErr = fmt.Errorf("cassandrastore: lookup: %w", context.Cause(ctx))
	}
	if firstErr != nil {
		return nil, firstErr
	}
	return out, nil
}

// Scan calls fn with the rows whose token is in r, with their write times,
// a page of up to 5,000 rows ([DefaultPageSize]) per request and per call,
// in token order, at the session's consistency. fn owns the slice it is
// given and is never called with an empty one. An error of fn ends the scan
// and is returned as is; an error reading a page ends it too, wrapped.
// Scanning the ranges of [SplitRing] in parallel reads the table faster
// than one Scan of [FullRing] does.
func (s *Store) Scan(ctx context.Context, r TokenRange, fn func([]Stored) error) error {
	if r.Start > r.End {
		return fmt.Errorf("cassandrastore: scan: range start %d > end %d", r.Start, r.End)
	}
	sc := newStoredScanner()
	var state []byte
	for {
		// One request per page, paged by hand (PageState turns the
		// driver's paging off), so that fn runs between requests and
		// no page is fetched before fn asked for it.
		q := s.session.Session.Query(s.scanStmt, r.Start, r.End).WithContext(ctx).
			PageSize(DefaultPageSize).PageState(state).Idempotent(true)
		it := q.Iter()
		page := make([]Stored, 0, it.NumRows())
		for it.Scan(sc.dest...) {
			page = append(page, sc.stored())
		}
		next := it.PageState()
		err := it.Close()
		q.Release()
		if err != nil {
			return fmt.Errorf("cassandrastore: scan [%d, %d]: %w", r.Start, r.End, err)
		}
		// A page may be empty and not the last, for one.
		if len(page) > 0 {
			if err := fn(page); err != nil {
				return err
			}
		}
		if len(next) == 0 {
			return nil
		}
		state = next
	}
}
