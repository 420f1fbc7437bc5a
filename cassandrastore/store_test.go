package cassandrastore_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/gocql/gocql"
	"github.com/scylladb/gocqlx/v2"

	"github.com/userstream/userstream/cassandrastore"
	"github.com/userstream/userstream/internal/testenv"
	"github.com/userstream/userstream/transform"
)

// newSession connects to the cluster named by USERSTREAM_CASSANDRA_HOSTS, or
// skips the test.
func newSession(tb testing.TB, opts ...cassandrastore.SessionOpt) gocqlx.Session {
	tb.Helper()
	hosts := testenv.CassandraHosts(tb)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	session, err := cassandrastore.NewSession(ctx, hosts, opts...)
	if err != nil {
		tb.Fatalf("NewSession(%v): %v", hosts, err)
	}
	tb.Cleanup(session.Close)
	return session
}

// dropKeyspaceAtEnd drops ks when the test and its subtests are done,
// before the session closes.
func dropKeyspaceAtEnd(tb testing.TB, session gocqlx.Session, ks string) {
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := session.Session.Query(`DROP KEYSPACE IF EXISTS ` + ks).WithContext(ctx).Exec(); err != nil {
			tb.Logf("drop keyspace %s: %v", ks, err)
		}
	})
}

func newStore(tb testing.TB, session gocqlx.Session, opts ...cassandrastore.StoreOpt) *cassandrastore.Store {
	tb.Helper()
	st, err := cassandrastore.New(session, opts...)
	if err != nil {
		tb.Fatalf("New: %v", err)
	}
	return st
}

// migrated returns a store of a new table in keyspace ks.
func migrated(t *testing.T, session gocqlx.Session, ks, table string, opts ...cassandrastore.StoreOpt) *cassandrastore.Store {
	t.Helper()
	st := newStore(t, session, append([]cassandrastore.StoreOpt{cassandrastore.WithKeyspace(ks), cassandrastore.WithTable(table)}, opts...)...)
	if err := st.Migrate(t.Context()); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	return st
}

// row returns a row shaped like a Random User API user, with a fresh id.
func row(i int) transform.Row {
	id, err := gocql.RandomUUID()
	if err != nil {
		panic(err)
	}
	return transform.Row{
		ID:             id.String(),
		FirstName:      fmt.Sprintf("Jennie%d", i),
		LastName:       "Nichols",
		Gender:         "female",
		Address:        fmt.Sprintf("%d Valwood Pkwy, Billings, Michigan, United States", 8929+i),
		PostCode:       "63104",
		Email:          fmt.Sprintf("jennie.nichols%d@example.com", i),
		Username:       fmt.Sprintf("yellowpeacock%d", i),
		DOB:            "1992-03-08T15:13:16.688Z",
		RegisteredDate: "2007-07-09T05:51:59.390Z",
		Phone:          "(272) 790-0888",
		Picture:        "https://randomuser.me/api/portraits/med/women/75.jpg",
	}
}

func rows(n int) []transform.Row {
	rs := make([]transform.Row, n)
	for i := range rs {
		rs[i] = row(i)
	}
	return rs
}

func count(t *testing.T, st *cassandrastore.Store) int64 {
	t.Helper()
	n, err := st.Count(t.Context())
	if err != nil {
		t.Fatalf("Count: %v", err)
	}
	return n
}

// TestStore runs the repository against a real Cassandra. The subtests
// share one keyspace, each with its own table where it needs a known row
// count, because every schema change costs about a second.
func TestStore(t *testing.T) {
	t.Parallel()
	session := newSession(t)
	ks := testenv.Name(t, "store")
	dropKeyspaceAtEnd(t, session, ks)

	// The default table in a keyspace Migrate creates itself.
	st := newStore(t, session, cassandrastore.WithKeyspace(ks))
	if err := st.Ping(t.Context()); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	if err := st.Migrate(t.Context()); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	if err := st.Migrate(t.Context()); err != nil {
		t.Fatalf("second Migrate: %v", err)
	}
	if st.Table() != "created_users" {
		t.Fatalf("default table = %q", st.Table())
	}

	t.Run("RoundTrip", func(t *testing.T) {
		t.Parallel()
		want := row(1)
		if err := st.Upsert(t.Context(), want); err != nil {
			t.Fatalf("Upsert: %v", err)
		}
		got, err := st.Get(t.Context(), want.ID)
		if err != nil {
			t.Fatalf("Get: %v", err)
		}
		if got != want {
			t.Errorf("Get = %+v\nwant  %+v", got, want)
		}
	})

	t.Run("UpsertIsIdempotent", func(t *testing.T) {
		t.Parallel()
		st := migrated(t, session, ks, "idempotent")
		r := row(2)
		for range 2 {
			if err := st.Upsert(t.Context(), r); err != nil {
				t.Fatalf("Upsert: %v", err)
			}
		}
		if err := st.UpsertMany(t.Context(), []transform.Row{r, r}); err != nil {
			t.Fatalf("UpsertMany: %v", err)
		}
		if n := count(t, st); n != 1 {
			t.Fatalf("Count = %d after writing one row four times, want 1", n)
		}
		r.Email = "changed@example.com"
		if err := st.Upsert(t.Context(), r); err != nil {
			t.Fatalf("Upsert: %v", err)
		}
		if got, err := st.Get(t.Context(), r.ID); err != nil || got != r {
			t.Errorf("Get after update = %+v, %v; want %+v", got, err, r)
		}
	})

	t.Run("GetNotFound", func(t *testing.T) {
		t.Parallel()
		_, err := st.Get(t.Context(), row(0).ID)
		if !errors.Is(err, cassandrastore.ErrNotFound) || !errors.Is(err, gocql.ErrNotFound) {
			t.Fatalf("Get of a missing id = %v, want ErrNotFound", err)
		}
		if cassandrastore.IsRetryable(err) {
			t.Error("not found is retryable")
		}
	})

	t.Run("InvalidID", func(t *testing.T) {
		t.Parallel()
		r := row(3)
		r.ID = "not-a-uuid"
		if err := st.Upsert(t.Context(), r); !errors.Is(err, cassandrastore.ErrInvalidID) {
			t.Errorf("Upsert = %v, want ErrInvalidID", err)
		}
		if _, err := st.Get(t.Context(), "x"); !errors.Is(err, cassandrastore.ErrInvalidID) {
			t.Errorf("Get = %v, want ErrInvalidID", err)
		}
	})

	// A write whose only failures are rows that can never be written names
	// them, for kafkasink.RejectedRows; one that also timed out or was cut
	// off names none, so that the whole write is retried.
	t.Run("RejectedRows", func(t *testing.T) {
		t.Parallel()
		rs := rows(5)
		rs[2].ID = "not-a-uuid"
		err := st.UpsertMany(t.Context(), rs)
		var we *cassandrastore.WriteError
		if !errors.As(err, &we) {
			t.Fatalf("UpsertMany = %v, want a *WriteError", err)
		}
		got := we.RejectedRows()
		if len(got) != 1 || !errors.Is(got[2], cassandrastore.ErrInvalidID) {
			t.Fatalf("RejectedRows = %v, want row 2 with ErrInvalidID", got)
		}
		for _, i := range []int{0, 1, 3, 4} {
			if _, err := st.Get(t.Context(), rs[i].ID); err != nil {
				t.Errorf("row %d beside the rejected one: %v", i, err)
			}
		}
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		err = st.UpsertMany(ctx, rs)
		if !errors.As(err, &we) {
			t.Fatalf("UpsertMany on a cancelled context = %v, want a *WriteError", err)
		}
		if got := we.RejectedRows(); got != nil {
			t.Fatalf("RejectedRows with cancelled rows = %v, want nil (retry the write)", got)
		}
	})

	t.Run("TokenMatchesCassandra", func(t *testing.T) {
		t.Parallel()
		rs := rows(50)
		if err := st.UpsertMany(t.Context(), rs); err != nil {
			t.Fatal(err)
		}
		for _, r := range rs {
			var tok int64
			if err := session.Session.Query(`SELECT token(id) FROM `+ks+`.created_users WHERE id = ?`, r.ID).
				WithContext(t.Context()).Scan(&tok); err != nil {
				t.Fatal(err)
			}
			if got, err := cassandrastore.Token(r.ID); err != nil || got != tok {
				t.Fatalf("token(%s) = %d, Cassandra says %d", r.ID, got, tok)
			}
		}
	})

	t.Run("AllPagesAndCount", func(t *testing.T) {
		t.Parallel()
		st := migrated(t, session, ks, "paging")
		const n = 257
		rs := rows(n)
		if err := st.UpsertMany(t.Context(), rs); err != nil {
			t.Fatalf("UpsertMany: %v", err)
		}
		want := map[string]transform.Row{}
		for _, r := range rs {
			want[r.ID] = r
		}
		got := map[string]transform.Row{}
		for r, err := range st.All(t.Context(), 50) { // six pages
			if err != nil {
				t.Fatalf("All: %v", err)
			}
			if _, dup := got[r.ID]; dup {
				t.Fatalf("All yielded %s twice", r.ID)
			}
			got[r.ID] = r
		}
		if !maps.Equal(got, want) {
			t.Fatalf("All yielded %d rows, want the %d written", len(got), len(want))
		}
		seen := 0
		for _, err := range st.All(t.Context(), 10) {
			if err != nil {
				t.Fatal(err)
			}
			if seen++; seen == 15 {
				break
			}
		}
		if c := count(t, st); c != n {
			t.Fatalf("Count = %d, want %d", c, n)
		}
	})

	for _, strategy := range []cassandrastore.WriteStrategy{cassandrastore.WriteConcurrent, cassandrastore.WriteUnloggedBatch} {
		t.Run("BulkWrite/"+strategy.String(), func(t *testing.T) {
			t.Parallel()
			st := migrated(t, session, ks, "bulk_"+map[cassandrastore.WriteStrategy]string{
				cassandrastore.WriteConcurrent:    "concurrent",
				cassandrastore.WriteUnloggedBatch: "batch",
			}[strategy], cassandrastore.WithWriteStrategy(strategy))
			const n = 5000
			rs := rows(n)
			if err := st.UpsertMany(t.Context(), rs); err != nil {
				t.Fatalf("UpsertMany: %v", err)
			}
			if c := count(t, st); c != n {
				t.Fatalf("Count = %d after writing %d rows", c, n)
			}
			// The same rows again, one field changed: still n rows.
			for i := range rs {
				rs[i].Phone = "(000) 000-0000"
			}
			if err := st.UpsertMany(t.Context(), rs); err != nil {
				t.Fatalf("second UpsertMany: %v", err)
			}
			if c := count(t, st); c != n {
				t.Fatalf("Count = %d after rewriting %d rows", c, n)
			}
			for _, i := range []int{0, n / 2, n - 1} {
				if got, err := st.Get(t.Context(), rs[i].ID); err != nil || got != rs[i] {
					t.Errorf("Get(rows[%d]) = %+v, %v; want %+v", i, got, err, rs[i])
				}
			}
		})

		t.Run("PartialFailure/"+strategy.String(), func(t *testing.T) {
			t.Parallel()
			st := newStore(t, session, cassandrastore.WithKeyspace(ks), cassandrastore.WithWriteStrategy(strategy))
			rs := rows(40)
			rs[3].ID = "not-a-uuid"
			rs[37].ID = ""
			err := st.UpsertMany(t.Context(), rs)
			var we *cassandrastore.WriteError
			if !errors.As(err, &we) {
				t.Fatalf("UpsertMany = %v, want a *WriteError", err)
			}
			if we.Rows != 40 || len(we.Failed) != 2 || we.Failed[0].Index != 3 || we.Failed[1].Index != 37 ||
				we.Failed[0].ID != "not-a-uuid" {
				t.Fatalf("WriteError = %+v, want rows 3 and 37 of 40", we)
			}
			if !errors.Is(err, cassandrastore.ErrInvalidID) || cassandrastore.IsRetryable(err) {
				t.Errorf("invalid ids: errors.Is(ErrInvalidID) = false or retryable")
			}
			for i, r := range rs {
				if i == 3 || i == 37 {
					continue
				}
				if _, err := st.Get(t.Context(), r.ID); err != nil {
					t.Fatalf("valid row %d not written: %v", i, err)
				}
			}
		})

		t.Run("ContextDone/"+strategy.String(), func(t *testing.T) {
			t.Parallel()
			st := newStore(t, session, cassandrastore.WithKeyspace(ks), cassandrastore.WithWriteStrategy(strategy))
			rs := rows(100)

			ctx, cancel := context.WithCancel(t.Context())
			cancel()
			err := st.UpsertMany(ctx, rs)
			var we *cassandrastore.WriteError
			if !errors.As(err, &we) || len(we.Failed) != len(rs) || !errors.Is(err, context.Canceled) {
				t.Fatalf("UpsertMany with a cancelled context = %v, want all rows failed with context.Canceled", err)
			}
			if cassandrastore.IsRetryable(err) {
				t.Error("cancellation is retryable")
			}

			ctx, cancel = context.WithDeadline(t.Context(), time.Now().Add(-time.Second))
			defer cancel()
			err = st.UpsertMany(ctx, rs)
			if !cassandrastore.IsTimeout(err) || !cassandrastore.IsRetryable(err) {
				t.Errorf("UpsertMany past its deadline = %v; want a retryable timeout", err)
			}
		})
	}

	t.Run("MigrateSeedTable", func(t *testing.T) {
		t.Parallel()
		ctx := t.Context()
		// The seed's table exactly as spark_stream.py creates it: 11 text
		// columns and no dob.
		if err := session.Session.Query(`CREATE TABLE IF NOT EXISTS ` + ks + `.seed_users (
			id UUID PRIMARY KEY, first_name TEXT, last_name TEXT, gender TEXT, address TEXT,
			post_code TEXT, email TEXT, username TEXT, registered_date TEXT, phone TEXT, picture TEXT);`).
			WithContext(ctx).Exec(); err != nil {
			t.Fatal(err)
		}
		seeded := rows(3)
		for i := range seeded {
			r := &seeded[i]
			r.DOB = "" // the seed never stored it
			if err := session.Session.Query(`INSERT INTO `+ks+`.seed_users (id, first_name, last_name, gender, address,
				post_code, email, username, registered_date, phone, picture) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
				r.ID, r.FirstName, r.LastName, r.Gender, r.Address, r.PostCode, r.Email, r.Username,
				r.RegisteredDate, r.Phone, r.Picture).WithContext(ctx).Exec(); err != nil {
				t.Fatal(err)
			}
		}

		st := migrated(t, session, ks, "seed_users")
		var typ string
		if err := session.Session.Query(`SELECT type FROM system_schema.columns WHERE keyspace_name = ? AND table_name = ? AND column_name = ?`,
			ks, "seed_users", "dob").WithContext(ctx).Scan(&typ); err != nil || typ != "text" {
			t.Fatalf("dob column after Migrate: type %q, %v", typ, err)
		}
		if c := count(t, st); c != int64(len(seeded)) {
			t.Fatalf("Count = %d after migration, want the %d seeded rows", c, len(seeded))
		}
		for _, want := range seeded {
			got, err := st.Get(ctx, want.ID)
			if err != nil || got != want {
				t.Fatalf("seeded row after Migrate = %+v, %v; want %+v", got, err, want)
			}
		}
		withDOB := seeded[0]
		withDOB.DOB = "1992-03-08T15:13:16.688Z"
		if err := st.Upsert(ctx, withDOB); err != nil {
			t.Fatal(err)
		}
		if got, err := st.Get(ctx, withDOB.ID); err != nil || got.DOB != withDOB.DOB {
			t.Fatalf("dob after Upsert = %q, %v", got.DOB, err)
		}
		if err := st.Migrate(ctx); err != nil {
			t.Fatalf("Migrate of the migrated table: %v", err)
		}
	})

	t.Run("MigrateIncompatibleTable", func(t *testing.T) {
		t.Parallel()
		if err := session.Session.Query(`CREATE TABLE ` + ks + `.text_ids (id text PRIMARY KEY, first_name text)`).
			WithContext(t.Context()).Exec(); err != nil {
			t.Fatal(err)
		}
		st := newStore(t, session, cassandrastore.WithKeyspace(ks), cassandrastore.WithTable("text_ids"))
		if err := st.Migrate(t.Context()); !errors.Is(err, cassandrastore.ErrIncompatibleSchema) {
			t.Fatalf("Migrate = %v, want ErrIncompatibleSchema", err)
		}
	})
}

// TestMigrateNetworkTopologyStrategy creates a keyspace replicated per data
// center, as in production, on the local node's data center.
func TestMigrateNetworkTopologyStrategy(t *testing.T) {
	t.Parallel()
	var dc string
	session := newSession(t)
	if err := session.Session.Query(`SELECT data_center FROM system.local`).WithContext(t.Context()).Scan(&dc); err != nil {
		t.Fatal(err)
	}
	session = newSession(t, cassandrastore.WithLocalDC(dc))
	ks := testenv.Name(t, "nts")
	dropKeyspaceAtEnd(t, session, ks)
	st := newStore(t, session, cassandrastore.WithKeyspace(ks), cassandrastore.WithReplication(
		cassandrastore.NetworkTopologyStrategy(map[string]int{dc: 1})))
	if err := st.Migrate(t.Context()); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	var repl map[string]string
	if err := session.Session.Query(`SELECT replication FROM system_schema.keyspaces WHERE keyspace_name = ?`, ks).
		WithContext(t.Context()).Scan(&repl); err != nil {
		t.Fatal(err)
	}
	if repl["class"] != "org.apache.cassandra.locator.NetworkTopologyStrategy" || repl[dc] != "1" {
		t.Fatalf("replication = %v, want NetworkTopologyStrategy with %s: 1", repl, dc)
	}
	r := row(0)
	if err := st.UpsertMany(t.Context(), []transform.Row{r}); err != nil {
		t.Fatal(err)
	}
	if got, err := st.Get(t.Context(), r.ID); err != nil || got != r {
		t.Fatalf("Get = %+v, %v", got, err)
	}
}

func TestNewSessionErrors(t *testing.T) {
	ctx := context.Background()
	if _, err := cassandrastore.NewSession(ctx, nil); err == nil {
		t.Error("NewSession without hosts succeeded")
	}
	if _, err := cassandrastore.NewSession(ctx, []string{"127.0.0.1"}, cassandrastore.WithRequestTimeout(0)); err == nil {
		t.Error("NewSession with a zero timeout succeeded")
	}
	// Nothing listens on port 1.
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := cassandrastore.NewSession(ctx, []string{"127.0.0.1:1"}, cassandrastore.WithConnectTimeout(time.Second)); err == nil {
		t.Fatal("NewSession to a closed port succeeded")
	}
}

// WithClusterConfig sees the cluster the other options built, can change
// it before the session connects, and fails NewSession with its error.
func TestWithClusterConfig(t *testing.T) {
	hosts := testenv.CassandraHosts(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var seen gocql.Consistency
	s, err := cassandrastore.NewSession(ctx, hosts, cassandrastore.WithConsistency(gocql.One),
		cassandrastore.WithClusterConfig(func(c *gocql.ClusterConfig) error {
			seen = c.Consistency
			c.Consistency = gocql.LocalOne
			return nil
		}))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if seen != gocql.One {
		t.Errorf("the function saw consistency %v, want the option's ONE", seen)
	}
	if got := s.Session.Query(`SELECT release_version FROM system.local`).GetConsistency(); got != gocql.LocalOne {
		t.Errorf("the session's queries run at %v, want the function's LOCAL_ONE", got)
	}
	boom := errors.New("no login configured")
	_, err = cassandrastore.NewSession(ctx, hosts, cassandrastore.WithClusterConfig(func(*gocql.ClusterConfig) error { return boom }))
	if !errors.Is(err, boom) {
		t.Fatalf("NewSession = %v, want the function's error", err)
	}
}

// TestMigrateLocalNetworkTopologyStrategy creates a keyspace with
// NetworkTopologyStrategy in the data center Migrate reads from
// system.local, writes and reads through it at the default LOCAL_QUORUM,
// and checks that a second Migrate asking for other replica counts leaves
// the keyspace as it is and says so.
func TestMigrateLocalNetworkTopologyStrategy(t *testing.T) {
	t.Parallel()
	session := newSession(t)
	var dc string
	if err := session.Session.Query(`SELECT data_center FROM system.local`).WithContext(t.Context()).Scan(&dc); err != nil {
		t.Fatal(err)
	}
	ks := testenv.Name(t, "lnts")
	dropKeyspaceAtEnd(t, session, ks)
	st := newStore(t, session, cassandrastore.WithKeyspace(ks), cassandrastore.WithReplication(cassandrastore.LocalNetworkTopologyStrategy(1)))
	if err := st.Migrate(t.Context()); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	replication := func() map[string]string {
		var repl map[string]string
		if err := session.Session.Query(`SELECT replication FROM system_schema.keyspaces WHERE keyspace_name = ?`, ks).
			WithContext(t.Context()).Scan(&repl); err != nil {
			t.Fatal(err)
		}
		return repl
	}
	want := map[string]string{"class": "org.apache.cassandra.locator.NetworkTopologyStrategy", dc: "1"}
	if repl := replication(); !maps.Equal(repl, want) {
		t.Fatalf("replication = %v, want %v", repl, want)
	}
	rs := rows(100)
	if err := st.UpsertMany(t.Context(), rs); err != nil {
		t.Fatal(err)
	}
	if n := count(t, st); n != 100 {
		t.Fatalf("Count = %d, want 100", n)
	}

	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
	again := newStore(t, session, cassandrastore.WithKeyspace(ks), cassandrastore.WithLogger(log),
		cassandrastore.WithReplication(cassandrastore.LocalNetworkTopologyStrategy(3)))
	if err := again.Migrate(t.Context()); err != nil {
		t.Fatalf("second Migrate: %v", err)
	}
	if repl := replication(); !maps.Equal(repl, want) {
		t.Errorf("after a Migrate asking for 3 replicas, replication = %v, want it unchanged: %v", repl, want)
	}
	if !strings.Contains(logs.String(), "keyspace exists with another replication") {
		t.Errorf("no warning of the replication left unchanged; logs:\n%s", logs.String())
	}
	// Same replica counts under another class (SimpleStrategy 1 on a
	// single-DC cluster, as the seed made it): no warning.
	logs.Reset()
	same := newStore(t, session, cassandrastore.WithKeyspace(ks), cassandrastore.WithLogger(log),
		cassandrastore.WithReplication(cassandrastore.NetworkTopologyStrategy(map[string]int{dc: 1})))
	if err := same.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	if logs.Len() != 0 {
		t.Errorf("Migrate with the keyspace's own replication logged:\n%s", logs.String())
	}
}

// TestReplicationBeyondNodes writes at LOCAL_QUORUM to a keyspace with more
// replicas than the data center has nodes for a quorum (2n+1 replicas on n
// nodes): Cassandra refuses every write as unavailable, the store reports
// every row failed and retryable (so a sink neither commits nor
// dead-letters them), and the verification read fails the same way rather
// than reading less than a quorum.
func TestReplicationBeyondNodes(t *testing.T) {
	t.Parallel()
	session := newSession(t, cassandrastore.WithRetry(0, 0, 0))
	var dc string
	if err := session.Session.Query(`SELECT data_center FROM system.local`).WithContext(t.Context()).Scan(&dc); err != nil {
		t.Fatal(err)
	}
	nodes := 1
	it := session.Session.Query(`SELECT data_center FROM system.peers`).WithContext(t.Context()).Iter()
	var peerDC string
	for it.Scan(&peerDC) {
		if peerDC == dc {
			nodes++
		}
	}
	if err := it.Close(); err != nil {
		t.Fatal(err)
	}
	ks := testenv.Name(t, "unavail")
	dropKeyspaceAtEnd(t, session, ks)
	st := newStore(t, session, cassandrastore.WithKeyspace(ks),
		cassandrastore.WithReplication(cassandrastore.LocalNetworkTopologyStrategy(2*nodes+1)))
	// Cassandra creates it, with a warning of its own: the replication
	// factor is a plan for the cluster, not checked against it.
	if err := st.Migrate(t.Context()); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	rs := rows(50)
	err := st.UpsertMany(t.Context(), rs)
	var we *cassandrastore.WriteError
	if !errors.As(err, &we) || len(we.Failed) != len(rs) {
		t.Fatalf("UpsertMany = %v, want every row failed", err)
	}
	if !cassandrastore.IsRetryable(err) || we.RejectedRows() != nil {
		t.Errorf("IsRetryable = %v, RejectedRows = %v; want retryable, none rejected", cassandrastore.IsRetryable(err), we.RejectedRows())
	}
	var unavailable *gocql.RequestErrUnavailable
	if !errors.As(err, &unavailable) || unavailable.Consistency != gocql.LocalQuorum {
		t.Errorf("UpsertMany = %v, want gocql's unavailable error at LOCAL_QUORUM", err)
	}
	t.Logf("the error: %v", err)
	if _, err := st.Count(t.Context()); !errors.As(err, &unavailable) {
		t.Errorf("Count = %v, want unavailable", err)
	}
}
