package cassandrastore_test

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/gocql/gocql"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/userstream/userstream/cassandrastore"
	"github.com/userstream/userstream/transform"
)

// The examples run against the cluster named by USERSTREAM_CASSANDRA_HOSTS,
// each in a keyspace of its own that it drops at the end; a program keeps
// the default keyspace, spark_streams. The local stack's node is in the
// data center "datacenter1" (SimpleSnitch).

// Users of the examples, as transform.FromUser maps them from the Random
// User API.
var (
	jennie = transform.Row{ID: "7a0eed16-9430-4d68-901f-c0d4c1c3bf22", FirstName: "Jennie", LastName: "Nichols",
		Email: "jennie.nichols@example.com", RegisteredDate: "2007-07-09T05:51:59.390Z"}
	ali = transform.Row{ID: "e4b9c1a2-58d3-4f6e-9a7b-0c1d2e3f4a5b", FirstName: "Ali", LastName: "Yilmaz",
		Email: "ali.yilmaz@example.com", RegisteredDate: "2011-03-21T10:02:11.114Z"}
	mia = transform.Row{ID: "0f1e2d3c-4b5a-4697-8877-665544332211", FirstName: "Mia", LastName: "Berg",
		Email: "mia.berg@example.com", RegisteredDate: "2019-12-01T23:45:00.000Z"}
)

func Example() {
	ctx := context.Background()
	hosts := strings.Split(os.Getenv("USERSTREAM_CASSANDRA_HOSTS"), ",")
	session, err := cassandrastore.NewSession(ctx, hosts, cassandrastore.WithLocalDC("datacenter1"))
	if err != nil {
		log.Fatal(err)
	}
	defer session.Close()

	keyspace := "example_" + strings.ToLower(rand.Text())
	store, err := cassandrastore.New(session,
		cassandrastore.WithKeyspace(keyspace), // default spark_streams
		cassandrastore.WithReplication(cassandrastore.NetworkTopologyStrategy(map[string]int{"datacenter1": 1})))
	if err != nil {
		log.Fatal(err)
	}
	defer func() { _ = session.ExecStmt("DROP KEYSPACE " + keyspace) }()
	if err := store.Migrate(ctx); err != nil { // creates the keyspace and the table
		log.Fatal(err)
	}

	if err := store.Upsert(ctx, jennie); err != nil {
		log.Fatal(err)
	}
	got, err := store.Get(ctx, jennie.ID)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(got.FirstName, got.LastName, got.Email)
	_, err = store.Get(ctx, ali.ID)
	fmt.Println(errors.Is(err, cassandrastore.ErrNotFound))
	// Output:
	// Jennie Nichols jennie.nichols@example.com
	// true
}

// A production session: several contact points, the local data center,
// and, on a secured cluster, authentication and TLS.
func ExampleNewSession() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	session, err := cassandrastore.NewSession(ctx,
		strings.Split(os.Getenv("USERSTREAM_CASSANDRA_HOSTS"), ","), // e.g. cassandra-1:9042,cassandra-2:9042
		cassandrastore.WithLocalDC("datacenter1"),
		// On a secured cluster, the login and TLS of the USERSTREAM_CASSANDRA_*
		// variables (sec from secure.FromEnv):
		// cassandrastore.WithClusterConfig(sec.Cassandra.Apply),
		cassandrastore.WithRequestTimeout(5*time.Second),
		cassandrastore.WithLogger(slog.New(slog.NewJSONHandler(os.Stderr, nil))),
	)
	if err != nil {
		log.Fatal(err) // retry with a backoff if the cluster may still be starting
	}
	defer session.Close()

	store, err := cassandrastore.New(session) // no I/O
	if err != nil {
		log.Fatal(err)
	}
	if err := store.Ping(ctx); err != nil {
		log.Fatal(err)
	}
	fmt.Println("connected")
	// Output: connected
}

// Migrate upgrades the table the seed pipeline created (11 columns, no dob)
// in place: it adds the dob column and keeps the rows.
func ExampleStore_Migrate() {
	ctx := context.Background()
	session, err := cassandrastore.NewSession(ctx, strings.Split(os.Getenv("USERSTREAM_CASSANDRA_HOSTS"), ","))
	if err != nil {
		log.Fatal(err)
	}
	defer session.Close()
	keyspace := "example_" + strings.ToLower(rand.Text())
	defer func() { _ = session.ExecStmt("DROP KEYSPACE " + keyspace) }()

	// The seed pipeline's keyspace, table and a row it stored.
	for _, stmt := range []string{
		"CREATE KEYSPACE " + keyspace + " WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}",
		"CREATE TABLE " + keyspace + ".created_users (id uuid PRIMARY KEY, first_name text, last_name text, gender text," +
			" address text, post_code text, email text, username text, registered_date text, phone text, picture text)",
		"INSERT INTO " + keyspace + ".created_users (id, first_name, last_name, email)" +
			" VALUES (7a0eed16-9430-4d68-901f-c0d4c1c3bf22, 'Jennie', 'Nichols', 'jennie.nichols@example.com')",
	} {
		if err := session.ExecStmt(stmt); err != nil {
			log.Fatal(err)
		}
	}

	store, err := cassandrastore.New(session, cassandrastore.WithKeyspace(keyspace), cassandrastore.WithTable("created_users"))
	if err != nil {
		log.Fatal(err)
	}
	if err := store.Migrate(ctx); err != nil {
		log.Fatal(err)
	}
	got, err := store.Get(ctx, "7a0eed16-9430-4d68-901f-c0d4c1c3bf22")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s %s, dob %q\n", got.FirstName, got.LastName, got.DOB)
	// Output: Jennie Nichols, dob ""
}

// A sink writes each batch of rows it consumed, backs off and retries the
// rows that failed for a transient reason, and sets the others aside.
func ExampleStore_UpsertMany() {
	ctx := context.Background()
	session, err := cassandrastore.NewSession(ctx, strings.Split(os.Getenv("USERSTREAM_CASSANDRA_HOSTS"), ","))
	if err != nil {
		log.Fatal(err)
	}
	defer session.Close()
	keyspace := "example_" + strings.ToLower(rand.Text())
	store, err := cassandrastore.New(session, cassandrastore.WithKeyspace(keyspace))
	if err != nil {
		log.Fatal(err)
	}
	defer func() { _ = session.ExecStmt("DROP KEYSPACE " + keyspace) }()
	if err := store.Migrate(ctx); err != nil {
		log.Fatal(err)
	}

	// Rows from Kafka; one has an id that is not a UUID.
	rows := []transform.Row{jennie, {ID: "not-a-uuid", FirstName: "Bad"}, ali, mia}
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
				fmt.Printf("dead-letter %s: %v\n", f.ID, f.Err)
			}
		}
		rows = retry
		time.Sleep(backoff)
		backoff *= 2
	}
	n, err := store.Count(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(n, "rows stored")
	// Output:
	// dead-letter not-a-uuid: cassandrastore: id is not a UUID
	// 3 rows stored
}

// A consumer applies the versions of users as they come, late and out of
// order: each is written at its version, so the newest wins, and a
// deletion keeps the row deleted however late an older version arrives.
func ExampleStore_ApplyMany() {
	ctx := context.Background()
	session, err := cassandrastore.NewSession(ctx, strings.Split(os.Getenv("USERSTREAM_CASSANDRA_HOSTS"), ","))
	if err != nil {
		log.Fatal(err)
	}
	defer session.Close()
	keyspace := "example_" + strings.ToLower(rand.Text())
	store, err := cassandrastore.New(session, cassandrastore.WithKeyspace(keyspace))
	if err != nil {
		log.Fatal(err)
	}
	defer func() { _ = session.ExecStmt("DROP KEYSPACE " + keyspace) }()
	if err := store.Migrate(ctx); err != nil {
		log.Fatal(err)
	}

	// Versions as an outbox assigns them: microseconds, increasing.
	const v1, v2, v3 = 1_700_000_000_000_001, 1_700_000_000_000_002, 1_700_000_000_000_003
	moved := jennie
	moved.Email = "jennie@new.example.com"
	changes := []transform.Change{
		{Row: moved, Version: v2},
		{Row: jennie, Version: v1}, // older, arriving later: ignored
		{Row: transform.Row{ID: ali.ID}, Delete: true, Version: v3},
		{Row: ali, Version: v2}, // older than the deletion: stays deleted
	}
	if err := store.ApplyMany(ctx, changes); err != nil {
		log.Fatal(err) // a *WriteError: retry the retryable changes, as with UpsertMany
	}
	got, err := store.Get(ctx, jennie.ID)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(got.Email)
	_, err = store.Get(ctx, ali.ID)
	fmt.Println(errors.Is(err, cassandrastore.ErrNotFound))
	// Output:
	// jennie@new.example.com
	// true
}

// All reads the whole table a page at a time, in token order.
func ExampleStore_All() {
	ctx := context.Background()
	session, err := cassandrastore.NewSession(ctx, strings.Split(os.Getenv("USERSTREAM_CASSANDRA_HOSTS"), ","))
	if err != nil {
		log.Fatal(err)
	}
	defer session.Close()
	keyspace := "example_" + strings.ToLower(rand.Text())
	store, err := cassandrastore.New(session, cassandrastore.WithKeyspace(keyspace))
	if err != nil {
		log.Fatal(err)
	}
	defer func() { _ = session.ExecStmt("DROP KEYSPACE " + keyspace) }()
	if err := store.Migrate(ctx); err != nil {
		log.Fatal(err)
	}
	if err := store.UpsertMany(ctx, []transform.Row{jennie, ali, mia}); err != nil {
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
	// Output:
	// 0f1e2d3c-4b5a-4697-8877-665544332211 mia.berg@example.com
	// e4b9c1a2-58d3-4f6e-9a7b-0c1d2e3f4a5b ali.yilmaz@example.com
	// 7a0eed16-9430-4d68-901f-c0d4c1c3bf22 jennie.nichols@example.com
	// 3 rows
}

// The error of a write tells whether to write again. Here the session asks
// for three replicas of a keyspace that has one: Cassandra refuses the
// write as unavailable, and nothing is written.
func ExampleIsRetryable() {
	ctx := context.Background()
	hosts := strings.Split(os.Getenv("USERSTREAM_CASSANDRA_HOSTS"), ",")
	session, err := cassandrastore.NewSession(ctx, hosts)
	if err != nil {
		log.Fatal(err)
	}
	defer session.Close()
	keyspace := "example_" + strings.ToLower(rand.Text())
	store, err := cassandrastore.New(session, cassandrastore.WithKeyspace(keyspace))
	if err != nil {
		log.Fatal(err)
	}
	defer func() { _ = session.ExecStmt("DROP KEYSPACE " + keyspace) }()
	if err := store.Migrate(ctx); err != nil {
		log.Fatal(err)
	}
	strict, err := cassandrastore.NewSession(ctx, hosts,
		cassandrastore.WithConsistency(gocql.Three), // the keyspace has one replica
		cassandrastore.WithRetry(0, 0, 0))           // no retries: the error comes back at once
	if err != nil {
		log.Fatal(err)
	}
	defer strict.Close()
	store, err = cassandrastore.New(strict, cassandrastore.WithKeyspace(keyspace))
	if err != nil {
		log.Fatal(err)
	}

	err = store.Upsert(ctx, jennie)
	switch {
	case err == nil:
		fmt.Println("written")
	case cassandrastore.IsUnavailable(err):
		fmt.Println("unavailable: nothing was written; back off and write it again")
	case cassandrastore.IsTimeout(err):
		fmt.Println("timed out: maybe written; the upsert is idempotent, so write it again")
	case cassandrastore.IsRetryable(err):
		fmt.Println("connection lost: back off and write it again")
	default:
		fmt.Println("permanent failure:", err)
	}
	// Output: unavailable: nothing was written; back off and write it again
}

// A command's -consistency flag, parsed for WithConsistency; the session's
// level serves the writes and the reads that verify them.
func ExampleParseConsistency() {
	for _, flag := range []string{"local_quorum", "LOCAL-ONE", "any"} {
		c, err := cassandrastore.ParseConsistency(flag)
		if err != nil {
			fmt.Println(err)
			continue
		}
		fmt.Println(c)
		_ = cassandrastore.WithConsistency(c) // for NewSession
	}
	// Output:
	// LOCAL_QUORUM
	// LOCAL_ONE
	// cassandrastore: consistency "any": want one of one, two, three, quorum, all, local_quorum, each_quorum, local_one
}

// The production keyspace of a single-DC cluster: three replicas in the
// data center of the node Migrate reaches, whose name it reads from
// system.local, written and read at LOCAL_QUORUM (NewSession's default).
func ExampleLocalNetworkTopologyStrategy() {
	repl := cassandrastore.LocalNetworkTopologyStrategy(3)
	fmt.Println(repl)
	_ = cassandrastore.WithReplication(repl) // for New
	// Output:
	// {'class': 'NetworkTopologyStrategy', <local data center>: 3}
}

// Record the store's metrics on a registry that /metrics serves. Stores
// given the same registry share the series.
func ExampleWithMetrics() {
	ctx := context.Background()
	session, err := cassandrastore.NewSession(ctx, strings.Split(os.Getenv("USERSTREAM_CASSANDRA_HOSTS"), ","))
	if err != nil {
		log.Fatal(err)
	}
	defer session.Close()
	keyspace := "example_" + strings.ToLower(rand.Text())
	reg := prometheus.NewRegistry() // served with promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
	store, err := cassandrastore.New(session, cassandrastore.WithKeyspace(keyspace), cassandrastore.WithMetrics(reg))
	if err != nil {
		log.Fatal(err)
	}
	defer func() { _ = session.ExecStmt("DROP KEYSPACE " + keyspace) }()
	if err := store.Migrate(ctx); err != nil {
		log.Fatal(err)
	}

	if err := store.UpsertMany(ctx, []transform.Row{jennie, ali, mia}); err != nil {
		log.Fatal(err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		log.Fatal(err)
	}
	for _, mf := range mfs {
		m := mf.GetMetric()[0]
		switch mf.GetType() {
		case dto.MetricType_COUNTER:
			fmt.Println(mf.GetName(), m.GetCounter().GetValue())
		case dto.MetricType_HISTOGRAM:
			fmt.Println(mf.GetName(), "count", m.GetHistogram().GetSampleCount())
		}
	}
	// Output:
	// userstream_rows_stored_total 3
	// userstream_store_batch_seconds count 1
	// userstream_store_errors_total 0
}
