package explain_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"log"
	"os"
	"strings"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/userstream/userstream/cassandrastore"
	"github.com/userstream/userstream/explain"
	"github.com/userstream/userstream/kafkasink/outbox"
	"github.com/userstream/userstream/transform"
)

// The example runs against the servers named by USERSTREAM_POSTGRES_DSN
// and USERSTREAM_CASSANDRA_HOSTS, in a schema and a keyspace of its own
// that it drops at the end; a program keeps the defaults (userstream,
// spark_streams) and gives New its Kafka client options (kgo.SeedBrokers
// and the security ones), WithRuns and WithDeadLetters.

// One user staged and not yet relayed, and one never staged: the first is
// pending in the outbox, the second not staged here (a report, not an
// error).
func Example() {
	ctx := context.Background()
	name := "example_" + strings.ToLower(rand.Text())

	pool, err := pgxpool.New(ctx, os.Getenv("USERSTREAM_POSTGRES_DSN"))
	if err != nil {
		log.Fatal(err)
	}
	defer pool.Close()
	box, err := outbox.NewStore(pool, outbox.WithSchema(name))
	if err != nil {
		log.Fatal(err)
	}
	defer func() { _, _ = pool.Exec(ctx, "DROP SCHEMA "+name+" CASCADE") }()
	if err := box.Migrate(ctx); err != nil {
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
	if _, err := box.Stage(ctx, "run-1", []transform.Row{jennie}); err != nil {
		log.Fatal(err)
	}

	ex, err := explain.New(box, table, nil) // nil: Kafka not read
	if err != nil {
		log.Fatal(err)
	}
	for _, id := range []string{jennie.ID, "0f1e2d3c-4b5a-4697-8877-665544332211"} {
		rep, err := ex.User(ctx, id)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(id, rep.Verdict, len(rep.Outbox.Versions), "version(s), in the table:", rep.Cassandra.Found)
	}
	// Output:
	// 7a0eed16-9430-4d68-901f-c0d4c1c3bf22 pending 1 version(s), in the table: false
	// 0f1e2d3c-4b5a-4697-8877-665544332211 not-staged 0 version(s), in the table: false
}
