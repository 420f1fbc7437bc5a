package cassandrastore_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/scylladb/gocqlx/v2"

	"github.com/userstream/userstream/cassandrastore"
	"github.com/userstream/userstream/internal/testenv"
	"github.com/userstream/userstream/transform"
)

// version returns the k-th version of r: r with its email and phone
// marking k, at write time base+k.
func version(r transform.Row, base int64, k int) transform.Change {
	r.Email = fmt.Sprintf("v%d.%s", k, r.Email)
	r.Phone = fmt.Sprintf("(%03d) 000-0000", k)
	return transform.Change{Row: r, Version: base + int64(k)}
}

func deletion(id string, version int64) transform.Change {
	return transform.Change{Row: transform.Row{ID: id}, Delete: true, Version: version}
}

// writeTimes returns the writetime() of each of id's non-key columns that
// holds a value, read with a query of the test's own (Lookup is checked
// against it separately).
func writeTimes(t *testing.T, session gocqlx.Session, st *cassandrastore.Store, id string) []int64 {
	t.Helper()
	var wt [11]*int64
	dest := make([]any, len(wt))
	for i := range wt {
		dest[i] = &wt[i]
	}
	err := session.Session.Query(`SELECT writetime(first_name), writetime(last_name), writetime(gender),
		writetime(address), writetime(post_code), writetime(email), writetime(username),
		writetime(registered_date), writetime(phone), writetime(picture), writetime(dob)
		FROM `+st.Keyspace()+`.`+st.Table()+` WHERE id = ?`, id).WithContext(t.Context()).Scan(dest...)
	if err != nil {
		t.Fatalf("writetime of %s: %v", id, err)
	}
	var out []int64
	for _, w := range wt {
		if w != nil {
			out = append(out, *w)
		}
	}
	return out
}

// wantWriteTime fails unless every column of id holds a value written at v.
func wantWriteTime(t *testing.T, session gocqlx.Session, st *cassandrastore.Store, id string, v int64) {
	t.Helper()
	wts := writeTimes(t, session, st, id)
	if len(wts) != 11 {
		t.Fatalf("%s: %d columns hold a value, want 11", id, len(wts))
	}
	for _, w := range wts {
		if w != v {
			t.Fatalf("%s: writetimes %v, want all %d", id, wts, v)
		}
	}
}

func apply(t *testing.T, st *cassandrastore.Store, cs ...transform.Change) {
	t.Helper()
	if err := st.ApplyMany(t.Context(), cs); err != nil {
		t.Fatalf("ApplyMany: %v", err)
	}
}

// TestApplyManyVersions applies versioned changes out of order, repeated,
// and deleted, with both strategies, against the real Cassandra: the
// newest version wins and its Version is the row's write time, a delete
// sticks against older versions, and a newer upsert brings the row back.
func TestApplyManyVersions(t *testing.T) {
	t.Parallel()
	session := newSession(t)
	ks := testenv.Name(t, "versions")
	dropKeyspaceAtEnd(t, session, ks)
	// Versions an hour old: the write time is the version, not the clock.
	base := time.Now().Add(-time.Hour).UnixMicro()

	for _, strategy := range []cassandrastore.WriteStrategy{cassandrastore.WriteConcurrent, cassandrastore.WriteUnloggedBatch} {
		name := map[cassandrastore.WriteStrategy]string{cassandrastore.WriteConcurrent: "concurrent", cassandrastore.WriteUnloggedBatch: "batch"}[strategy]
		t.Run(strategy.String(), func(t *testing.T) {
			t.Parallel()
			st := migrated(t, session, ks, "users_"+name, cassandrastore.WithWriteStrategy(strategy))

			t.Run("OutOfOrder", func(t *testing.T) {
				// Half the users get their three versions in one call,
				// shuffled (so a batch may hold several versions of a
				// row); the other half in three calls, newest first.
				users := rows(60)
				var oneCall []transform.Change
				for _, u := range users[:30] {
					for k := 1; k <= 3; k++ {
						oneCall = append(oneCall, version(u, base, k))
					}
				}
				rand.Shuffle(len(oneCall), func(i, j int) { oneCall[i], oneCall[j] = oneCall[j], oneCall[i] })
				apply(t, st, oneCall...)
				for k := 3; k >= 1; k-- {
					var call []transform.Change
					for _, u := range users[30:] {
						call = append(call, version(u, base, k))
					}
					apply(t, st, call...)
				}
				for _, u := range users {
					want := version(u, base, 3)
					if got, err := st.Get(t.Context(), u.ID); err != nil || got != want.Row {
						t.Fatalf("Get(%s) = %+v, %v; want version 3 %+v", u.ID, got, err, want.Row)
					}
					wantWriteTime(t, session, st, u.ID, want.Version)
				}
			})

			t.Run("DeleteSticks", func(t *testing.T) {
				users := rows(20)
				var cs []transform.Change
				for _, u := range users {
					cs = append(cs, version(u, base, 1), deletion(u.ID, base+3))
				}
				apply(t, st, cs...)
				// Older versions replayed after the delete, alone and
				// in one call with it again: still absent.
				cs = cs[:0]
				for _, u := range users {
					cs = append(cs, version(u, base, 2))
				}
				apply(t, st, cs...)
				cs = cs[:0]
				for _, u := range users {
					cs = append(cs, version(u, base, 1), deletion(u.ID, base+3), version(u, base, 2))
				}
				apply(t, st, cs...)
				for _, u := range users {
					if _, err := st.Get(t.Context(), u.ID); !errors.Is(err, cassandrastore.ErrNotFound) {
						t.Fatalf("Get(%s) after a delete at version 3 and replays of 1 and 2 = %v, want ErrNotFound", u.ID, err)
					}
				}
				// A newer version brings the row back, whole.
				cs = cs[:0]
				for _, u := range users {
					cs = append(cs, version(u, base, 4))
				}
				apply(t, st, cs...)
				for _, u := range users {
					want := version(u, base, 4)
					if got, err := st.Get(t.Context(), u.ID); err != nil || got != want.Row {
						t.Fatalf("Get(%s) after version 4 = %+v, %v; want %+v", u.ID, got, err, want.Row)
					}
					wantWriteTime(t, session, st, u.ID, want.Version)
				}
			})

			t.Run("Repeated", func(t *testing.T) {
				u := row(7)
				c := version(u, base, 5)
				apply(t, st, c)
				apply(t, st, c, c)
				if got, err := st.Get(t.Context(), u.ID); err != nil || got != c.Row {
					t.Fatalf("Get after applying one change three times = %+v, %v; want %+v", got, err, c.Row)
				}
				wantWriteTime(t, session, st, u.ID, c.Version)
				if n, err := st.Count(t.Context()); err != nil {
					t.Fatal(err)
				} else if n != 60+20+1 {
					t.Fatalf("Count = %d, want the 81 users of the subtests", n)
				}
			})

			t.Run("Unversioned", func(t *testing.T) {
				users := rows(10)
				before := time.Now().UnixMicro()
				var cs []transform.Change
				for _, u := range users {
					cs = append(cs, transform.Upsert(u))
				}
				apply(t, st, cs...)
				after := time.Now().UnixMicro()
				for _, u := range users {
					if got, err := st.Get(t.Context(), u.ID); err != nil || got != u {
						t.Fatalf("Get = %+v, %v; want %+v", got, err, u)
					}
					// The driver's clock, this process's: a minute of
					// slack only in case the wall clock is stepped.
					for _, w := range writeTimes(t, session, st, u.ID) {
						if w < before-int64(time.Minute/time.Microsecond) || w > after+int64(time.Minute/time.Microsecond) {
							t.Fatalf("unversioned write time %d outside [%d, %d]", w, before, after)
						}
					}
				}
				// An unversioned delete deletes, at the same clock.
				cs = cs[:0]
				for _, u := range users {
					cs = append(cs, transform.Change{Row: transform.Row{ID: u.ID}, Delete: true})
				}
				apply(t, st, cs...)
				for _, u := range users {
					if _, err := st.Get(t.Context(), u.ID); !errors.Is(err, cassandrastore.ErrNotFound) {
						t.Fatalf("Get after an unversioned delete = %v, want ErrNotFound", err)
					}
				}
			})
		})
	}
}

// TestApplyManyInvalid: a delete (or an upsert) whose id is not a UUID, or
// a change with a negative version, fails without I/O. The store's session
// is closed, so any request would fail with gocql.ErrSessionClosed instead.
func TestApplyManyInvalid(t *testing.T) {
	session := newSession(t)
	session.Close()
	for _, strategy := range []cassandrastore.WriteStrategy{cassandrastore.WriteConcurrent, cassandrastore.WriteUnloggedBatch} {
		t.Run(strategy.String(), func(t *testing.T) {
			st := newStore(t, session, cassandrastore.WithWriteStrategy(strategy))
			good := row(1)
			cs := []transform.Change{
				deletion("not-a-uuid", 10),
				{Row: transform.Row{ID: ""}, Delete: true},
				{Row: transform.Row{ID: "x", FirstName: "Bad"}, Version: 10},
				{Row: good, Version: -1},
				deletion(good.ID, -5),
			}
			err := st.ApplyMany(t.Context(), cs)
			var we *cassandrastore.WriteError
			if !errors.As(err, &we) || we.Rows != len(cs) || len(we.Failed) != len(cs) {
				t.Fatalf("ApplyMany = %v, want all %d changes failed", err, len(cs))
			}
			for i, f := range we.Failed {
				want := cassandrastore.ErrInvalidID
				if i >= 3 {
					want = cassandrastore.ErrInvalidVersion
				}
				if f.Index != i || f.ID != cs[i].Row.ID || !errors.Is(f.Err, want) {
					t.Errorf("Failed[%d] = %+v, want index %d, id %q, %v", i, f, i, cs[i].Row.ID, want)
				}
			}
			if rej := we.RejectedRows(); len(rej) != len(cs) {
				t.Errorf("RejectedRows = %v, want all %d", rej, len(cs))
			}
			if cassandrastore.IsRetryable(err) {
				t.Error("invalid changes are retryable")
			}
		})
	}
}
