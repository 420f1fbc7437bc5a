package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/userstream/userstream/internal/testenv"
	"github.com/userstream/userstream/runledger"
)

// runs prints the ledger's runs newest first, with a failed run's error,
// or one run by id.
func TestRunsPrintsTheLedger(t *testing.T) {
	dsn := testenv.PostgresDSN(t)
	schema := testenv.Name(t, "runs")
	t.Setenv(envPostgresDSN, dsn)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	pool, err := pgxpool.New(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	t.Cleanup(func() {
		_, _ = pool.Exec(context.Background(), `DROP SCHEMA IF EXISTS `+pgx.Identifier{schema}.Sanitize()+` CASCADE`)
	})
	l, err := runledger.New(pool, runledger.WithSchema(schema))
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	ok, failed, gone := runledger.NewRunID("ingest"), runledger.NewRunID("full"), runledger.NewRunID("consume")
	for _, r := range []runledger.Run{
		{RunID: ok, Kind: "ingest", Fetched: 1234, Staged: 1200, Duplicates: 34, Published: 1200, Status: runledger.StatusSucceeded},
		{RunID: failed, Kind: "full", Fetched: 5, Status: runledger.StatusFailed, Error: "fetch: boom"},
	} {
		if err := l.Start(ctx, r.RunID, r.Kind); err != nil {
			t.Fatal(err)
		}
		if err := l.Update(ctx, r); err != nil {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Millisecond) // distinct start times, newest last
	}
	// A run whose process is gone: started, never updated again.
	if err := l.Start(ctx, gone, "consume"); err != nil {
		t.Fatal(err)
	}
	// Wait until a reader with a lease of 1 ms sees it abandoned (the
	// database's clock has moved on by a millisecond).
	short, err := runledger.New(pool, runledger.WithSchema(schema), runledger.WithLease(time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	for r, err := short.Get(ctx, gone); err != nil || r.Status != runledger.StatusAbandoned; r, err = short.Get(ctx, gone) {
		if ctx.Err() != nil {
			t.Fatalf("the run is not abandoned within a minute: %+v, %v", r, err)
		}
		time.Sleep(10 * time.Millisecond)
	}

	var out strings.Builder
	if err := run([]string{"-pg-schema", schema, "-lease", "1ms"}, &out); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 6 || !strings.Contains(lines[1], gone) || !strings.HasSuffix(lines[1], "abandoned") ||
		!strings.Contains(lines[2], "no heartbeat since ") ||
		!strings.Contains(lines[3], failed) || !strings.Contains(lines[4], "error: fetch: boom") ||
		!strings.Contains(lines[5], ok) || !strings.Contains(lines[5], "1234") || !strings.HasSuffix(lines[5], "succeeded") {
		t.Errorf("runs printed:\n%s", out.String())
	}

	// With the default lease (a minute) the run just started is running.
	out.Reset()
	if err := run([]string{"-pg-schema", schema, "-id", gone}, &out); err != nil {
		t.Fatal(err)
	}
	if lines := strings.Split(strings.TrimSpace(out.String()), "\n"); len(lines) != 2 || !strings.HasSuffix(lines[1], "running") {
		t.Errorf("runs -id %s printed:\n%s", gone, out.String())
	}

	out.Reset()
	if err := run([]string{"-pg-schema", schema, "-id", ok}, &out); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out.String(), failed) || !strings.Contains(out.String(), ok) {
		t.Errorf("runs -id %s printed:\n%s", ok, out.String())
	}
}
