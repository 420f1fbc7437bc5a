package outbox_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"log"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/userstream/userstream/kafkasink"
	"github.com/userstream/userstream/kafkasink/outbox"
	"github.com/userstream/userstream/transform"
)

// A batch job stages, drains and exits: Drain relays until nothing is
// pending (waiting out another relay), then deletes the published rows
// past the retention.
func ExampleRelay_Drain() {
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

	relay, err := outbox.NewRelay(store, producer, outbox.WithRetention(72*time.Hour))
	if err != nil {
		log.Fatal(err)
	}
	if err := relay.Drain(ctx); err != nil {
		log.Fatal(err) // rows not delivered stay pending for the next run
	}
	pending, err := store.Pending(ctx)
	if err != nil {
		log.Fatal(err)
	}
	bound, err := store.BoundTopic(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("published", relay.Stats().Published, "rows; pending", pending, "; bound to the producer's topic:", bound == topic)
	// Output: published 3 rows; pending 0 ; bound to the producer's topic: true
}

// memSource is an outbox in memory: enough of the outbox.Source contract
// to test code that drives a relay without PostgreSQL.
type memSource struct {
	mu       sync.Mutex
	held     bool
	topic    string
	rows     []kafkasink.Encoded
	position int // rows[:position] are published
}

func (m *memSource) Schema() string { return "mem" }

func (m *memSource) Claim(ctx context.Context, topic string, limit int) (outbox.Claim, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	switch {
	case m.held:
		return nil, outbox.ErrStandby
	case m.topic != "" && m.topic != topic:
		return nil, &outbox.TopicMismatchError{Schema: "mem", Bound: m.topic, Got: topic}
	}
	m.held = true
	end := min(m.position+limit, len(m.rows))
	return &memClaim{m: m, topic: topic, rows: m.rows[m.position:end]}, nil
}

func (m *memSource) Listen(ctx context.Context, notify func()) error {
	notify()
	<-ctx.Done()
	return ctx.Err()
}

func (m *memSource) DeletePublished(ctx context.Context, olderThan time.Duration) (int64, error) {
	return 0, nil // keeps everything
}

func (m *memSource) Pending(ctx context.Context) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return int64(len(m.rows) - m.position), nil
}

type memClaim struct {
	m     *memSource
	topic string
	rows  []kafkasink.Encoded
	done  bool
}

func (c *memClaim) Rows() []kafkasink.Encoded { return c.rows }

func (c *memClaim) Commit(ctx context.Context, n int) error {
	c.m.mu.Lock()
	defer c.m.mu.Unlock()
	c.m.position += n
	if n > 0 && c.m.topic == "" {
		c.m.topic = c.topic // bound by the first round that publishes
	}
	c.m.held, c.done = false, true
	return nil
}

func (c *memClaim) Release(ctx context.Context) {
	c.m.mu.Lock()
	defer c.m.mu.Unlock()
	if !c.done {
		c.m.held, c.done = false, true
	}
}

// printer is a Producer that acknowledges every row and prints its id.
type printer struct{}

func (printer) Topic() string { return "signups" }

func (printer) ProduceEncodedSync(ctx context.Context, rows ...kafkasink.Encoded) ([]kafkasink.Delivery, error) {
	out := make([]kafkasink.Delivery, len(rows))
	for i, r := range rows {
		fmt.Println("produced", r.ID)
		out[i] = kafkasink.Delivery{ID: r.ID}
	}
	return out, nil
}

// A relay reads its outbox through an outbox.Source: a fake one (here in
// memory) and a fake Producer test a drain without any server.
func ExampleSource() {
	src := &memSource{rows: []kafkasink.Encoded{{ID: "a"}, {ID: "b"}, {ID: "c"}}}
	relay, err := outbox.NewRelay(src, printer{}, outbox.WithRoundSize(2))
	if err != nil {
		log.Fatal(err)
	}
	if err := relay.Drain(context.Background()); err != nil {
		log.Fatal(err)
	}
	pending, _ := src.Pending(context.Background())
	fmt.Println("pending", pending, "bound to", src.topic)
	// Output:
	// produced a
	// produced b
	// produced c
	// pending 0 bound to signups
}
