package cassandrastore_test

import (
	"errors"
	"math"
	"testing"
	"time"

	"github.com/userstream/userstream/cassandrastore"
	"github.com/userstream/userstream/internal/testenv"
	"github.com/userstream/userstream/transform"
)

func TestSplitRing(t *testing.T) {
	for _, n := range []int{-1, 0, 1, 2, 3, 7, 8, 16, 1000} {
		rs := cassandrastore.SplitRing(n)
		if want := max(n, 1); len(rs) != want {
			t.Fatalf("SplitRing(%d): %d ranges, want %d", n, len(rs), want)
		}
		if rs[0].Start != math.MinInt64 || rs[len(rs)-1].End != math.MaxInt64 {
			t.Fatalf("SplitRing(%d) covers [%d, %d], want the whole ring", n, rs[0].Start, rs[len(rs)-1].End)
		}
		var minW, maxW uint64 = math.MaxUint64, 0
		for i, r := range rs {
			if r.Start > r.End {
				t.Fatalf("SplitRing(%d)[%d] = %+v is empty", n, i, r)
			}
			if i > 0 && rs[i-1].End+1 != r.Start {
				t.Fatalf("SplitRing(%d): range %d ends at %d, range %d starts at %d", n, i-1, rs[i-1].End, i, r.Start)
			}
			w := uint64(r.End - r.Start)
			minW, maxW = min(minW, w), max(maxW, w)
		}
		if maxW-minW > 1 {
			t.Errorf("SplitRing(%d): widths from %d to %d, want equal within 1", n, minW, maxW)
		}
	}
	if got := cassandrastore.SplitRing(1)[0]; got != cassandrastore.FullRing {
		t.Errorf("SplitRing(1) = %+v, want FullRing", got)
	}
	if got := cassandrastore.SplitRing(2); got[0].End != -1 || got[1].Start != 0 {
		t.Errorf("SplitRing(2) = %+v, want the halves [min, -1] and [0, max]", got)
	}
}

func TestTokenInvalidID(t *testing.T) {
	if _, err := cassandrastore.Token("not-a-uuid"); !errors.Is(err, cassandrastore.ErrInvalidID) {
		t.Fatalf("Token(not-a-uuid) = %v, want ErrInvalidID", err)
	}
	// From Cassandra 5.0.6, as TestTokenKnownValues.
	if got, err := cassandrastore.Token("7a0eed16-9430-4d68-901f-c0d4c1c3bf22"); err != nil || got != 4132802526281903742 {
		t.Fatalf("Token = %d, %v", got, err)
	}
}

// TestLookupAndScan reads back, with their write times, rows ApplyMany
// wrote at their versions, through Lookup and through Scan of the whole
// ring and of SplitRing(8), on enough rows that a range takes several
// pages.
func TestLookupAndScan(t *testing.T) {
	t.Parallel()
	session := newSession(t)
	ks := testenv.Name(t, "read")
	dropKeyspaceAtEnd(t, session, ks)
	st := migrated(t, session, ks, "users")
	ctx := t.Context()

	const n = 12_000 // more than two pages of 5,000
	base := time.Now().Add(-time.Hour).UnixMicro()
	users := rows(n)
	want := make(map[string]cassandrastore.Stored, n)
	cs := make([]transform.Change, n)
	for i, u := range users {
		cs[i] = transform.Change{Row: u, Version: base + int64(i)}
		want[u.ID] = cassandrastore.Stored{Row: u, WriteTime: base + int64(i)}
	}
	for lo := 0; lo < n; lo += 1000 {
		if err := st.ApplyMany(ctx, cs[lo:lo+1000]); err != nil {
			t.Fatal(err)
		}
	}
	// A hand update of one column, newer than the version: the row's
	// write time is the newest of its columns'.
	hand := users[5]
	hand.Phone = "(111) 111-1111"
	if err := session.Session.Query(`UPDATE `+ks+`.users USING TIMESTAMP ? SET phone = ? WHERE id = ?`,
		base+n+7, hand.Phone, hand.ID).WithContext(ctx).Exec(); err != nil {
		t.Fatal(err)
	}
	want[hand.ID] = cassandrastore.Stored{Row: hand, WriteTime: base + n + 7}

	t.Run("Lookup", func(t *testing.T) {
		var ids []string
		for _, u := range users[:500] {
			ids = append(ids, u.ID)
		}
		for _, u := range rows(50) { // never written
			ids = append(ids, u.ID)
		}
		got, err := st.Lookup(ctx, ids)
		if err != nil {
			t.Fatalf("Lookup: %v", err)
		}
		if len(got) != 500 {
			t.Fatalf("Lookup of 500 present and 50 absent ids returned %d rows", len(got))
		}
		seen := map[string]bool{}
		for _, s := range got {
			if seen[s.Row.ID] {
				t.Fatalf("Lookup returned %s twice", s.Row.ID)
			}
			seen[s.Row.ID] = true
			if s != want[s.Row.ID] {
				t.Fatalf("Lookup: %+v, want %+v", s, want[s.Row.ID])
			}
		}
		if got, err := st.Lookup(ctx, nil); err != nil || len(got) != 0 {
			t.Fatalf("Lookup(nil) = %v, %v", got, err)
		}
		if _, err := st.Lookup(ctx, []string{users[0].ID, "nope"}); !errors.Is(err, cassandrastore.ErrInvalidID) {
			t.Fatalf("Lookup with an invalid id = %v, want ErrInvalidID", err)
		}
	})

	// scan collects the rows of r, checking pages and token order.
	scan := func(t *testing.T, r cassandrastore.TokenRange) (rows []cassandrastore.Stored, pages int) {
		t.Helper()
		last := int64(math.MinInt64)
		err := st.Scan(ctx, r, func(page []cassandrastore.Stored) error {
			pages++
			if len(page) == 0 || len(page) > cassandrastore.DefaultPageSize {
				t.Fatalf("page of %d rows", len(page))
			}
			for _, s := range page {
				tok, err := cassandrastore.Token(s.Row.ID)
				if err != nil {
					t.Fatal(err)
				}
				if tok < r.Start || tok > r.End {
					t.Fatalf("token %d of %s outside [%d, %d]", tok, s.Row.ID, r.Start, r.End)
				}
				if tok < last {
					t.Fatalf("token %d after %d: not in token order", tok, last)
				}
				last = tok
			}
			rows = append(rows, page...)
			return nil
		})
		if err != nil {
			t.Fatalf("Scan(%+v): %v", r, err)
		}
		return rows, pages
	}
	check := func(t *testing.T, got []cassandrastore.Stored) {
		t.Helper()
		seen := make(map[string]bool, len(got))
		for _, s := range got {
			if seen[s.Row.ID] {
				t.Fatalf("%s visited twice", s.Row.ID)
			}
			seen[s.Row.ID] = true
			if s != want[s.Row.ID] {
				t.Fatalf("Scan: %+v, want %+v", s, want[s.Row.ID])
			}
		}
		if len(seen) != n {
			t.Fatalf("visited %d rows, want %d", len(seen), n)
		}
	}

	t.Run("FullRing", func(t *testing.T) {
		got, pages := scan(t, cassandrastore.FullRing)
		check(t, got)
		if pages < 3 {
			t.Errorf("%d rows in %d pages, want at least 3 of at most 5,000", n, pages)
		}
	})

	t.Run("SplitRing", func(t *testing.T) {
		var all []cassandrastore.Stored
		for _, r := range cassandrastore.SplitRing(8) {
			got, _ := scan(t, r)
			all = append(all, got...)
		}
		check(t, all)
	})

	t.Run("StopAndErrors", func(t *testing.T) {
		stop := errors.New("enough")
		calls := 0
		err := st.Scan(ctx, cassandrastore.FullRing, func([]cassandrastore.Stored) error { calls++; return stop })
		if err != stop || calls != 1 {
			t.Fatalf("Scan whose fn fails = %v after %d calls, want fn's error after 1", err, calls)
		}
		if err := st.Scan(ctx, cassandrastore.TokenRange{Start: 1, End: 0}, func([]cassandrastore.Stored) error { return nil }); err == nil {
			t.Fatal("Scan of an inverted range succeeded")
		}
	})
}
