// Package pipelinetest holds what the tests of reconcile and explain
// share: an outbox, a table and a topic of the test's own on the real
// servers (internal/testenv finds them), and a pipeline that carries what
// the outbox staged into the table as the relay and consumers would.
package pipelinetest

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/scylladb/gocqlx/v2"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/userstream/userstream/cassandrastore"
	"github.com/userstream/userstream/internal/testenv"
	"github.com/userstream/userstream/kafkasink"
	"github.com/userstream/userstream/kafkasink/outbox"
)

// Context returns a context that ends after d or with the test.
func Context(tb testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	tb.Cleanup(cancel)
	return ctx
}

// Discard is a logger that drops everything.
func Discard() *slog.Logger { return slog.New(slog.DiscardHandler) }

// NewOutbox returns a migrated outbox in a schema of the test's own
// (named from prefix), dropped after the test, and its pool.
func NewOutbox(tb testing.TB, prefix string) (*outbox.Store, *pgxpool.Pool) {
	tb.Helper()
	pool, err := pgxpool.New(context.Background(), testenv.PostgresDSN(tb))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(pool.Close)
	schema := testenv.Name(tb, prefix)
	store, err := outbox.NewStore(pool, outbox.WithSchema(schema))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := pool.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{schema}.Sanitize()+" CASCADE"); err != nil {
			tb.Logf("drop schema %s: %v", schema, err)
		}
	})
	if err := store.Migrate(Context(tb, 60*time.Second)); err != nil {
		tb.Fatal(err)
	}
	return store, pool
}

// Table is a migrated store in a keyspace of the test's own, dropped after
// the test, with its session for statements by hand.
type Table struct {
	*cassandrastore.Store
	Session gocqlx.Session
	Name    string // keyspace.table
}

// NewTable returns a Table in a keyspace named from prefix.
func NewTable(tb testing.TB, prefix string) Table {
	tb.Helper()
	ctx := Context(tb, 2*time.Minute)
	session, err := cassandrastore.NewSession(ctx, testenv.CassandraHosts(tb), cassandrastore.WithLogger(Discard()))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(session.Close)
	keyspace := testenv.Name(tb, prefix)
	store, err := cassandrastore.New(session, cassandrastore.WithKeyspace(keyspace), cassandrastore.WithLogger(Discard()))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = session.ExecStmt("DROP KEYSPACE IF EXISTS " + keyspace) })
	if err := store.Migrate(ctx); err != nil {
		tb.Fatal(err)
	}
	return Table{Store: store, Session: session, Name: keyspace + "." + cassandrastore.DefaultTable}
}

// Exec runs a CQL statement by hand, as cqlsh would: no USING TIMESTAMP,
// so the write time is the coordinator's clock.
func (t Table) Exec(tb testing.TB, stmt string, values ...any) {
	tb.Helper()
	if err := t.Session.Session.Query(stmt, values...).Exec(); err != nil {
		tb.Fatalf("%s: %v", stmt, err)
	}
}

// NewTopic creates a topic of the test's own (named from prefix) and
// deletes it (and its dead-letter topic) after the test.
func NewTopic(tb testing.TB, brokers []string, prefix string) string {
	tb.Helper()
	topic := testenv.Name(tb, prefix)
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		tb.Fatal(err)
	}
	ctx := Context(tb, 30*time.Second)
	for _, name := range []string{topic, kafkasink.DLQTopicFor(topic)} {
		if _, err := kafkasink.EnsureTopic(ctx, cl, kafkasink.TopicSpec{Name: name, Partitions: 3, ReplicationFactor: 1}); err != nil {
			tb.Fatal(err)
		}
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_, _ = kadm.NewClient(cl).DeleteTopics(ctx, topic, kafkasink.DLQTopicFor(topic))
		cl.Close()
	})
	return topic
}

// Pipeline carries what an outbox staged to a table: a relay to a topic
// of the test's own, and a consumer group that applies the changes.
type Pipeline struct {
	Brokers      []string
	Topic, Group string
	Relay        *outbox.Relay
	Table        Table
}

// NewPipeline returns a Pipeline from src to t, its topic and group named
// from prefix.
func NewPipeline(tb testing.TB, prefix string, src *outbox.Store, t Table) *Pipeline {
	tb.Helper()
	brokers := testenv.KafkaBrokers(tb)
	topic := NewTopic(tb, brokers, prefix)
	p, err := kafkasink.NewProducer(brokers, kafkasink.WithTopic(topic), kafkasink.WithLogger(Discard()))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(p.Close)
	relay, err := outbox.NewRelay(src, p, outbox.WithRoundSize(2000), outbox.WithLogger(Discard()))
	if err != nil {
		tb.Fatal(err)
	}
	return &Pipeline{Brokers: brokers, Topic: topic, Group: testenv.Name(tb, prefix), Relay: relay, Table: t}
}

// Carry relays everything staged and consumes the topic to its end into
// the table, as the pipeline's relay and consumers would; records that
// are not valid rows go to the dead-letter topic.
func (p *Pipeline) Carry(tb testing.TB) {
	tb.Helper()
	ctx := Context(tb, 5*time.Minute)
	if err := p.Relay.Drain(ctx); err != nil {
		tb.Fatalf("relay: %v", err)
	}
	c, err := kafkasink.NewConsumer(p.Brokers, p.Group, kafkasink.ChangesHandler(p.Table.ApplyMany, kafkasink.RejectedRows),
		kafkasink.WithTopic(p.Topic), kafkasink.WithStopAtEnd(), kafkasink.WithLogger(Discard()))
	if err != nil {
		tb.Fatal(err)
	}
	defer c.Close()
	if err := c.Run(ctx); err != nil {
		tb.Fatalf("consume: %v", err)
	}
}
