package outbox_test

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log"
	"os"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/userstream/userstream/kafkasink"
	"github.com/userstream/userstream/kafkasink/outbox"
	"github.com/userstream/userstream/transform"
)

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

// The fetching side stages each page as it arrives; a user fetched twice is
// stored once.
func ExampleStore_Stage() {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, os.Getenv("USERSTREAM_POSTGRES_DSN"))
	if err != nil {
		log.Fatal(err)
	}
	defer pool.Close()

	// A schema of the example's own, dropped at the end; a program keeps
	// the default, "userstream".
	schema := "example_" + strings.ToLower(rand.Text())
	store, err := outbox.NewStore(pool, outbox.WithSchema(schema))
	if err != nil {
		log.Fatal(err)
	}
	defer func() { _, _ = pool.Exec(context.Background(), "DROP SCHEMA "+schema+" CASCADE") }()
	if err := store.Migrate(ctx); err != nil { // idempotent: run it at every start
		log.Fatal(err)
	}

	for run, page := range [][]transform.Row{
		{jennie, ali, jennie}, // Jennie twice in one page
		{ali, mia},            // Ali again in the next
	} {
		res, err := store.Stage(ctx, fmt.Sprint("run-", run), page)
		var invalid *outbox.InvalidRowError
		switch {
		case errors.As(err, &invalid):
			log.Fatalf("page not staged: row %d: %v", invalid.Index, invalid.Err)
		case outbox.IsPermissionDenied(err):
			log.Fatalf("grant the role INSERT on %s.outbox: %v", schema, err)
		case err != nil:
			log.Fatal(err)
		}
		fmt.Printf("staged %d, duplicates %d\n", res.Staged, res.Duplicates)
	}
	pending, err := store.Pending(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(pending, "users waiting for a relay")
	// Output:
	// staged 2, duplicates 1
	// staged 1, duplicates 1
	// 3 users waiting for a relay
}

// A relay publishes staged rows to Kafka until it is told to stop. Several
// may run, in one process or many: one publishes, the others stand by and
// take over when it stops.
func ExampleRelay_Run() {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, os.Getenv("USERSTREAM_POSTGRES_DSN"))
	if err != nil {
		log.Fatal(err)
	}
	defer pool.Close()
	// A topic of the example's own, deleted at the end; a program keeps
	// the default, users_created.
	topic := "example_" + strings.ToLower(rand.Text())
	producer, err := kafkasink.NewProducer(strings.Split(os.Getenv("USERSTREAM_KAFKA_BROKERS"), ","),
		kafkasink.WithTopic(topic))
	if err != nil {
		log.Fatal(err)
	}
	defer producer.Close()
	spec := kafkasink.TopicSpec{Name: topic, Partitions: 1, ReplicationFactor: 1}
	if _, err := kafkasink.EnsureTopic(ctx, producer.Client(), spec); err != nil {
		log.Fatal(err)
	}
	defer func() { _, _ = kadm.NewClient(producer.Client()).DeleteTopics(context.Background(), topic) }()

	schema := "example_" + strings.ToLower(rand.Text())
	store, err := outbox.NewStore(pool, outbox.WithSchema(schema))
	if err != nil {
		log.Fatal(err)
	}
	defer func() { _, _ = pool.Exec(context.Background(), "DROP SCHEMA "+schema+" CASCADE") }()
	if err := store.Migrate(ctx); err != nil {
		log.Fatal(err)
	}
	if _, err := store.Stage(ctx, "run-1", []transform.Row{jennie, ali, mia}); err != nil {
		log.Fatal(err)
	}

	relay, err := outbox.NewRelay(store, producer, outbox.WithRoundSize(1000), outbox.WithRetention(72*time.Hour))
	if err != nil {
		log.Fatal(err)
	}
	// A program runs the relay until it is interrupted
	// (signal.NotifyContext); the example stops it once the outbox is
	// drained.
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- relay.Run(runCtx) }() // returns nil once runCtx ends
	for {
		n, err := store.Pending(ctx)
		if err != nil {
			log.Fatal(err)
		}
		if n == 0 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	stop()
	if err := <-done; err != nil {
		log.Fatal(err)
	}
	fmt.Println("published", relay.Stats().Published, "rows")
	// Output: published 3 rows
}

// A scheduler (a cron job, a test) relays what is pending and stops.
func ExampleRelay_RelayOnce() {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, os.Getenv("USERSTREAM_POSTGRES_DSN"))
	if err != nil {
		log.Fatal(err)
	}
	defer pool.Close()
	topic := "example_" + strings.ToLower(rand.Text())
	producer, err := kafkasink.NewProducer(strings.Split(os.Getenv("USERSTREAM_KAFKA_BROKERS"), ","),
		kafkasink.WithTopic(topic))
	if err != nil {
		log.Fatal(err)
	}
	defer producer.Close()
	spec := kafkasink.TopicSpec{Name: topic, Partitions: 1, ReplicationFactor: 1}
	if _, err := kafkasink.EnsureTopic(ctx, producer.Client(), spec); err != nil {
		log.Fatal(err)
	}
	defer func() { _, _ = kadm.NewClient(producer.Client()).DeleteTopics(context.Background(), topic) }()
	schema := "example_" + strings.ToLower(rand.Text())
	store, err := outbox.NewStore(pool, outbox.WithSchema(schema))
	if err != nil {
		log.Fatal(err)
	}
	defer func() { _, _ = pool.Exec(context.Background(), "DROP SCHEMA "+schema+" CASCADE") }()
	if err := store.Migrate(ctx); err != nil {
		log.Fatal(err)
	}
	if _, err := store.Stage(ctx, "run-1", []transform.Row{jennie, ali, mia}); err != nil {
		log.Fatal(err)
	}

	relay, err := outbox.NewRelay(store, producer, outbox.WithRoundSize(2))
	if err != nil {
		log.Fatal(err)
	}
	for {
		n, err := relay.RelayOnce(ctx)
		switch {
		case errors.Is(err, outbox.ErrStandby):
			fmt.Println("another relay is publishing")
			return
		case err != nil:
			log.Fatal(err) // rows not delivered stay pending for the next run
		case n == 0:
			fmt.Println("nothing pending")
			return
		}
		fmt.Println("published", n)
	}
	// Output:
	// published 2
	// published 1
	// nothing pending
}
