package dlq_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/userstream/userstream/cassandrastore"
	"github.com/userstream/userstream/internal/testenv"
	"github.com/userstream/userstream/kafkasink"
	"github.com/userstream/userstream/kafkasink/dlq"
	"github.com/userstream/userstream/transform"
)

var quiet = slog.New(slog.DiscardHandler)

// newTopics creates a topic of the test's own with the given partitions,
// and its dead-letter topic with one, and deletes them and the redrive log
// afterwards.
func newTopics(t *testing.T, brokers []string, partitions int32) string {
	t.Helper()
	topic := testenv.Name(t, "topic")
	dead := topic + kafkasink.DLQSuffix
	t.Cleanup(func() { deleteTopics(brokers, topic, dead, dead+dlq.RedriveLogSuffix) })
	cl := client(t, brokers)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, spec := range []kafkasink.TopicSpec{{Name: topic, Partitions: partitions, ReplicationFactor: 1}, {Name: dead, Partitions: 1, ReplicationFactor: 1}} {
		if _, err := kafkasink.EnsureTopic(ctx, cl, spec); err != nil {
			t.Fatal(err)
		}
	}
	return topic
}

func client(t *testing.T, brokers []string) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// deleteTopics deletes topics, best effort: the names are the test's own.
func deleteTopics(brokers []string, topics ...string) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		return
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, _ = kadm.NewClient(cl).DeleteTopics(ctx, topics...)
}

// newStore returns a store in a keyspace of the test's own, dropped
// afterwards.
func newStore(ctx context.Context, t *testing.T, hosts []string) *cassandrastore.Store {
	t.Helper()
	session, err := cassandrastore.NewSession(ctx, hosts)
	if err != nil {
		t.Fatal(err)
	}
	keyspace := testenv.Name(t, "ks")
	t.Cleanup(func() {
		_ = session.ExecStmt(`DROP KEYSPACE IF EXISTS ` + keyspace)
		session.Close()
	})
	store, err := cassandrastore.New(session, cassandrastore.WithKeyspace(keyspace))
	if err != nil {
		t.Fatal(err)
	}
	if err := store.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	return store
}

func count(ctx context.Context, t *testing.T, store *cassandrastore.Store) int64 {
	t.Helper()
	n, err := store.Count(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func produceRows(ctx context.Context, t *testing.T, brokers []string, topic string, rows ...transform.Row) {
	t.Helper()
	p, err := kafkasink.NewProducer(brokers, kafkasink.WithTopic(topic))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if _, err := p.ProduceSync(ctx, rows...); err != nil {
		t.Fatal(err)
	}
}

// produceRecords writes records as they are, to put poison on a topic.
func produceRecords(ctx context.Context, t *testing.T, brokers []string, recs ...*kgo.Record) {
	t.Helper()
	if err := client(t, brokers).ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

func endOffsets(ctx context.Context, t *testing.T, brokers []string, topic string) map[int32]int64 {
	t.Helper()
	ends, err := kadm.NewClient(client(t, brokers)).ListEndOffsets(ctx, topic)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		t.Fatal(err)
	}
	out := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) { out[o.Partition] = o.Offset })
	return out
}
