package kafkasink_test

import (
	"context"
	"errors"
	"maps"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/userstream/userstream/internal/testenv"
	"github.com/userstream/userstream/internal/testrows"
	"github.com/userstream/userstream/kafkasink"
)

// Before the group's first commit, a partition's lag is the whole
// partition: its end offset minus its start offset (records deleted from
// its start do not count). After a bounded Run the lag is 0 everywhere; once
// Run has returned, or the consumer is closed, LagByPartition and Lag say
// ErrClosed.
func TestLagByPartition(t *testing.T) {
	t.Parallel()
	brokers := testenv.KafkaBrokers(t)
	topic := newTopic(t, brokers, 3)
	group := testenv.Name(t, "group")
	ctx := context.Background()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	want := map[int32]int64{0: 7, 1: 4, 2: 0}
	rows := testrows.Rows(11)
	var recs []*kgo.Record
	for p, n := range want {
		for range n {
			r, err := kafkasink.NewRecord(topic, rows[0])
			if err != nil {
				t.Fatal(err)
			}
			rows = rows[1:]
			r.Partition = p
			recs = append(recs, r)
		}
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	// Partition 0 starts at offset 2 from now on.
	del, err := kadm.NewClient(cl).DeleteRecords(ctx, kadm.Offsets{topic: {0: {Topic: topic, Partition: 0, At: 2}}})
	if err == nil {
		err = del.Error()
	}
	if err != nil {
		t.Fatal(err)
	}
	want[0] -= 2

	newConsumer := func() *kafkasink.Consumer {
		c, err := kafkasink.NewConsumer(brokers, group, newCollector().handle, kafkasink.WithTopic(topic),
			kafkasink.WithLogger(quiet), kafkasink.WithStopAtEnd())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(c.Close)
		return c
	}
	c := newConsumer()
	got, err := c.LagByPartition(ctx) // the group has never committed
	if err != nil {
		t.Fatalf("LagByPartition before the first commit: %v", err)
	}
	if !maps.Equal(got, want) {
		t.Errorf("LagByPartition before the first commit = %v, want %v", got, want)
	}
	if total, err := c.Lag(ctx); err != nil || total != 9 {
		t.Errorf("Lag before the first commit = %d, %v; want 9", total, err)
	}
	if err := c.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := c.LagByPartition(ctx); !errors.Is(err, kafkasink.ErrClosed) {
		t.Errorf("LagByPartition after Run returned: %v, want ErrClosed", err)
	}

	c2 := newConsumer()
	got, err = c2.LagByPartition(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if zero := map[int32]int64{0: 0, 1: 0, 2: 0}; !maps.Equal(got, zero) {
		t.Errorf("LagByPartition after the group consumed the topic = %v, want %v", got, zero)
	}
	c2.Close()
	if _, err := c2.LagByPartition(ctx); !errors.Is(err, kafkasink.ErrClosed) {
		t.Errorf("LagByPartition after Close: %v, want ErrClosed", err)
	}
	if _, err := c2.Lag(ctx); !errors.Is(err, kafkasink.ErrClosed) {
		t.Errorf("Lag after Close: %v, want ErrClosed", err)
	}
}

// LagByPartition of a topic that does not exist is ErrTopicNotFound.
func TestLagTopicNotFound(t *testing.T) {
	t.Parallel()
	brokers := testenv.KafkaBrokers(t)
	c, err := kafkasink.NewConsumer(brokers, "g", newCollector().handle,
		kafkasink.WithTopic(testenv.Name(t, "missing")), kafkasink.WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := c.LagByPartition(ctx); !errors.Is(err, kafkasink.ErrTopicNotFound) {
		t.Errorf("LagByPartition of a missing topic: %v, want ErrTopicNotFound", err)
	}
}

// A handler that fails for good ends Run after WithMaxHandlerAttempts
// failures in a row, with a *HandlerError wrapping its error, and nothing
// of its batch is committed: bounded or not.
func TestMaxHandlerAttempts(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		opts []kafkasink.ConsumerOpt
	}{
		{"bounded", []kafkasink.ConsumerOpt{kafkasink.WithStopAtEnd()}},
		{"service", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			brokers := testenv.KafkaBrokers(t)
			topic := newTopic(t, brokers, 1)
			group := testenv.Name(t, "group")
			produce(t, brokers, topic, testrows.Rows(20))
			errStore := errors.New("keyspace wants 3 replicas, 1 node alive")
			var calls atomic.Int64
			h := func(context.Context, []kafkasink.Message) error {
				calls.Add(1)
				return errStore
			}
			opts := append([]kafkasink.ConsumerOpt{kafkasink.WithTopic(topic), kafkasink.WithLogger(quiet),
				kafkasink.WithBackoff(time.Millisecond, 10*time.Millisecond), kafkasink.WithMaxHandlerAttempts(3)}, tc.opts...)
			c, err := kafkasink.NewConsumer(brokers, group, h, opts...)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			err = c.Run(ctx)
			if ctx.Err() != nil {
				t.Fatal("Run did not return before the test's deadline")
			}
			var he *kafkasink.HandlerError
			if !errors.As(err, &he) || !errors.Is(err, errStore) {
				t.Fatalf("Run: %v, want a *HandlerError wrapping the handler's error", err)
			}
			if he.Attempts != 3 || calls.Load() != 3 {
				t.Errorf("Attempts = %d after %d calls, want 3 and 3", he.Attempts, calls.Load())
			}
			if got := committed(t, brokers, group, topic); sum(got) != 0 {
				t.Errorf("committed %v after the handler failed for good, want nothing", got)
			}
		})
	}
}
