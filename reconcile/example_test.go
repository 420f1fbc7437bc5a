package reconcile_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"log"
	"os"
	"strings"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/userstream/userstream/cassandrastore"
	"github.com/userstream/userstream/kafkasink/outbox"
	"github.com/userstream/userstream/reconcile"
	"github.com/userstream/userstream/transform"
)

// The example runs against the servers named by USERSTREAM_POSTGRES_DSN
// and USERSTREAM_CASSANDRA_HOSTS, in a schema and a keyspace of its own
// that it drops at the end; a program keeps the defaults (userstream,
// spark_streams).

// Three users staged; the pipeline carried two of them (here applied
// directly, as a consumer would); the reconciler finds the third missing
// and re-stages it, for the relay to carry.
func Example() {
	ctx := context.Background()
	name := "example_" + strings.ToLower(rand.Text())

	pool, err := pgxpool.New(ctx, os.Getenv("USERSTREAM_POSTGRES_DSN"))
	if err != nil {
		log.Fatal(err)
	}
	defer pool.Close()
	src, err := outbox.NewStore(pool, outbox.WithSchema(name))
	if err != nil {
		log.Fatal(err)
	}
	defer func() { _, _ = pool.Exec(ctx, "DROP SCHEMA "+name+" CASCADE") }()
	if err := src.Migrate(ctx); err != nil {
		log.Fatal(err)
	}

	session, err := cassandrastore.NewSession(ctx, strings.Split(os.Getenv("USERSTREAM_CASSANDRA_HOSTS"), ","),
		cassandrastore.WithLocalDC("datacenter1"))
	if err != nil {
		log.Fatal(err)
	}
	defer session.Close()
	table, err := cassandrastore.New(session, cassandrastore.WithKeyspace(name))
	if err != nil {
		log.Fatal(err)
	}
	defer func() { _ = session.ExecStmt("DROP KEYSPACE " + name) }()
	if err := table.Migrate(ctx); err != nil {
		log.Fatal(err)
	}

	jennie := transform.Row{ID: "7a0eed16-9430-4d68-901f-c0d4c1c3bf22", FirstName: "Jennie", LastName: "Nichols",
		Email: "jennie.nichols@example.com", RegisteredDate: "2007-07-09T05:51:59.390Z"}
	ali := transform.Row{ID: "e4b9c1a2-58d3-4f6e-9a7b-0c1d2e3f4a5b", FirstName: "Ali", LastName: "Yilmaz",
		Email: "ali.yilmaz@example.com", RegisteredDate: "2011-03-21T10:02:11.114Z"}
	mia := transform.Row{ID: "0f1e2d3c-4b5a-4697-8877-665544332211", FirstName: "Mia", LastName: "Berg",
		Email: "mia.berg@example.com", RegisteredDate: "2019-12-01T23:45:00.000Z"}
	if _, err := src.Stage(ctx, "run-1", []transform.Row{jennie, ali, mia}); err != nil {
		log.Fatal(err)
	}
	// What the relay and a consumer do, for Jennie and Ali only: write
	// each latest version at its version.
	vs, err := src.Latest(ctx, []string{jennie.ID, ali.ID})
	if err != nil {
		log.Fatal(err)
	}
	var changes []transform.Change
	for _, v := range vs {
		row, err := transform.Unmarshal(v.Payload)
		if err != nil {
			log.Fatal(err)
		}
		changes = append(changes, transform.Change{Row: row, Version: v.Version})
	}
	if err := table.ApplyMany(ctx, changes); err != nil {
		log.Fatal(err)
	}

	rec, err := reconcile.New(src, table)
	if err != nil {
		log.Fatal(err)
	}
	rep, err := rec.Check(ctx, reconcile.Scope{}) // every id; Scope{RunID: "run-1"}: the run's
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("compared %d: %d missing, %d stale, %d unexpected\n", rep.Compared, rep.Missing, rep.Stale, rep.Unexpected)
	for _, f := range rep.Findings {
		fmt.Println(f.ID, f.Kind)
	}
	n, err := rec.Repair(ctx, rep, "repair-1")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("re-staged", n)
	// Output:
	// compared 3: 1 missing, 0 stale, 0 unexpected
	// 0f1e2d3c-4b5a-4697-8877-665544332211 missing
	// re-staged 1
}
