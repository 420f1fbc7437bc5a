package outbox

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/userstream/userstream/transform"
)

// InvalidIDError is returned by [Store.StageDeletes], [Store.Republish] and
// [Store.Latest] for an id that is not a UUID in canonical form (36
// characters, 8-4-4-4-12 lower-case hex digits), before any I/O.
type InvalidIDError struct {
	Index int    // the id's index in the call's ids
	ID    string // the id, quoted in Error
}

func (e *InvalidIDError) Error() string {
	return fmt.Sprintf("outbox: id %d (%.40q) is not a canonical UUID (8-4-4-4-12 lower-case hex digits)", e.Index, e.ID)
}

// Stage stages rows, fetched in the run runID, as versions of their users
// (see Versions in the package doc). Each version is stored with its id,
// its wire JSON ([transform.Marshal], with the id in lower case), the run
// id, the time of staging as its fetch time, and its version. A row equal
// to its id's latest version in the outbox, or to the row before it of the
// same id in rows, is not stored again and is counted as a duplicate; a
// row that differs is a new version, staged after the versions before it,
// and counted in [StageResult.Updates] when its user had one.
//
// The page is staged in one transaction: all of it, or, on error, none. It
// waits for any other transaction inserting into the outbox to end (see
// the package doc), so pages get their seqs and versions, and become
// visible, one after the other, and the comparison with the latest
// versions sees every page staged before. Every row must be valid;
// otherwise Stage returns an *[InvalidRowError] before any I/O. Pages of
// at least [WithCopyThreshold] rows are loaded with COPY. Committing wakes
// the relays listening on [Store.Channel].
func (s *Store) Stage(ctx context.Context, runID string, rows []transform.Row) (StageResult, error) {
	if runID == "" {
		return StageResult{}, errors.New("outbox: empty run id")
	}
	for i := range rows {
		if err := rows[i].Validate(); err != nil {
			return StageResult{}, &InvalidRowError{Index: i, Err: err}
		}
	}
	if len(rows) == 0 {
		return StageResult{}, nil
	}
	// A repeat of an id in the page is compared here with the row before
	// it: equal, it is a duplicate; different, a newer version. Only the
	// first change of an id is compared with the table.
	changes := make([]change, 0, len(rows))
	last := make(map[[16]byte]int, len(rows)) // id -> index of its last row
	for i := range rows {
		var u pgtype.UUID
		if err := u.Scan(rows[i].ID); err != nil {
			return StageResult{}, &InvalidRowError{Index: i, Err: err} // Validate checked it: not reached
		}
		j, seen := last[u.Bytes]
		last[u.Bytes] = i
		if seen && sameRow(rows[i], rows[j]) {
			continue
		}
		changes = append(changes, change{row: i, id: u.Bytes, first: !seen})
	}
	payload := func(c change, buf []byte) []byte {
		r := rows[c.row]
		if strings.ContainsAny(r.ID, "ABCDEF") {
			r.ID = strings.ToLower(r.ID) // the key's form, so equal users compare equal
		}
		return transform.AppendJSON(buf, r)
	}
	return s.stage(ctx, runID, len(rows), changes, payload)
}

// StageDeletes stages the deletion of each user of ids, fetched (found
// erased) in the run runID: a version with no payload, published as a
// tombstone (see Versions in the package doc). A delete of an id whose
// latest version is a delete, or that repeats an id earlier in ids, is a
// duplicate; a delete of an id the outbox has no version of is staged (the
// user may have reached the stores by other means). Ids must be canonical
// UUIDs, or StageDeletes returns an *[InvalidIDError] before any I/O. Like
// [Store.Stage], it stages all or nothing, in one transaction.
func (s *Store) StageDeletes(ctx context.Context, runID string, ids []string) (StageResult, error) {
	if runID == "" {
		return StageResult{}, errors.New("outbox: empty run id")
	}
	uuids, err := parseIDs(ids)
	if err != nil {
		return StageResult{}, err
	}
	if len(ids) == 0 {
		return StageResult{}, nil
	}
	changes := make([]change, 0, len(ids))
	seen := make(map[[16]byte]bool, len(ids))
	for _, u := range uuids {
		if !seen[u] {
			seen[u] = true
			changes = append(changes, change{row: -1, id: u, first: true})
		}
	}
	return s.stage(ctx, runID, len(ids), changes, func(change, []byte) []byte { return nil })
}

// change is one row (or delete) of a page that Stage's filtering kept.
type change struct {
	row   int // index in the page's rows; -1 for a delete
	id    [16]byte
	first bool // the first change of its id in the page
}

// sameRow reports whether a and b, rows of one id, are the same version:
// equal but for the id's case.
func sameRow(a, b transform.Row) bool {
	a.ID, b.ID = "", ""
	return a == b
}

// stage stages changes, the filtered changes of a page of n rows (or
// ids); payload appends a change's wire JSON to buf, or returns nil for a
// delete.
func (s *Store) stage(ctx context.Context, runID string, n int, changes []change, payload func(change, []byte) []byte) (StageResult, error) {
	start := time.Now()
	staged, updates, err := s.stageChanges(ctx, runID, changes, payload)
	if s.m != nil {
		s.m.stageSeconds.Observe(time.Since(start).Seconds())
	}
	if err != nil {
		return StageResult{}, s.wrap("stage", err)
	}
	res := StageResult{Staged: int(staged), Duplicates: n - int(staged), Updates: int(updates)}
	if s.m != nil {
		s.m.staged.Add(float64(res.Staged))
		s.m.duplicates.Add(float64(res.Duplicates))
	}
	return res, nil
}

// stageChanges runs the transaction of a page: load the changes (COPY
// into a temporary table, or, for a small page, arrays in the INSERT),
// reserve their versions (which takes the outbox_serialize lock), then
// insert the changes that differ from their id's latest version. The
// reservation is a statement of its own so that the INSERT's snapshot,
// taken after the lock, sees every earlier stager's commit: two stagers
// of one user cannot both miss each other's version.
func (s *Store) stageChanges(ctx context.Context, runID string, changes []change, payload func(change, []byte) []byte) (staged, updates int64, err error) {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return 0, 0, err
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }() // no-op after Commit

	useCopy := len(changes) >= s.cfg.copyThreshold
	var args []any
	if useCopy {
		if err := s.copyChanges(ctx, tx, changes, payload); err != nil {
			return 0, 0, err
		}
	} else {
		args = unnestArgs(changes, payload)
	}
	var base int64
	if err := tx.QueryRow(ctx, s.q.versions, len(changes)).Scan(&base, nil); err != nil {
		return 0, 0, err
	}
	if useCopy {
		err = tx.QueryRow(ctx, s.q.stageFromTemp, runID, base).Scan(&staged, &updates)
	} else {
		err = tx.QueryRow(ctx, s.q.stageInsert, append([]any{runID, base}, args...)...).Scan(&staged, &updates)
	}
	if err != nil {
		return 0, 0, err
	}
	return staged, updates, tx.Commit(ctx)
}

// unnestArgs returns the arrays of a small page's INSERT.
func unnestArgs(changes []change, payload func(change, []byte) []byte) []any {
	ords := make([]int32, len(changes))
	ids := make([]pgtype.UUID, len(changes))
	payloads := make([]pgtype.Text, len(changes))
	firsts := make([]bool, len(changes))
	var buf []byte
	for i, c := range changes {
		ords[i], firsts[i] = int32(i), c.first
		ids[i] = pgtype.UUID{Bytes: c.id, Valid: true}
		if buf = payload(c, buf[:0]); buf != nil {
			payloads[i] = pgtype.Text{String: string(buf), Valid: true}
		}
	}
	return []any{ords, ids, payloads, firsts}
}

// copyChanges loads a large page into the temporary table with COPY. The
// table lives as long as the connection and is emptied at each commit, so
// a pooled connection creates it once instead of adding and dropping a
// catalog entry for every page.
func (s *Store) copyChanges(ctx context.Context, tx pgx.Tx, changes []change, payload func(change, []byte) []byte) error {
	if _, err := tx.Exec(ctx, stageTableDDL); err != nil {
		return err
	}
	// Rows are encoded as COPY consumes them, into one reused buffer (pgx
	// encodes each row's values before asking for the next), so a page is
	// not held twice in memory. The id goes as a pgtype.UUID: given as a
	// string, pgx's binary COPY encoding fails first and builds an error
	// before falling back to text (measured: 4.5% of the pipeline's CPU).
	var buf []byte
	i := -1
	src := pgx.CopyFromFunc(func() ([]any, error) {
		i++
		if i == len(changes) {
			return nil, nil
		}
		c := changes[i]
		var p any // NULL: a delete
		if buf = payload(c, buf[:0]); buf != nil {
			p = buf
		}
		return []any{int32(i), pgtype.UUID{Bytes: c.id, Valid: true}, p, c.first}, nil
	})
	_, err := tx.CopyFrom(ctx, pgx.Identifier{"pg_temp", stageTable}, []string{"ord", "id", "payload", "first"}, src)
	return err
}

// parseIDs parses canonical UUIDs, or returns an *InvalidIDError.
func parseIDs(ids []string) ([][16]byte, error) {
	out := make([][16]byte, len(ids))
	for i, id := range ids {
		u, ok := parseCanonical(id)
		if !ok {
			return nil, &InvalidIDError{Index: i, ID: id}
		}
		out[i] = u
	}
	return out, nil
}

// parseCanonical parses a UUID in canonical form: 8-4-4-4-12 lower-case
// hex digits.
func parseCanonical(s string) (u [16]byte, ok bool) {
	if len(s) != 36 {
		return u, false
	}
	j := 0
	for i := 0; i < 36; {
		if i == 8 || i == 13 || i == 18 || i == 23 {
			if s[i] != '-' {
				return u, false
			}
			i++
			continue
		}
		hi, ok1 := hexDigit(s[i])
		lo, ok2 := hexDigit(s[i+1])
		if !ok1 || !ok2 {
			return u, false
		}
		u[j] = hi<<4 | lo
		j++
		i += 2
	}
	return u, true
}

func hexDigit(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	}
	return 0, false
}
