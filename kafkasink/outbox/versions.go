package outbox

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
)

// Version is one version of a user in the outbox, as [Store.Latest] and
// [Store.EachLatest] read it.
type Version struct {
	ID        string // the user's id, a canonical UUID
	Seq       int64  // the stage order
	Version   int64  // microseconds since the Unix epoch (see Versions in the package doc)
	Deleted   bool   // the version is the user's deletion
	Payload   []byte // the wire JSON; nil for a delete
	RunID     string // the run that staged it
	FetchedAt time.Time
}

// eachLatestPage is the number of versions [Store.EachLatest] reads, and
// hands its function, at a time.
const eachLatestPage = 5000

// Latest returns the latest version of each id of ids that the outbox has
// a version of, in no particular order; an id repeated in ids is returned
// once. Ids must be canonical UUIDs, or Latest returns an
// *[InvalidIDError] before any I/O.
func (s *Store) Latest(ctx context.Context, ids []string) ([]Version, error) {
	uuids, err := parseIDs(ids)
	if err != nil {
		return nil, err
	}
	unique := uniqueIDs(uuids)
	if len(unique) == 0 {
		return nil, nil
	}
	rows, err := s.pool.Query(ctx, s.q.latest, unique)
	if err != nil {
		return nil, s.wrap("latest", err)
	}
	out, err := scanVersions(rows, len(unique))
	return out, s.wrap("latest", err)
}

// EachLatest calls fn with the latest version of every id in the outbox,
// in pages of up to 5,000 in id order, until fn returns an error (which
// EachLatest returns) or every id was read. With a runID, only the ids
// that have a version staged in that run are read (still their latest
// version, which may be of a later run); retention cleanup may have
// deleted that run's versions that newer ones replaced. Each page is its
// own query (keyset pagination by id), so versions staged meanwhile may
// or may not be seen, but every id that had a version at the start is
// read once. fn owns the slice.
func (s *Store) EachLatest(ctx context.Context, runID string, fn func([]Version) error) error {
	var after pgtype.UUID
	for {
		var (
			rows pgx.Rows
			err  error
		)
		if after.Valid {
			rows, err = s.pool.Query(ctx, s.q.eachLatestAt, runID, eachLatestPage, after)
		} else {
			rows, err = s.pool.Query(ctx, s.q.eachLatest, runID, eachLatestPage)
		}
		if err != nil {
			return s.wrap("latest", err)
		}
		page, err := scanVersions(rows, eachLatestPage)
		if err != nil {
			return s.wrap("latest", err)
		}
		if len(page) == 0 {
			return nil
		}
		if err := after.Scan(page[len(page)-1].ID); err != nil {
			return s.wrap("latest", err)
		}
		if err := fn(page); err != nil {
			return err
		}
		if len(page) < eachLatestPage {
			return nil
		}
	}
}

// Republish stages the latest version of each id of ids again, as a new
// version: the same payload, or the same deletion, with a fresh version
// (now, after every version staged before), under runID, published
// through the relays like any other. A reconciler calls it to repair a
// store whose row differs from the outbox's latest version, so that this
// version wins even over a row written there later with a newer write
// time. Ids the outbox has no version of are skipped, and an id repeated in
// ids is staged once; Republish returns how many versions it staged. Ids
// must be canonical UUIDs, or it returns an *[InvalidIDError] before any
// I/O.
func (s *Store) Republish(ctx context.Context, runID string, ids []string) (int, error) {
	if runID == "" {
		return 0, errors.New("outbox: empty run id")
	}
	uuids, err := parseIDs(ids)
	if err != nil {
		return 0, err
	}
	unique := uniqueIDs(uuids)
	if len(unique) == 0 {
		return 0, nil
	}
	n, err := s.republish(ctx, runID, unique)
	if err != nil {
		return 0, s.wrap("republish", err)
	}
	if s.m != nil {
		s.m.staged.Add(float64(n))
	}
	return int(n), nil
}

func (s *Store) republish(ctx context.Context, runID string, uuids []pgtype.UUID) (int64, error) {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return 0, err
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	// As in Stage: the reservation takes the lock, so the INSERT reads
	// the latest versions as of every earlier stager's commit.
	var base int64
	if err := tx.QueryRow(ctx, s.q.versions, len(uuids)).Scan(&base, nil); err != nil {
		return 0, err
	}
	tag, err := tx.Exec(ctx, s.q.republish, runID, base, uuids)
	if err != nil {
		return 0, err
	}
	return tag.RowsAffected(), tx.Commit(ctx)
}

// uniqueIDs returns ids without repeats, in the order of their first
// occurrence, as pgtype.UUIDs for a uuid[] parameter.
func uniqueIDs(ids [][16]byte) []pgtype.UUID {
	seen := make(map[[16]byte]bool, len(ids))
	out := make([]pgtype.UUID, 0, len(ids))
	for _, u := range ids {
		if !seen[u] {
			seen[u] = true
			out = append(out, pgtype.UUID{Bytes: u, Valid: true})
		}
	}
	return out
}

// scanVersions reads the rows of a latestOf query and closes them.
func scanVersions(rows pgx.Rows, capacity int) ([]Version, error) {
	defer rows.Close()
	out := make([]Version, 0, min(capacity, eachLatestPage))
	for rows.Next() {
		var v Version
		if err := rows.Scan(&v.ID, &v.Seq, &v.Version, &v.Deleted, &v.Payload, &v.RunID, &v.FetchedAt); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}
