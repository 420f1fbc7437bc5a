package outbox_test

import (
	"context"
	"errors"
	"log"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/userstream/userstream/kafkasink"
	"github.com/userstream/userstream/kafkasink/outbox"
	"github.com/userstream/userstream/transform"
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

	store, err := outbox.NewStore(pool) // schema "userstream"
	if err != nil {
		log.Fatal(err)
	}
	if err := store.Migrate(ctx); err != nil {
		log.Fatal(err)
	}

	var page []transform.Row // one page of fetched users, mapped with transform.FromUser
	res, err := store.Stage(ctx, "run-2024-06-01T12:00:00Z", page)
	var invalid *outbox.InvalidRowError
	switch {
	case errors.As(err, &invalid):
		log.Fatalf("page not staged: row %d: %v", invalid.Index, invalid.Err)
	case outbox.IsPermissionDenied(err):
		log.Fatalf("grant the role INSERT on userstream.outbox: %v", err)
	case err != nil:
		log.Fatal(err)
	}
	log.Printf("staged %d users, %d already staged", res.Staged, res.Duplicates)
}

// A relay process publishes staged rows until it is interrupted. Run as
// many as needed: they share the work.
func ExampleRelay_Run() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()

	pool, err := pgxpool.New(ctx, os.Getenv("USERSTREAM_POSTGRES_DSN"))
	if err != nil {
		log.Fatal(err)
	}
	defer pool.Close()
	producer, err := kafkasink.NewProducer(strings.Split(os.Getenv("USERSTREAM_KAFKA_BROKERS"), ","))
	if err != nil {
		log.Fatal(err)
	}
	defer producer.Close()

	store, err := outbox.NewStore(pool)
	if err != nil {
		log.Fatal(err)
	}
	relay, err := outbox.NewRelay(store, producer,
		outbox.BatchSize(1000),
		outbox.Retention(72*time.Hour),
		outbox.Logger(slog.New(slog.NewJSONHandler(os.Stderr, nil))))
	if err != nil {
		log.Fatal(err)
	}
	if err := relay.Run(ctx); err != nil { // returns nil once ctx ends
		log.Fatal(err)
	}
	log.Printf("relay stopped: %+v", relay.Stats())
}

// A scheduler (a cron job, a test) can relay what is waiting and stop.
func ExampleRelay_RelayOnce() {
	ctx := context.Background()
	var relay *outbox.Relay // from outbox.NewRelay
	total := 0
	for {
		n, err := relay.RelayOnce(ctx)
		if err != nil {
			log.Fatal(err) // rows not delivered stay staged for the next run
		}
		if n == 0 {
			break
		}
		total += n
	}
	log.Printf("published %d rows", total)
}
