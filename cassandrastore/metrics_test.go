package cassandrastore_test

import (
	"errors"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/userstream/userstream/cassandrastore"
	"github.com/userstream/userstream/internal/testenv"
	"github.com/userstream/userstream/transform"
)

// storeMetrics reads the three series of a registry.
type storeMetrics struct {
	stored, errors float64
	calls          uint64 // observations of userstream_store_batch_seconds
}

func readMetrics(t *testing.T, reg *prometheus.Registry) storeMetrics {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var m storeMetrics
	seen := 0
	for _, mf := range mfs {
		switch mf.GetName() {
		case "userstream_rows_stored_total":
			m.stored = mf.GetMetric()[0].GetCounter().GetValue()
		case "userstream_store_errors_total":
			m.errors = mf.GetMetric()[0].GetCounter().GetValue()
		case "userstream_store_batch_seconds":
			h := mf.GetMetric()[0].GetHistogram()
			m.calls = h.GetSampleCount()
			if n := len(h.GetBucket()); n != 17 {
				t.Errorf("userstream_store_batch_seconds has %d buckets, want 17", n)
			}
		default:
			t.Errorf("unexpected series %s", mf.GetName())
			continue
		}
		if len(mf.GetMetric()) != 1 || len(mf.GetMetric()[0].GetLabel()) != 0 {
			t.Errorf("%s: want one series without labels, got %v", mf.GetName(), mf.GetMetric())
		}
		seen++
	}
	if seen != 3 {
		t.Fatalf("gathered %d of the 3 series", seen)
	}
	return m
}

// TestMetrics writes through stores of both strategies sharing one
// registry, on the real Cassandra: the stored counter equals the rows the
// table holds, a call that loses a row is one error and still counts the
// rows it wrote, and a store of a keyspace that does not exist counts its
// failed call and no rows.
func TestMetrics(t *testing.T) {
	t.Parallel()
	session := newSession(t)
	ks := testenv.Name(t, "metrics")
	dropKeyspaceAtEnd(t, session, ks)
	reg := prometheus.NewRegistry()
	batched := migrated(t, session, ks, "users", cassandrastore.WithMetrics(reg))
	single := newStore(t, session, cassandrastore.WithKeyspace(ks), cassandrastore.WithTable("users"),
		cassandrastore.WithWriteStrategy(cassandrastore.WriteConcurrent), cassandrastore.WithMetrics(reg))
	ctx := t.Context()

	if err := batched.UpsertMany(ctx, rows(100)); err != nil {
		t.Fatal(err)
	}
	if err := single.UpsertMany(ctx, rows(30)); err != nil {
		t.Fatal(err)
	}
	if err := single.Upsert(ctx, row(0)); err != nil {
		t.Fatal(err)
	}
	// One row of five has an id that is not a UUID: the call fails, the
	// other four are written.
	mixed := rows(5)
	mixed[2].ID = "not-a-uuid"
	var we *cassandrastore.WriteError
	if err := batched.UpsertMany(ctx, mixed); !errors.As(err, &we) || len(we.Failed) != 1 {
		t.Fatalf("UpsertMany with a bad id = %v, want one row failed", err)
	}
	if err := batched.UpsertMany(ctx, []transform.Row{}); err != nil {
		t.Fatal(err)
	}
	n := count(t, batched)
	got := readMetrics(t, reg)
	if want := (storeMetrics{stored: float64(n), errors: 1, calls: 3}); n != 135 || got != want {
		t.Fatalf("table holds %d rows (want 135); metrics %+v, want %+v", n, got, want)
	}

	missing := newStore(t, session, cassandrastore.WithKeyspace(testenv.Name(t, "missing")), cassandrastore.WithMetrics(reg))
	if err := missing.UpsertMany(ctx, rows(10)); !errors.As(err, &we) || len(we.Failed) != 10 {
		t.Fatalf("UpsertMany into a missing keyspace = %v, want every row failed", err)
	}
	got = readMetrics(t, reg)
	if want := (storeMetrics{stored: 135, errors: 2, calls: 4}); got != want {
		t.Fatalf("after a failed call: metrics %+v, want %+v", got, want)
	}
}

// A registry that holds another metric under one of the names makes New
// fail instead of recording into the wrong series.
func TestMetricsRegistrationConflict(t *testing.T) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(prometheus.NewGauge(prometheus.GaugeOpts{Name: "userstream_rows_stored_total", Help: "Something else."}))
	session := newSession(t)
	if _, err := cassandrastore.New(session, cassandrastore.WithMetrics(reg)); err == nil {
		t.Fatal("New registered over a gauge of another help under userstream_rows_stored_total")
	}
}

// ApplyMany records as UpsertMany does: the changes applied, deletes
// included, one error for a call that lost one, one observation per call.
func TestApplyManyMetrics(t *testing.T) {
	t.Parallel()
	session := newSession(t)
	ks := testenv.Name(t, "applymetrics")
	dropKeyspaceAtEnd(t, session, ks)
	reg := prometheus.NewRegistry()
	st := migrated(t, session, ks, "users", cassandrastore.WithMetrics(reg))
	ctx := t.Context()

	users := rows(10)
	var cs []transform.Change
	for i, u := range users {
		cs = append(cs, transform.Change{Row: u, Version: int64(100 + i)})
	}
	for _, u := range users[:4] {
		cs = append(cs, transform.Change{Row: transform.Row{ID: u.ID}, Delete: true, Version: 200})
	}
	if err := st.ApplyMany(ctx, cs); err != nil {
		t.Fatal(err)
	}
	bad := []transform.Change{{Row: transform.Row{ID: "not-a-uuid"}, Delete: true, Version: 300}, {Row: row(1), Version: 300}}
	var we *cassandrastore.WriteError
	if err := st.ApplyMany(ctx, bad); !errors.As(err, &we) || len(we.Failed) != 1 || we.Failed[0].Index != 0 {
		t.Fatalf("ApplyMany with a bad id = %v, want change 0 failed", err)
	}
	if err := st.ApplyMany(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if n := count(t, st); n != 7 {
		t.Fatalf("table holds %d rows, want 10 - 4 deleted + 1", n)
	}
	if got, want := readMetrics(t, reg), (storeMetrics{stored: 15, errors: 1, calls: 2}); got != want {
		t.Fatalf("metrics %+v, want %+v", got, want)
	}
}
