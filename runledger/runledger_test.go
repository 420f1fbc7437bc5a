package runledger_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/userstream/userstream/internal/testenv"
	"github.com/userstream/userstream/runledger"
)

func newLedger(t *testing.T) (*runledger.Ledger, *pgxpool.Pool) {
	t.Helper()
	dsn := testenv.PostgresDSN(t)
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	schema := testenv.Name(t, "ledger")
	t.Cleanup(func() {
		_, _ = pool.Exec(context.Background(), `DROP SCHEMA IF EXISTS `+pgx.Identifier{schema}.Sanitize()+` CASCADE`)
	})
	l, err := runledger.New(pool, runledger.WithSchema(schema))
	if err != nil {
		t.Fatal(err)
	}
	return l, pool
}

// Processes that start together migrate together: none may fail.
func TestConcurrentMigrate(t *testing.T) {
	l, _ := newLedger(t)
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Go(func() { errs <- l.Migrate(ctx) })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("concurrent Migrate: %v", err)
		}
	}
}

func TestRunLifecycle(t *testing.T) {
	l, _ := newLedger(t)
	ctx := context.Background()
	if err := l.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	first, second := runledger.NewRunID("full"), runledger.NewRunID("consume")
	if first == second {
		t.Fatalf("two run ids alike: %s", first)
	}
	if err := l.Start(ctx, first, "full"); err != nil {
		t.Fatal(err)
	}
	r, err := l.Get(ctx, first)
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != runledger.StatusRunning || r.EndedAt != nil || r.Kind != "full" {
		t.Fatalf("started run: %+v, want running with no end", r)
	}
	// Progress while running keeps the end time unset.
	if err := l.Update(ctx, runledger.Run{RunID: first, Fetched: 10, Status: runledger.StatusRunning}); err != nil {
		t.Fatal(err)
	}
	if r, _ = l.Get(ctx, first); r.Fetched != 10 || r.EndedAt != nil {
		t.Fatalf("run in progress: %+v", r)
	}
	// An interrupted context still records the end.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	want := runledger.Run{RunID: first, Kind: "full", Fetched: 100, Staged: 90, Duplicates: 8, Invalid: 2, Published: 90,
		Stored: 89, DeadLettered: 1, Status: runledger.StatusFailed, Error: "store: unavailable"}
	if err := l.Update(cctx, want); err != nil {
		t.Fatalf("Update on a cancelled context: %v", err)
	}
	got, err := l.Get(ctx, first)
	if err != nil {
		t.Fatal(err)
	}
	if got.EndedAt == nil || got.EndedAt.Before(got.StartedAt) {
		t.Fatalf("ended run: end %v, start %v", got.EndedAt, got.StartedAt)
	}
	if !got.HeartbeatAt.Equal(*got.EndedAt) {
		t.Errorf("ended run: heartbeat %v, want its end %v", got.HeartbeatAt, got.EndedAt)
	}
	got.StartedAt, got.EndedAt, got.HeartbeatAt = time.Time{}, nil, time.Time{}
	if got != want {
		t.Fatalf("ended run:\n got %+v\nwant %+v", got, want)
	}

	if err := l.Start(ctx, second, "consume"); err != nil {
		t.Fatal(err)
	}
	runs, err := l.Recent(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != 2 || runs[0].RunID != second || runs[1].RunID != first {
		t.Fatalf("Recent: %d runs, want [%s %s] newest first", len(runs), second, first)
	}
	if runs, _ = l.Recent(ctx, 1); len(runs) != 1 {
		t.Fatalf("Recent(1): %d runs", len(runs))
	}
}

func TestUnknownRun(t *testing.T) {
	l, _ := newLedger(t)
	ctx := context.Background()
	if err := l.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Get(ctx, "nope"); !errors.Is(err, runledger.ErrNotFound) {
		t.Fatalf("Get of an unknown run: %v, want ErrNotFound", err)
	}
	if err := l.Update(ctx, runledger.Run{RunID: "nope", Status: runledger.StatusSucceeded}); !errors.Is(err, runledger.ErrNotFound) {
		t.Fatalf("Update of an unknown run: %v, want ErrNotFound", err)
	}
}

func TestSince(t *testing.T) {
	base := runledger.Run{Fetched: 10, Staged: 9, Duplicates: 1, Published: 9, Stored: 8, DeadLettered: 1, Invalid: 0}
	now := runledger.Run{RunID: "r", Fetched: 25, Staged: 20, Duplicates: 4, Invalid: 1, Published: 19, Stored: 18, DeadLettered: 2}
	want := runledger.Run{RunID: "r", Fetched: 15, Staged: 11, Duplicates: 3, Invalid: 1, Published: 10, Stored: 10, DeadLettered: 1}
	if got := now.Since(base); got != want {
		t.Fatalf("Since: got %+v, want %+v", got, want)
	}
}

func TestNewValidates(t *testing.T) {
	if _, err := runledger.New(nil); err == nil {
		t.Error("New(nil) succeeded")
	}
	pool, err := pgxpool.New(context.Background(), "postgres://127.0.0.1:1/none")
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	if _, err := runledger.New(pool, runledger.WithSchema("")); err == nil {
		t.Error("an empty schema was accepted")
	}
	for _, d := range []time.Duration{0, -time.Second} {
		if _, err := runledger.New(pool, runledger.WithLease(d)); err == nil {
			t.Errorf("a lease of %v was accepted", d)
		}
	}
}
