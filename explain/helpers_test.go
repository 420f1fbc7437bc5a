package explain_test

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

func testContext(tb testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	tb.Cleanup(cancel)
	return ctx
}

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }

// newOutbox returns a migrated outbox in a schema of the test's own,
// dropped after the test, and its pool.
func newOutbox(tb testing.TB) (*outbox.Store, *pgxpool.Pool) {
	tb.Helper()
	pool, err := pgxpool.New(context.Background(), testenv.PostgresDSN(tb))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(pool.Close)
	schema := testenv.Name(tb, "expl")
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
	if err := store.Migrate(testContext(tb, 60*time.Second)); err != nil {
		tb.Fatal(err)
	}
	return store, pool
}

// table is a migrated store in a keyspace of the test's own, dropped after
// the test, with its session for statements by hand.
type table struct {
	*cassandrastore.Store
	session gocqlx.Session
	name    string // keyspace.table
}

func newTable(tb testing.TB) table {
	tb.Helper()
	ctx := testContext(tb, 2*time.Minute)
	session, err := cassandrastore.NewSession(ctx, testenv.CassandraHosts(tb), cassandrastore.WithLogger(discard()))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(session.Close)
	keyspace := testenv.Name(tb, "expl")
	store, err := cassandrastore.New(session, cassandrastore.WithKeyspace(keyspace), cassandrastore.WithLogger(discard()))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = session.ExecStmt("DROP KEYSPACE IF EXISTS " + keyspace) })
	if err := store.Migrate(ctx); err != nil {
		tb.Fatal(err)
	}
	return table{Store: store, session: session, name: keyspace + "." + cassandrastore.DefaultTable}
}

// exec runs a CQL statement by hand, as cqlsh would: no USING TIMESTAMP,
// so the write time is the coordinator's clock.
func (t table) exec(tb testing.TB, stmt string, values ...any) {
	tb.Helper()
	if err := t.session.Session.Query(stmt, values...).Exec(); err != nil {
		tb.Fatalf("%s: %v", stmt, err)
	}
}

// newTopic creates a topic of the test's own and deletes it (and its
// dead-letter topic) after the test.
func newTopic(tb testing.TB, brokers []string) string {
	tb.Helper()
	topic := testenv.Name(tb, "expl")
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		tb.Fatal(err)
	}
	ctx := testContext(tb, 30*time.Second)
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

// pipeline carries what an outbox staged to a table: a relay to a topic
// of the test's own, and a consumer group that applies the changes.
type pipeline struct {
	brokers      []string
	topic, group string
	relay        *outbox.Relay
	table        table
}

func newPipeline(tb testing.TB, src *outbox.Store, t table) *pipeline {
	tb.Helper()
	brokers := testenv.KafkaBrokers(tb)
	topic := newTopic(tb, brokers)
	p, err := kafkasink.NewProducer(brokers, kafkasink.WithTopic(topic), kafkasink.WithLogger(discard()))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(p.Close)
	relay, err := outbox.NewRelay(src, p, outbox.WithRoundSize(2000), outbox.WithLogger(discard()))
	if err != nil {
		tb.Fatal(err)
	}
	return &pipeline{brokers: brokers, topic: topic, group: testenv.Name(tb, "expl"), relay: relay, table: t}
}

// carry relays everything staged and consumes the topic to its end into
// the table, as the pipeline's relay and consumers would; records that
// are not valid rows go to the dead-letter topic.
func (p *pipeline) carry(tb testing.TB) {
	tb.Helper()
	ctx := testContext(tb, 5*time.Minute)
	if err := p.relay.Drain(ctx); err != nil {
		tb.Fatalf("relay: %v", err)
	}
	c, err := kafkasink.NewConsumer(p.brokers, p.group, kafkasink.ChangesHandler(p.table.ApplyMany, kafkasink.RejectedRows),
		kafkasink.WithTopic(p.topic), kafkasink.WithStopAtEnd(), kafkasink.WithLogger(discard()))
	if err != nil {
		tb.Fatal(err)
	}
	defer c.Close()
	if err := c.Run(ctx); err != nil {
		tb.Fatalf("consume: %v", err)
	}
}

// endOffsets returns the end offset of each non-empty partition of topic.
func endOffsets(tb testing.TB, cl *kgo.Client, topic string) map[int32]int64 {
	tb.Helper()
	ends, err := kadm.NewClient(cl).ListEndOffsets(testContext(tb, 30*time.Second), topic)
	if err != nil {
		tb.Fatalf("list end offsets: %v", err)
	}
	out := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Offset > 0 {
			out[o.Partition] = o.Offset
		}
	})
	return out
}

// deleteRecords deletes the records of a partition before offset, as the
// topic's retention would.
func deleteRecords(tb testing.TB, cl *kgo.Client, topic string, partition int32, before int64) {
	tb.Helper()
	var os kadm.Offsets
	os.Add(kadm.Offset{Topic: topic, Partition: partition, At: before})
	res, err := kadm.NewClient(cl).DeleteRecords(testContext(tb, 30*time.Second), os)
	if err == nil {
		err = res.Error()
	}
	if err != nil {
		tb.Fatalf("delete records: %v", err)
	}
}
