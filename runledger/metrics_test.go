package runledger_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/userstream/userstream/internal/testenv"
	"github.com/userstream/userstream/runledger"
)

// TestLastSuccessGauge: the gauge is set when a run succeeds (to its end
// time), not by other statuses, and a restarted process (a new ledger on a
// new registry) starts from the table's last success, not 0.
func TestLastSuccessGauge(t *testing.T) {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, testenv.PostgresDSN(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	schema := testenv.Name(t, "ledger")
	t.Cleanup(func() {
		_, _ = pool.Exec(context.Background(), `DROP SCHEMA IF EXISTS `+pgx.Identifier{schema}.Sanitize()+` CASCADE`)
	})
	newLedger := func(reg prometheus.Registerer) *runledger.Ledger {
		t.Helper()
		l, err := runledger.New(pool, runledger.WithSchema(schema), runledger.WithMetrics(reg))
		if err != nil {
			t.Fatal(err)
		}
		if err := l.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		return l
	}
	reg := prometheus.NewPedanticRegistry()
	l := newLedger(reg)
	gauge := func(reg *prometheus.Registry) float64 {
		t.Helper()
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		if len(mfs) != 1 || mfs[0].GetName() != "userstream_last_successful_run_timestamp_seconds" || len(mfs[0].GetMetric()) != 1 {
			t.Fatalf("registry holds %v, want the one gauge", mfs)
		}
		return mfs[0].GetMetric()[0].GetGauge().GetValue()
	}
	if g := gauge(reg); g != 0 {
		t.Fatalf("gauge on an empty ledger = %v, want 0", g)
	}
	for _, status := range []string{runledger.StatusRunning, runledger.StatusFailed, runledger.StatusInterrupted} {
		id := runledger.NewRunID("test")
		if err := l.Start(ctx, id, "test"); err != nil {
			t.Fatal(err)
		}
		if err := l.Update(ctx, runledger.Run{RunID: id, Status: status}); err != nil {
			t.Fatal(err)
		}
	}
	if g := gauge(reg); g != 0 {
		t.Fatalf("gauge after runs that did not succeed = %v, want 0", g)
	}
	id := runledger.NewRunID("test")
	if err := l.Start(ctx, id, "test"); err != nil {
		t.Fatal(err)
	}
	if err := l.Update(ctx, runledger.Run{RunID: id, Status: runledger.StatusSucceeded}); err != nil {
		t.Fatal(err)
	}
	run, err := l.Get(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	want := float64(run.EndedAt.UnixMicro()) / 1e6
	if g := gauge(reg); g != want {
		t.Fatalf("gauge after a success = %v, want its end %v", g, want)
	}
	// A second ledger on the same registry shares the gauge.
	newLedger(reg)

	// A restart.
	restarted := prometheus.NewPedanticRegistry()
	newLedger(restarted)
	if g := gauge(restarted); g != want {
		t.Fatalf("gauge after a restart = %v, want the last success %v", g, want)
	}
}

// TestLastSuccessGaugeNeverMovesBack: ledgers of two tables share one
// registry's gauge; migrating the one whose last success is older does not
// set the gauge back to it.
func TestLastSuccessGaugeNeverMovesBack(t *testing.T) {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, testenv.PostgresDSN(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	reg := prometheus.NewPedanticRegistry()
	newLedger := func(schema string) *runledger.Ledger {
		t.Helper()
		t.Cleanup(func() {
			_, _ = pool.Exec(context.Background(), `DROP SCHEMA IF EXISTS `+pgx.Identifier{schema}.Sanitize()+` CASCADE`)
		})
		l, err := runledger.New(pool, runledger.WithSchema(schema), runledger.WithMetrics(reg))
		if err != nil {
			t.Fatal(err)
		}
		if err := l.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		return l
	}
	gauge := func() float64 {
		t.Helper()
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		if len(mfs) != 1 || len(mfs[0].GetMetric()) != 1 {
			t.Fatalf("registry holds %v, want the one gauge", mfs)
		}
		return mfs[0].GetMetric()[0].GetGauge().GetValue()
	}
	oldSchema, newSchema := testenv.Name(t, "ledgerold"), testenv.Name(t, "ledgernew")
	newLedger(oldSchema)
	// The old table's last success, a day ago, written without the ledger
	// (so without the gauge).
	if _, err := pool.Exec(ctx, `INSERT INTO `+pgx.Identifier{oldSchema, "runs"}.Sanitize()+
		` (run_id, kind, started_at, ended_at, status) VALUES ('old', 'test', now() - interval '25 hours', now() - interval '1 day', $1)`,
		runledger.StatusSucceeded); err != nil {
		t.Fatal(err)
	}
	l := newLedger(newSchema)
	id := runledger.NewRunID("test")
	if err := l.Start(ctx, id, "test"); err != nil {
		t.Fatal(err)
	}
	if err := l.Update(ctx, runledger.Run{RunID: id, Status: runledger.StatusSucceeded}); err != nil {
		t.Fatal(err)
	}
	run, err := l.Get(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	want := float64(run.EndedAt.UnixMicro()) / 1e6
	if g := gauge(); g != want {
		t.Fatalf("gauge after a success = %v, want its end %v", g, want)
	}
	// A ledger of the old table starts (migrates) on the same registry.
	newLedger(oldSchema)
	if g := gauge(); g != want {
		t.Fatalf("gauge after migrating a ledger with an older success = %v, want still %v", g, want)
	}
}

func TestMetricsRegistrationConflict(t *testing.T) {
	pool, err := pgxpool.New(context.Background(), testenv.PostgresDSN(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	reg := prometheus.NewRegistry()
	reg.MustRegister(prometheus.NewGauge(prometheus.GaugeOpts{Name: "userstream_last_successful_run_timestamp_seconds", Help: "other"}))
	if _, err := runledger.New(pool, runledger.WithMetrics(reg)); err == nil {
		t.Error("New with a conflicting series succeeded")
	}
	if _, err := runledger.New(pool, runledger.WithMetrics(nil)); err != nil {
		t.Errorf("New(WithMetrics(nil)) = %v", err)
	}
}
