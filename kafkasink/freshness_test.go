package kafkasink_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/userstream/userstream/internal/testenv"
	"github.com/userstream/userstream/internal/testrows"
	"github.com/userstream/userstream/kafkasink"
)

// freshTopic produces, to a new topic of three partitions, five records to
// partition 0 fetched at hourAgo+0s..+4s and five to partition 1 fetched
// at hourAgo+5s..+9s (fetched-at headers), and to partition 2 one record
// without the header whose timestamp is noHeader.
func freshTopic(t *testing.T, brokers []string, hourAgo, noHeader time.Time) string {
	t.Helper()
	topic := newTopic(t, brokers, 3)
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	rows := testrows.Rows(11)
	var recs []*kgo.Record
	for i, row := range rows[:10] {
		r, err := kafkasink.NewRecord(topic, row)
		if err != nil {
			t.Fatal(err)
		}
		r.Partition = int32(i / 5)
		r.Headers = append(r.Headers, kgo.RecordHeader{Key: kafkasink.HeaderFetchedAt,
			Value: []byte(strconv.FormatInt(hourAgo.Add(time.Duration(i)*time.Second).UnixMicro(), 10))})
		recs = append(recs, r)
	}
	r, err := kafkasink.NewRecord(topic, rows[10])
	if err != nil {
		t.Fatal(err)
	}
	r.Partition, r.Timestamp = 2, noHeader
	recs = append(recs, r)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	return topic
}

// commitAt commits the group's offsets on topic, partition to offset, as
// a member that stored the records before them would.
func commitAt(t *testing.T, brokers []string, group, topic string, offsets map[int32]int64) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var os kadm.Offsets
	for p, at := range offsets {
		os.Add(kadm.Offset{Topic: topic, Partition: p, At: at, LeaderEpoch: -1})
	}
	resp, err := kadm.NewClient(cl).CommitOffsets(ctx, group, os)
	if err == nil {
		err = resp.Error()
	}
	if err != nil {
		t.Fatalf("commit %v: %v", offsets, err)
	}
}

// TestOldestUnstored: Kafka's part of freshness is the fetch time of the
// oldest first uncommitted record over the partitions: it follows the
// group's commits, partition by partition; a record without a fetched-at
// header counts from its timestamp; a partition with nothing uncommitted
// contributes nothing; all committed, there is none.
func TestOldestUnstored(t *testing.T) {
	t.Parallel()
	brokers := testenv.KafkaBrokers(t)
	hourAgo := time.Now().Add(-time.Hour).Truncate(time.Millisecond)
	noHeader := hourAgo.Add(-time.Hour) // two hours ago
	topic := freshTopic(t, brokers, hourAgo, noHeader)
	group := testenv.Name(t, "group")
	c, err := kafkasink.NewConsumer(brokers, group, newCollector().handle, kafkasink.WithTopic(topic), kafkasink.WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	fetched := func(i int) time.Time { return hourAgo.Add(time.Duration(i) * time.Second) }

	for _, step := range []struct {
		what    string
		commit  map[int32]int64
		want    time.Time
		pending bool
	}{
		{"never committed: the header-less record's timestamp", nil, noHeader, true},
		{"partition 2 stored, 0 up to its 4th record", map[int32]int64{0: 3, 2: 1}, fetched(3), true},
		{"partition 0 stored: partition 1's first", map[int32]int64{0: 5}, fetched(5), true},
		{"partition 1 up to its 3rd record", map[int32]int64{1: 2}, fetched(7), true},
		{"everything stored", map[int32]int64{1: 5}, time.Time{}, false},
	} {
		if step.commit != nil {
			commitAt(t, brokers, group, topic, step.commit)
		}
		at, ok, err := c.OldestUnstored(ctx)
		if err != nil || ok != step.pending || !at.Equal(step.want) {
			t.Errorf("%s: OldestUnstored = %v, %v, %v; want %v, %v", step.what, at, ok, err, step.want, step.pending)
		}
	}
}

// TestOldestUnstoredGauge: a running consumer whose handler cannot store
// keeps userstream_consumer_oldest_unstored_seconds at the age of the
// first record it has not committed; a consumer that stored everything
// leaves it at 0.
func TestOldestUnstoredGauge(t *testing.T) {
	t.Parallel()
	brokers := testenv.KafkaBrokers(t)
	hourAgo := time.Now().Add(-time.Hour).Truncate(time.Millisecond)
	topic := freshTopic(t, brokers, hourAgo, hourAgo.Add(time.Minute))
	group := testenv.Name(t, "group")
	commitAt(t, brokers, group, topic, map[int32]int64{0: 2, 2: 1})
	oldest := hourAgo.Add(2 * time.Second) // partition 0's third record

	gauge := func(reg prometheus.Gatherer) (float64, bool) {
		mf := families(t, reg)["userstream_consumer_oldest_unstored_seconds"]
		if mf == nil || len(mf.GetMetric()) != 1 {
			return 0, false
		}
		m := mf.GetMetric()[0]
		if label(m, "group") != group || label(m, "topic") != topic {
			t.Fatalf("oldest unstored series labelled %v, want group %s and topic %s", m.GetLabel(), group, topic)
		}
		return m.GetGauge().GetValue(), true
	}

	// The handler holds every batch until shutdown: nothing is committed.
	reg := prometheus.NewPedanticRegistry()
	blocked := func(ctx context.Context, _ []kafkasink.Message) error {
		<-ctx.Done()
		return ctx.Err()
	}
	before := time.Now()
	r := start(t, brokers, topic, group, blocked, kafkasink.WithMetrics(reg), kafkasink.WithShutdownTimeout(time.Second))
	waitFor(t, "the oldest unstored gauge", func() bool { _, ok := gauge(reg); return ok })
	got, _ := gauge(reg)
	if lo, hi := before.Sub(oldest).Seconds(), time.Since(oldest).Seconds(); got < lo || got > hi {
		t.Errorf("userstream_consumer_oldest_unstored_seconds = %v while nothing is stored, want within [%v, %v]", got, lo, hi)
	}
	_ = r.shutdown(t) // its batch was never handled: an error, expected

	reg = prometheus.NewPedanticRegistry()
	c, err := kafkasink.NewConsumer(brokers, group, newCollector().handle, kafkasink.WithTopic(topic),
		kafkasink.WithLogger(quiet), kafkasink.WithMetrics(reg), kafkasink.WithStopAtEnd())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := c.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if got, ok := gauge(reg); !ok || got != 0 {
		t.Errorf("userstream_consumer_oldest_unstored_seconds after storing everything = %v (present %v), want 0", got, ok)
	}
}
