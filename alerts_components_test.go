package userstream_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/userstream/userstream/kafkasink"
	"github.com/userstream/userstream/kafkasink/outbox"
	"github.com/userstream/userstream/runledger"
)

// kafkaAndPostgresComponents builds a kafkasink producer and consumer, an
// outbox store and relay, and a run ledger, each with WithMetrics(reg).
// None of the constructors does I/O: the addresses, where nothing listens,
// are never dialled, because no method that would is called.
func kafkaAndPostgresComponents(t *testing.T, reg prometheus.Registerer) {
	t.Helper()
	brokers := []string{"127.0.0.1:1"}
	p, err := kafkasink.NewProducer(brokers, kafkasink.WithMetrics(reg))
	if err != nil {
		t.Fatalf("kafkasink.NewProducer: %v", err)
	}
	t.Cleanup(p.Close)
	c, err := kafkasink.NewConsumer(brokers, "metrics-names",
		func(context.Context, []kafkasink.Message) error { return nil }, kafkasink.WithMetrics(reg))
	if err != nil {
		t.Fatalf("kafkasink.NewConsumer: %v", err)
	}
	t.Cleanup(c.Close)

	// pgxpool.New connects lazily (MinConns is 0).
	pool, err := pgxpool.New(context.Background(), "postgres://userstream@127.0.0.1:1/userstream")
	if err != nil {
		t.Fatalf("pgxpool.New: %v", err)
	}
	t.Cleanup(pool.Close)
	store, err := outbox.NewStore(pool, outbox.WithMetrics(reg))
	if err != nil {
		t.Fatalf("outbox.NewStore: %v", err)
	}
	if _, err := outbox.NewRelay(store, p, outbox.WithMetrics(reg)); err != nil {
		t.Fatalf("outbox.NewRelay: %v", err)
	}
	if _, err := runledger.New(pool, runledger.WithMetrics(reg)); err != nil {
		t.Fatalf("runledger.New: %v", err)
	}
}
