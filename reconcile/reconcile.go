package reconcile

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/gocql/gocql"

	"github.com/userstream/userstream/cassandrastore"
	"github.com/userstream/userstream/kafkasink/outbox"
	"github.com/userstream/userstream/transform"
)

// Outbox is what a [Reconciler] needs of an outbox: the latest version of
// each id, and re-staging. An *outbox.Store has these methods. The
// Reconciler calls them one at a time.
type Outbox interface {
	// Latest returns the latest version of each of ids that has one, in
	// any order.
	Latest(ctx context.Context, ids []string) ([]outbox.Version, error)
	// EachLatest calls fn with the latest version of every id, a page at
	// a time; with runID != "", of the ids staged in that run only.
	EachLatest(ctx context.Context, runID string, fn func([]outbox.Version) error) error
	// Republish stages the latest version of each of ids again, as a new
	// version, in the run runID, and returns how many it staged.
	Republish(ctx context.Context, runID string, ids []string) (int, error)
}

// Kind is the kind of a [Finding].
type Kind string

// The kinds of findings.
const (
	// Missing: the id's latest version is an upsert, and the table has no
	// row of it.
	Missing Kind = "missing"
	// Stale: the table's row differs from the id's latest version, or
	// was written before it (its write time is below the version).
	Stale Kind = "stale"
	// Unexpected: the table has a row of an id whose latest version is a
	// delete, or of which the outbox has no version at all.
	Unexpected Kind = "unexpected"
)

// Finding is an id whose row does not match its latest version.
type Finding struct {
	ID   string `json:"id"`
	Kind Kind   `json:"kind"`
	// Version is the outbox's latest version of the id (microseconds
	// since the Unix epoch); 0 when the outbox has none.
	Version int64 `json:"version"`
	// Deleted says that the latest version is a delete.
	Deleted bool `json:"deleted,omitempty"`
	// WriteTime is the write time of the table's row (microseconds since
	// the Unix epoch); 0 when the table has no row.
	WriteTime int64 `json:"write_time"`
}

// Repairable reports whether [Reconciler.Repair] re-stages the id: a
// missing or stale row, or a row whose latest version is a delete. A row
// the outbox has no version of is not: nothing says what it should be.
func (f Finding) Repairable() bool {
	return f.Kind == Missing || f.Kind == Stale || f.Kind == Unexpected && f.Version != 0 && f.Deleted
}

// Scope is what a check compares. The zero value is every id: the whole
// ring, cut into ranges checked one after the other ([WithRanges]).
type Scope struct {
	// RunID, when set, limits the check to the ids staged in that run
	// (each compared at its latest version, which may be of a later
	// run), read by id from the table: the check reads the run's ids,
	// not the table.
	RunID string `json:"run_id,omitempty"`
	// Ranges, when set, limit the check to the ids whose token is in one
	// of them; each is checked as one range, holding its rows' ids in
	// memory (see the package doc), so each should hold at most a few
	// million rows. With RunID, they filter the run's ids.
	Ranges []cassandrastore.TokenRange `json:"ranges,omitempty"`
}

// Report is the outcome of a check: exact counts, and the findings, up to
// [WithMaxFindings] of them.
type Report struct {
	Scope Scope `json:"scope"`
	// Compared counts the ids compared: those with a latest version or a
	// row (or both) in the scope, each once.
	Compared   int64 `json:"compared"`
	Missing    int64 `json:"missing"`
	Stale      int64 `json:"stale"`
	Unexpected int64 `json:"unexpected"`
	// Findings are the first findings met, up to [WithMaxFindings],
	// sorted by id.
	Findings []Finding `json:"findings"`
	// Truncated says that more findings were met than were kept.
	Truncated bool `json:"truncated,omitempty"`
}

// Differences returns how many ids differ: Missing + Stale + Unexpected.
func (r *Report) Differences() int64 { return r.Missing + r.Stale + r.Unexpected }

// ErrTruncated is returned, wrapped, by [Reconciler.Repair] given a
// report that kept only some of its findings: it repaired those; check
// again once they were carried to repair the others.
var ErrTruncated = errors.New("reconcile: the report kept only some findings")

// Reconciler compares an outbox with a cassandrastore table. It is safe
// for concurrent use; each call reads the outbox and the table itself.
type Reconciler struct {
	src   Outbox
	table *cassandrastore.Store
	cfg   config
}

// New returns a Reconciler of src, usually an *outbox.Store, and table,
// the store its relay's consumers write. It does no I/O.
func New(src Outbox, table *cassandrastore.Store, opts ...Opt) (*Reconciler, error) {
	if src == nil || table == nil {
		return nil, errors.New("reconcile: nil outbox or table")
	}
	cfg := defaultConfig()
	for _, o := range opts {
		o.apply(&cfg)
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	return &Reconciler{src: src, table: table, cfg: cfg}, nil
}

// Check compares the outbox's latest version of each id in scope with the
// table's row and write time, and reports the differences. It reads; it
// changes nothing. Versions being carried while it runs (staged, not yet
// consumed) show as missing or stale: check when the relay and the
// consumers have caught up, or check again.
func (r *Reconciler) Check(ctx context.Context, scope Scope) (*Report, error) {
	start := time.Now()
	rep := &report{Report: Report{Scope: scope}, max: r.cfg.maxFindings}
	var err error
	if scope.RunID != "" {
		err = r.checkRun(ctx, rep, scope)
	} else {
		ranges := scope.Ranges
		if len(ranges) == 0 {
			if ranges, err = r.ringRanges(ctx); err != nil {
				return nil, err
			}
		}
		for i, tr := range ranges {
			if err = r.checkRange(ctx, rep, tr); err != nil {
				break
			}
			r.cfg.logger.Info("reconcile: range checked", "range", i+1, "of", len(ranges), "start", tr.Start, "end", tr.End,
				"compared", rep.Compared, "differences", rep.Differences(), "elapsed", time.Since(start).Round(time.Millisecond))
		}
	}
	if err != nil {
		return nil, err
	}
	slices.SortFunc(rep.Findings, func(a, b Finding) int { return cmp.Compare(a.ID, b.ID) })
	secs := time.Since(start).Seconds()
	r.cfg.logger.Info("reconcile: checked", "compared", rep.Compared, "missing", rep.Missing, "stale", rep.Stale,
		"unexpected", rep.Unexpected, "seconds", secs, "ids_per_second", float64(rep.Compared)/max(secs, 1e-9))
	return &rep.Report, nil
}

// ringRanges returns the ranges of a whole-ring check: WithRanges', or one
// per DefaultRangeRows latest upserts, counted by a pass over the outbox.
func (r *Reconciler) ringRanges(ctx context.Context) ([]cassandrastore.TokenRange, error) {
	n := r.cfg.ranges
	if n == 0 {
		var upserts int
		err := r.src.EachLatest(ctx, "", func(vs []outbox.Version) error {
			for _, v := range vs {
				if !v.Deleted {
					upserts++
				}
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("reconcile: count the outbox's ids: %w", err)
		}
		n = max(1, (upserts+DefaultRangeRows-1)/DefaultRangeRows)
	}
	return cassandrastore.SplitRing(n), nil
}

// report is a Report being filled.
type report struct {
	Report
	max int
}

// add counts f and keeps it if there is room.
func (rep *report) add(f Finding) {
	switch f.Kind {
	case Missing:
		rep.Missing++
	case Stale:
		rep.Stale++
	case Unexpected:
		rep.Unexpected++
	}
	if len(rep.Findings) < rep.max {
		rep.Findings = append(rep.Findings, f)
	} else {
		rep.Truncated = true
	}
}

// compare compares id's latest version v (nil: none) with its row st
// (nil: none), counts the id and adds a finding if they differ.
func (rep *report) compare(id string, v *outbox.Version, st *cassandrastore.Stored) {
	rep.Compared++
	f := Finding{ID: id}
	if v != nil {
		f.Version, f.Deleted = v.Version, v.Deleted
	}
	if st != nil {
		f.WriteTime = st.WriteTime
	}
	switch {
	case st == nil && (v == nil || v.Deleted):
		return // absent, as it should be
	case st == nil:
		f.Kind = Missing
	case v == nil || v.Deleted:
		f.Kind = Unexpected
	case st.WriteTime < v.Version || !sameRow(v.Payload, st.Row):
		f.Kind = Stale
	default:
		return
	}
	rep.add(f)
}

// sameRow reports whether payload, a version's wire JSON, decodes to row.
// A payload that does not decode matches no row: its consumers
// dead-letter it, so the table cannot hold it.
func sameRow(payload []byte, row transform.Row) bool {
	want, err := transform.Unmarshal(payload)
	return err == nil && want == row
}

// checkRun compares the ids staged in scope.RunID, read by id from the
// table.
func (r *Reconciler) checkRun(ctx context.Context, rep *report, scope Scope) error {
	err := r.src.EachLatest(ctx, scope.RunID, func(vs []outbox.Version) error {
		ids := make([]string, 0, len(vs))
		keep := vs[:0:0]
		for _, v := range vs {
			if len(scope.Ranges) > 0 {
				tok, err := cassandrastore.Token(v.ID)
				if err != nil || !inRanges(tok, scope.Ranges) {
					continue
				}
			}
			ids = append(ids, v.ID)
			keep = append(keep, v)
		}
		if len(ids) == 0 {
			return nil
		}
		rows, err := r.table.Lookup(ctx, ids)
		if err != nil {
			return fmt.Errorf("reconcile: read the run's rows: %w", err)
		}
		byID := make(map[[16]byte]*cassandrastore.Stored, len(rows))
		for i := range rows {
			if k, ok := key(rows[i].Row.ID); ok {
				byID[k] = &rows[i]
			}
		}
		for i := range keep {
			k, _ := key(keep[i].ID)
			rep.compare(keep[i].ID, &keep[i], byID[k])
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("reconcile: run %q: %w", scope.RunID, err)
	}
	return nil
}

func inRanges(tok int64, rs []cassandrastore.TokenRange) bool {
	for _, r := range rs {
		if r.Start <= tok && tok <= r.End {
			return true
		}
	}
	return false
}

// key returns id as the 16 bytes of its UUID, so that ids compare
// whatever their case; ok is false when id is not a UUID.
func key(id string) (k [16]byte, ok bool) {
	u, err := gocql.ParseUUID(id)
	return u, err == nil
}

// seenID is a row the scan of a range met: its token, then its id.
type seenID struct {
	tok int64
	id  [16]byte
}

// checkRange compares the ids of one token range: the table's rows,
// scanned, with their latest versions (stale and unexpected), then the
// outbox's ids in the range that the scan did not meet (missing).
func (r *Reconciler) checkRange(ctx context.Context, rep *report, tr cassandrastore.TokenRange) error {
	// The ids seen, in token order since Scan reads in token order: 24
	// bytes a row, searched by token, where a map would take three times
	// that.
	var seen []seenID
	compare := func(page []cassandrastore.Stored) error {
		ids := make([]string, len(page))
		for i := range page {
			ids[i] = page[i].Row.ID
		}
		vs, err := r.src.Latest(ctx, ids)
		if err != nil {
			return fmt.Errorf("reconcile: read the latest versions: %w", err)
		}
		byID := make(map[[16]byte]*outbox.Version, len(vs))
		for i := range vs {
			if k, ok := key(vs[i].ID); ok {
				byID[k] = &vs[i]
			}
		}
		for i := range page {
			st := &page[i]
			k, ok := key(st.Row.ID)
			if !ok {
				continue // the table's key is a uuid: cannot happen
			}
			tok, _ := cassandrastore.Token(st.Row.ID)
			seen = append(seen, seenID{tok, k})
			rep.compare(st.Row.ID, byID[k], st)
		}
		return nil
	}
	if err := scanPipelined(ctx, r.table, tr, compare); err != nil {
		return fmt.Errorf("reconcile: range [%d, %d]: %w", tr.Start, tr.End, err)
	}
	byTok := func(a, b seenID) int { return cmp.Compare(a.tok, b.tok) }
	if !slices.IsSortedFunc(seen, byTok) {
		slices.SortFunc(seen, byTok)
	}
	err := r.src.EachLatest(ctx, "", func(vs []outbox.Version) error {
		for i := range vs {
			v := &vs[i]
			tok, err := cassandrastore.Token(v.ID)
			if err != nil {
				// Not a uuid: the consumers dead-letter it; it has no
				// row and no range.
				r.cfg.logger.Warn("reconcile: outbox id is not a uuid", "id", v.ID)
				continue
			}
			if tok < tr.Start || tok > tr.End {
				continue
			}
			k, _ := key(v.ID)
			if !contains(seen, tok, k) {
				rep.compare(v.ID, v, nil)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("reconcile: range [%d, %d]: read the outbox: %w", tr.Start, tr.End, err)
	}
	return nil
}

// scanPipelined scans tr, calling fn with each page in order, in a
// goroutine of its own, so that the table's next page is read while fn
// reads the outbox: a page read ahead at most. An error of fn ends the
// scan and is returned.
func scanPipelined(ctx context.Context, table *cassandrastore.Store, tr cassandrastore.TokenRange, fn func([]cassandrastore.Stored) error) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	pages := make(chan []cassandrastore.Stored, 1)
	done := make(chan error, 1)
	go func() {
		var err error
		for page := range pages {
			if err == nil {
				if err = fn(page); err != nil {
					cancel(err) // ends the scan
				}
			}
		}
		done <- err
	}()
	scanErr := table.Scan(ctx, tr, func(page []cassandrastore.Stored) error {
		select {
		case pages <- page:
			return nil
		case <-ctx.Done():
			return context.Cause(ctx)
		}
	})
	close(pages)
	if err := <-done; err != nil {
		return err // fn's, which ended the scan
	}
	return scanErr
}

// contains reports whether seen, sorted by token, holds id k of token tok.
func contains(seen []seenID, tok int64, k [16]byte) bool {
	i, _ := slices.BinarySearchFunc(seen, tok, func(s seenID, t int64) int { return cmp.Compare(s.tok, t) })
	for ; i < len(seen) && seen[i].tok == tok; i++ {
		if seen[i].id == k {
			return true
		}
	}
	return false
}

// repairPage is how many ids one Republish call re-stages.
const repairPage = 5000

// Repair re-stages, in the run runID, the latest version of each
// repairable finding of rep ([Finding.Repairable]): missing and stale
// rows, and rows whose latest version is a delete. Each is staged again
// as a new, newer version and carried by the relay and the consumers as
// any other, so it wins over the row the table holds, even one written by
// hand since. It returns how many versions it staged. Repairing twice
// stages them twice, each time newer: harmless. A report that kept only
// some findings ([Report].Truncated) has those repaired, and an error
// wrapping [ErrTruncated] is returned with the count.
func (r *Reconciler) Repair(ctx context.Context, rep *Report, runID string) (int, error) {
	if runID == "" {
		return 0, errors.New("reconcile: repair: empty run id")
	}
	var ids []string
	for _, f := range rep.Findings {
		if f.Repairable() {
			ids = append(ids, f.ID)
		}
	}
	n := 0
	for page := range slices.Chunk(ids, repairPage) {
		k, err := r.src.Republish(ctx, runID, page)
		n += k
		if err != nil {
			return n, fmt.Errorf("reconcile: repair: %w", err)
		}
	}
	r.cfg.logger.Info("reconcile: repaired", "run", runID, "restaged", n)
	if rep.Truncated {
		return n, fmt.Errorf("reconcile: repair: %d of %d differences kept: %w", len(rep.Findings), rep.Differences(), ErrTruncated)
	}
	return n, nil
}
