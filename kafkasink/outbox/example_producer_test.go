package outbox_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"log"
	"os"
	"strings"
	"sync/atomic"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/userstream/userstream/kafkasink"
	"github.com/userstream/userstream/kafkasink/outbox"
	"github.com/userstream/userstream/transform"
)

// metered is a decorator of an outbox.Producer that counts what a relay
// produces; a real one would feed Prometheus or OpenTelemetry.
type metered struct {
	next        outbox.Producer
	calls, rows atomic.Int64
}

func (m *metered) Topic() string { return m.next.Topic() }

func (m *metered) ProduceEncodedSync(ctx context.Context, rows ...kafkasink.Encoded) ([]kafkasink.Delivery, error) {
	m.calls.Add(1)
	m.rows.Add(int64(len(rows)))
	// The deliveries and the error go back as they are: the relay reads
	// the per-row report of a *kafkasink.ProduceError in the error.
	return m.next.ProduceEncodedSync(ctx, rows...)
}

// A relay produces through any outbox.Producer, such as a decorator of a
// *kafkasink.Producer.
func ExampleProducer() {
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
	users := []transform.Row{
		{ID: "7a0eed16-9430-4d68-901f-c0d4c1c3bf22", FirstName: "Jennie", LastName: "Nichols",
			Email: "jennie.nichols@example.com", RegisteredDate: "2007-07-09T05:51:59.390Z"},
		{ID: "e4b9c1a2-58d3-4f6e-9a7b-0c1d2e3f4a5b", FirstName: "Ali", LastName: "Yilmaz",
			Email: "ali.yilmaz@example.com", RegisteredDate: "2011-03-21T10:02:11.114Z"},
		{ID: "0f1e2d3c-4b5a-4697-8877-665544332211", FirstName: "Mia", LastName: "Berg",
			Email: "mia.berg@example.com", RegisteredDate: "2019-12-01T23:45:00.000Z"},
	}
	if _, err := store.Stage(ctx, "run-1", users); err != nil {
		log.Fatal(err)
	}

	m := &metered{next: producer}
	relay, err := outbox.NewRelay(store, m, outbox.WithRoundSize(2))
	if err != nil {
		log.Fatal(err)
	}
	for {
		n, err := relay.RelayOnce(ctx)
		if err != nil {
			log.Fatal(err)
		}
		if n == 0 {
			break
		}
	}
	fmt.Printf("%d rows produced in %d calls\n", m.rows.Load(), m.calls.Load())
	// Output: 3 rows produced in 2 calls
}
