package cassandrastore_test

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"os"
	"time"

	"github.com/userstream/userstream/cassandrastore"
	"github.com/userstream/userstream/transform"
)

// These examples need a Cassandra cluster, so they are compiled but not
// run (they have no Output comment).

func Example() {
	ctx := context.Background()
	session, err := cassandrastore.NewSession(ctx, []string{"127.0.0.1:9042"})
	if err != nil {
		log.Fatal(err)
	}
	defer session.Close()

	store, err := cassandrastore.New(session) // spark_streams.created_users
	if err != nil {
		log.Fatal(err)
	}
	if err := store.Migrate(ctx); err != nil {
		log.Fatal(err)
	}
	row := transform.Row{ID: "7a0eed16-9430-4d68-901f-c0d4c1c3bf22", FirstName: "Jennie", LastName: "Nichols"}
	if err := store.Upsert(ctx, row); err != nil {
		log.Fatal(err)
	}
	got, err := store.Get(ctx, row.ID)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(got.FirstName, got.LastName)
}

// A production session: several contact points, the local data center,
// authentication and TLS.
func ExampleNewSession() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	session, err := cassandrastore.NewSession(ctx,
		[]string{"cassandra-1.example.com", "cassandra-2.example.com"},
		cassandrastore.WithLocalDC("dc1"),
		cassandrastore.WithAuth("userstream", os.Getenv("CASSANDRA_PASSWORD")),
		cassandrastore.WithTLS(&tls.Config{ServerName: "cassandra.example.com", MinVersion: tls.VersionTLS12}),
		cassandrastore.WithTimeout(5*time.Second),
		cassandrastore.WithLogger(slog.New(slog.NewJSONHandler(os.Stderr, nil))),
	)
	if err != nil {
		log.Fatal(err)
	}
	defer session.Close()
}

// Migrate upgrades the seed pipeline's table in place, or creates the
// keyspace, replicated per data center, and the table.
func ExampleStore_Migrate() {
	ctx := context.Background()
	session, err := cassandrastore.NewSession(ctx, []string{"127.0.0.1"}, cassandrastore.WithLocalDC("dc1"))
	if err != nil {
		log.Fatal(err)
	}
	defer session.Close()
	store, err := cassandrastore.New(session, cassandrastore.WithKeyspace("spark_streams"), cassandrastore.WithTable("created_users"))
	if err != nil {
		log.Fatal(err)
	}
	err = store.Migrate(ctx, cassandrastore.WithReplication(
		cassandrastore.NetworkTopologyStrategy(map[string]int{"dc1": 3, "dc2": 3})))
	if err != nil {
		log.Fatal(err)
	}
}

// A sink writes each batch of rows it consumed, backs off and retries the
// rows that failed for a transient reason, and gives up on the others.
func ExampleStore_UpsertMany() {
	ctx := context.Background()
	session, err := cassandrastore.NewSession(ctx, []string{"127.0.0.1"})
	if err != nil {
		log.Fatal(err)
	}
	defer session.Close()
	store, err := cassandrastore.New(session)
	if err != nil {
		log.Fatal(err)
	}

	var rows []transform.Row // from Kafka, validated
	backoff := 100 * time.Millisecond
	for attempt := 0; len(rows) > 0 && attempt < 5; attempt++ {
		err := store.UpsertMany(ctx, rows)
		var we *cassandrastore.WriteError
		if !errors.As(err, &we) {
			if err != nil {
				log.Fatal(err)
			}
			break
		}
		var retry []transform.Row
		for _, f := range we.Failed {
			if cassandrastore.IsRetryable(f.Err) {
				retry = append(retry, rows[f.Index])
			} else {
				log.Printf("dead-letter %s: %v", f.ID, f.Err)
			}
		}
		rows = retry
		time.Sleep(backoff)
		backoff *= 2
	}
}

func ExampleStore_All() {
	ctx := context.Background()
	session, err := cassandrastore.NewSession(ctx, []string{"127.0.0.1"})
	if err != nil {
		log.Fatal(err)
	}
	defer session.Close()
	store, err := cassandrastore.New(session)
	if err != nil {
		log.Fatal(err)
	}
	for row, err := range store.All(ctx, 1000) {
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(row.ID, row.Email)
	}
	n, err := store.Count(ctx) // a full scan: for tests and demos
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(n, "rows")
}

func ExampleIsRetryable() {
	var store *cassandrastore.Store // from cassandrastore.New
	err := store.Upsert(context.Background(), transform.Row{ID: "7a0eed16-9430-4d68-901f-c0d4c1c3bf22"})
	switch {
	case err == nil:
	case cassandrastore.IsUnavailable(err):
		// Too few replicas or no connection: nothing was written. Back off.
	case cassandrastore.IsTimeout(err):
		// Maybe written; the upsert is idempotent, so write it again.
	case cassandrastore.IsRetryable(err):
		// A lost connection: back off and retry.
	default:
		log.Printf("permanent failure: %v", err)
	}
}
