package runledger_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"log"
	"os"
	"strings"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/userstream/userstream/runledger"
)

// A scheduled job records each run: started, then its counts and how it
// ended.
func Example() {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, os.Getenv("USERSTREAM_POSTGRES_DSN"))
	if err != nil {
		log.Fatal(err)
	}
	defer pool.Close()

	// A schema of the example's own, dropped at the end; a program keeps
	// the default, "userstream".
	schema := "example_" + strings.ToLower(rand.Text())
	defer func() { _, _ = pool.Exec(context.Background(), "DROP SCHEMA IF EXISTS "+schema+" CASCADE") }()
	l, err := runledger.New(pool, runledger.WithSchema(schema))
	if err != nil {
		log.Fatal(err)
	}
	if err := l.Migrate(ctx); err != nil { // idempotent: run it at every start
		log.Fatal(err)
	}

	id := runledger.NewRunID("ingest")
	if err := l.Start(ctx, id, "ingest"); err != nil {
		log.Fatal(err)
	}
	// … fetch 5,000 users, stage them; 12 had been staged by an earlier run …
	run := runledger.Run{RunID: id, Fetched: 5000, Staged: 4988, Duplicates: 12, Published: 4988,
		Status: runledger.StatusSucceeded}
	if err := l.Update(ctx, run); err != nil {
		log.Fatal(err)
	}

	runs, err := l.Recent(ctx, 10)
	if err != nil {
		log.Fatal(err)
	}
	for _, r := range runs {
		fmt.Printf("%s: %s, fetched %d, staged %d, duplicates %d, published %d, ended %v\n",
			r.Kind, r.Status, r.Fetched, r.Staged, r.Duplicates, r.Published, r.EndedAt != nil)
	}
	// Output:
	// ingest: succeeded, fetched 5000, staged 4988, duplicates 12, published 4988, ended true
}
