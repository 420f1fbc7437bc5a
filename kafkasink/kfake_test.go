package kafkasink_test

// Failure paths injected with kfake, beside the real broker: kfake can fail
// chosen requests on demand, which a real broker cannot be made to do.

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
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

	p, err := kafkasink.NewProducer(c.ListenAddrs(), kafkasink.WithTopic("users"), kafkasink.WithLogger(quiet),
		kafkasink.WithDeliveryTimeout(5*time.Second))
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
	p, err := kafkasink.NewProducer(c.ListenAddrs(), kafkasink.WithTopic("users"), kafkasink.WithLogger(quiet),
		kafkasink.WithClientOpts(kgo.MetadataMinAge(50*time.Millisecond)))
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
	c := fakeCluster(t, "users", "users.dlq")
	ctx := context.Background()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "users", Partition: 0, Value: []byte("{not json")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	h := c.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Topic: "users.dlq", Err: kerr.TopicAuthorizationFailed, Count: 4})

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
	if got := readAll(t, c.ListenAddrs(), "users.dlq", 1); len(got) != 1 {
		t.Errorf("dead-letter topic holds %d records, want 1", len(got))
	}
}

// A failed offset commit is retried with the next commit: in the end every
// handled record is committed.
func TestFailedCommitIsRetried(t *testing.T) {
	t.Parallel()
	c := fakeCluster(t, "users", "users.dlq")
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

// The dead-letter topic follows WithTopic, and invalid consumer options
// are refused. (An option of the other side does not compile.)
func TestOptionSides(t *testing.T) {
	t.Parallel()
	brokers := []string{"127.0.0.1:1"} // constructors do no I/O
	h := newCollector().handle
	for _, tc := range []struct {
		opts []kafkasink.ConsumerOpt
		dlq  string
	}{
		{nil, "users_created.dlq"},
		{[]kafkasink.ConsumerOpt{kafkasink.WithTopic("orders")}, "orders.dlq"},
		{[]kafkasink.ConsumerOpt{kafkasink.WithDLQTopic("dead"), kafkasink.WithTopic("orders")}, "dead"},
	} {
		c, err := kafkasink.NewConsumer(brokers, "g", h, tc.opts...)
		if err != nil {
			t.Fatal(err)
		}
		if c.DLQTopic() != tc.dlq {
			t.Errorf("DLQTopic() = %q, want %q", c.DLQTopic(), tc.dlq)
		}
		c.Close()
	}
	for _, o := range []kafkasink.ConsumerOpt{
		kafkasink.WithDLQTopic("users_created"), kafkasink.WithMaxHandlerAttempts(-1), kafkasink.WithMaxPollRecords(0), kafkasink.WithCreateDLQ(0, 1),
		kafkasink.WithBackoff(time.Second, time.Millisecond), kafkasink.WithShutdownTimeout(-1),
	} {
		if c, err := kafkasink.NewConsumer(brokers, "g", h, o); err == nil {
			c.Close()
			t.Errorf("NewConsumer accepted the invalid option %#v", o)
		}
	}
}

// A handler that rejects a message outside its batch has a bug: Run fails
// and names it, and nothing is committed.
func TestRejectOutsideTheBatchFailsRun(t *testing.T) {
	t.Parallel()
	c := fakeCluster(t, "users", "users.dlq")
	produce(t, c.ListenAddrs(), "users", testrows.Rows(3))
	h := func(_ context.Context, msgs []kafkasink.Message) error {
		return kafkasink.Reject(kafkasink.Rejection{Index: len(msgs), Err: errors.New("bad")})
	}
	cons, err := kafkasink.NewConsumer(c.ListenAddrs(), "g", h, kafkasink.WithTopic("users"), kafkasink.WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	err = runErr(t, cons)
	if err == nil || !strings.Contains(err.Error(), "rejected message") {
		t.Errorf("Run = %v, want the handler's bad rejection", err)
	}
	if st := cons.Stats(); st.Committed != 0 || st.DeadLettered != 0 {
		t.Errorf("Stats = %+v, want nothing committed or dead-lettered", st)
	}
}

// A rejection joined with another error is not a rejection: the other
// error may be an outage, so the batch is retried, and nothing is
// dead-lettered until the handler returns the rejection alone.
func TestJoinedRejectionIsRetried(t *testing.T) {
	t.Parallel()
	c := fakeCluster(t, "users", "users.dlq")
	brokers := c.ListenAddrs()
	rows := testrows.Rows(5)
	produce(t, brokers, "users", rows)
	var calls atomic.Int64
	var dlqWhileJoined atomic.Int64
	h := func(_ context.Context, msgs []kafkasink.Message) error {
		var rej error
		for i, m := range msgs {
			if m.Row.ID == rows[0].ID {
				rej = kafkasink.Reject(kafkasink.Rejection{Index: i, Err: errors.New("bad row")})
			}
		}
		if rej == nil {
			return nil
		}
		if calls.Add(1) <= 3 {
			ends, err := tryEndOffsets(brokers, "users.dlq")
			if err != nil {
				return err
			}
			dlqWhileJoined.Add(sum(ends))
			return errors.Join(rej, errors.New("store unavailable"))
		}
		return fmt.Errorf("wrapped once: %w", rej)
	}
	r := start(t, brokers, "users", "g", h)
	waitFor(t, "all committed", func() bool { return r.c.Stats().Committed == int64(len(rows)) })
	if err := r.shutdown(t); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if dlqWhileJoined.Load() != 0 {
		t.Errorf("%d dead letters written while the handler returned a joined error", dlqWhileJoined.Load())
	}
	if st := r.c.Stats(); st.Retries < 3 || st.Rejected != 1 || st.Handled != int64(len(rows)-1) {
		t.Errorf("Stats = %+v, want at least 3 retries, then 1 rejected and %d handled", st, len(rows)-1)
	}
}

// A dead-letter topic deleted while Run runs fails Run with
// ErrTopicNotFound at the first poison record, instead of retrying a write
// that can never succeed.
func TestDLQTopicDeletedDuringRun(t *testing.T) {
	t.Parallel()
	c := fakeCluster(t, "users", "users.dlq")
	brokers := c.ListenAddrs()
	col := newCollector()
	cons, err := kafkasink.NewConsumer(brokers, "g", col.handle, kafkasink.WithTopic("users"), kafkasink.WithLogger(quiet),
		kafkasink.WithClientOpts(kgo.MetadataMinAge(10*time.Millisecond), kgo.MetadataMaxAge(50*time.Millisecond)))
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	done := make(chan error, 1)
	go func() { done <- runAlone(cons) }()
	rows := testrows.Rows(2)
	produce(t, brokers, "users", rows)
	waitFor(t, "rows handled", func() bool { return col.count() == len(rows) })

	adm, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer adm.Close()
	if _, err := kadm.NewClient(adm).DeleteTopics(context.Background(), "users.dlq"); err != nil {
		t.Fatal(err)
	}
	if err := adm.ProduceSync(context.Background(), &kgo.Record{Topic: "users", Value: []byte("{not json")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; !errors.Is(err, kafkasink.ErrTopicNotFound) || !strings.Contains(err.Error(), `"users.dlq"`) {
		t.Errorf("Run = %v, want ErrTopicNotFound naming users.dlq", err)
	}
}

// A consumer built and not yet run holds no partitions of its group: a
// running member gets them all.
func TestConsumerNotRunHoldsNoPartitions(t *testing.T) {
	t.Parallel()
	c := fakeCluster(t, "users", "users.dlq")
	brokers := c.ListenAddrs()
	idle, err := kafkasink.NewConsumer(brokers, "g", newCollector().handle, kafkasink.WithTopic("users"), kafkasink.WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	rows := testrows.Rows(20)
	produce(t, brokers, "users", rows)
	col := newCollector()
	r := start(t, brokers, "users", "g", col.handle)
	waitFor(t, "every row handled by the running member", func() bool { return col.count() == len(rows) })
	if err := r.shutdown(t); err != nil {
		t.Fatalf("Run: %v", err)
	}
}
