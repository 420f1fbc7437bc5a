package kafkasink_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/userstream/userstream/internal/testenv"
	"github.com/userstream/userstream/kafkasink"
)

// newTopic creates a topic of its own for the test, with its dead-letter
// topic (the broker does not create topics automatically), and deletes both
// afterwards.
func newTopic(t testing.TB, brokers []string, partitions int32) string {
	t.Helper()
	topic := newTopicOnly(t, brokers, partitions)
	createTopic(t, brokers, topic+kafkasink.DLQSuffix, 1)
	return topic
}

// newTopicOnly creates a topic of its own for the test, without a
// dead-letter topic, and deletes it and its dead-letter topic (should
// the test create one) afterwards.
func newTopicOnly(t testing.TB, brokers []string, partitions int32) string {
	t.Helper()
	topic := testenv.Name(t, "topic")
	t.Cleanup(func() { deleteTopics(brokers, topic+kafkasink.DLQSuffix) })
	createTopic(t, brokers, topic, partitions)
	return topic
}

// createTopic creates the topic and deletes it after the test.
func createTopic(t testing.TB, brokers []string, topic string, partitions int32) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	t.Cleanup(func() { deleteTopics(brokers, topic) })
	created, err := kafkasink.EnsureTopic(ctx, cl, kafkasink.TopicSpec{Name: topic, Partitions: partitions, ReplicationFactor: 1})
	if err != nil || !created {
		t.Fatalf("EnsureTopic(%s) = %v, %v", topic, created, err)
	}
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

// topicExists reports whether topic exists.
func topicExists(t testing.TB, brokers []string, topic string) bool {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tds, err := kadm.NewClient(cl).ListTopics(ctx, topic)
	if err != nil {
		t.Fatalf("list topics: %v", err)
	}
	return tds.Has(topic)
}

// readAll reads every record of topic from the start until it has want
// records or the deadline passes.
func readAll(t testing.TB, brokers []string, topic string, want int) []*kgo.Record {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out []*kgo.Record
	for len(out) < want {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("read %d of %d records from %s before the deadline", len(out), want, topic)
		}
		out = append(out, fs.Records()...)
	}
	return out
}

// committed returns the group's committed offsets on topic by partition
// (none for a group that never committed).
func committed(t testing.TB, brokers []string, group, topic string) map[int32]int64 {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := kadm.NewClient(cl).FetchOffsets(ctx, group)
	if errors.Is(err, kerr.GroupIDNotFound) {
		return map[int32]int64{}
	}
	if err != nil {
		t.Fatalf("fetch offsets: %v", err)
	}
	out := map[int32]int64{}
	resp.Each(func(o kadm.OffsetResponse) {
		if o.Topic == topic && o.Err == nil {
			out[o.Partition] = o.At
		}
	})
	return out
}

func sum(m map[int32]int64) int64 {
	var s int64
	for _, v := range m {
		s += v
	}
	return s
}
