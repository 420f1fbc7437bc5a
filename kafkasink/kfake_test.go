package kafkasink_test

// Failure paths injected with kfake, beside the real broker: kfake can fail
// chosen requests on demand, which a real broker cannot be made to do.

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/userstream/userstream/internal/testrows"
	"github.com/userstream/userstream/kafkasink"
)

func fakeCluster(t *testing.T, topics ...string) *kfake.Cluster {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(2, topics...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// A broker that refuses every write: each row's delivery reports the
// error; none is dropped silently.
func TestProduceSurfacesBrokerErrors(t *testing.T) {
	t.Parallel()
	c := fakeCluster(t, "users")
	c.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Topic: "users", Err: kerr.TopicAuthorizationFailed, Count: -1})

	p, err := kafkasink.NewProducer(c.ListenAddrs(), kafkasink.Topic("users"), kafkasink.Logger(quiet),
		kafkasink.DeliveryTimeout(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	rows := testrows.Rows(5)
	ds, err := p.ProduceSync(context.Background(), rows...)
	var perr *kafkasink.ProduceError
	if !errors.As(err, &perr) || len(perr.Failed) != len(rows) {
		t.Fatalf("ProduceSync error = %v, want all %d rows reported failed", err, len(rows))
	}
	for i, d := range ds {
		if d.ID != rows[i].ID || !errors.Is(d.Err, kerr.TopicAuthorizationFailed) {
			t.Errorf("delivery %d = %+v, want the broker's error", i, d)
		}
	}
}

// Retriable broker errors are retried by the producer until they clear.
func TestProduceRetriesTransientErrors(t *testing.T) {
	t.Parallel()
	c := fakeCluster(t, "users")
	h := c.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Topic: "users", Err: kerr.NotLeaderForPartition, Count: 3})

	// NOT_LEADER makes the client refresh metadata before retrying; a short
	// minimum metadata age keeps the test fast.
	p, err := kafkasink.NewProducer(c.ListenAddrs(), kafkasink.Topic("users"), kafkasink.Logger(quiet),
		kafkasink.ClientOpts(kgo.MetadataMinAge(50*time.Millisecond)))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if _, err := p.ProduceSync(context.Background(), testrows.Rows(10)...); err != nil {
		t.Fatalf("ProduceSync: %v", err)
	}
	if h.Hits() != 3 {
		t.Errorf("fault hit %d times, want 3", h.Hits())
	}
}

// A dead-letter write that fails is retried, and the poison record's offset
// is committed only once it is in the dead-letter topic.
func TestDeadLetterWriteFailureBlocksCommit(t *testing.T) {
	t.Parallel()
	c := fakeCluster(t, "users", "users_dlq")
	ctx := context.Background()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "users", Partition: 0, Value: []byte("{not json")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	h := c.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Topic: "users_dlq", Err: kerr.TopicAuthorizationFailed, Count: 4})

	col := newCollector()
	r := start(t, c.ListenAddrs(), "users", "g", col.handle)
	waitFor(t, "poison committed", func() bool { return r.c.Stats().Committed == 1 })
	if err := r.shutdown(t); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if h.Hits() != 4 {
		t.Errorf("dead-letter fault hit %d times, want 4", h.Hits())
	}
	st := r.c.Stats()
	if st.DeadLettered != 1 || st.Retries < 4 {
		t.Errorf("Stats = %+v, want 1 dead-lettered after at least 4 retries", st)
	}
	if got := readAll(t, c.ListenAddrs(), "users_dlq", 1); len(got) != 1 {
		t.Errorf("dead-letter topic holds %d records, want 1", len(got))
	}
}

// A failed offset commit is retried with the next commit: in the end every
// handled record is committed.
func TestFailedCommitIsRetried(t *testing.T) {
	t.Parallel()
	c := fakeCluster(t, "users", "users_dlq")
	h := c.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.OffsetCommit}, Group: "g", Err: kerr.OffsetMetadataTooLarge, Count: 1})
	brokers := c.ListenAddrs()
	first, second := testrows.Rows(30), testrows.Rows(30)
	produce(t, brokers, "users", first)

	col := newCollector()
	r := start(t, brokers, "users", "g", col.handle)
	waitFor(t, "first rows handled", func() bool { return r.c.Stats().Handled == int64(len(first)) })
	// The commit right after the handler fails. It is retried with the
	// next commit: after the next batch, or sooner if a poll comes back
	// empty; either way not counted twice.
	waitFor(t, "the first commit to fail", func() bool { return h.Hits() >= 1 })
	produce(t, brokers, "users", second)
	waitFor(t, "all rows committed", func() bool { return r.c.Stats().Committed == int64(len(first)+len(second)) })
	if err := r.shutdown(t); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if h.Hits() < 1 {
		t.Error("the commit fault was never hit")
	}
	if got := sum(committed(t, brokers, "g", "users")); got != int64(len(first)+len(second)) {
		t.Errorf("committed offsets sum to %d, want %d", got, len(first)+len(second))
	}
}
