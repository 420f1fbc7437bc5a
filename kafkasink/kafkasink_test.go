package kafkasink_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/userstream/userstream/internal/testenv"
	"github.com/userstream/userstream/internal/testrows"
	"github.com/userstream/userstream/kafkasink"
	"github.com/userstream/userstream/transform"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// collector is a Handler that records what it was given, and checks that
// each partition's messages arrive in increasing offset order.
type collector struct {
	mu      sync.Mutex
	seen    map[string]int // id -> times handled
	last    map[int32]int64
	unorder int
	fail    func() error // when it returns an error, the call fails
}

func newCollector() *collector {
	return &collector{seen: map[string]int{}, last: map[int32]int64{}}
}

func (c *collector) handle(_ context.Context, msgs []kafkasink.Message) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.fail != nil {
		if err := c.fail(); err != nil {
			return err
		}
	}
	for _, m := range msgs {
		if last, ok := c.last[m.Partition]; ok && m.Offset <= last {
			c.unorder++
		}
		c.last[m.Partition] = m.Offset
		c.seen[m.Row.ID]++
	}
	return nil
}

func (c *collector) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.seen)
}

// produce writes rows through a kafkasink producer and checks every
// delivery.
func produce(t testing.TB, brokers []string, topic string, rows []transform.Row) {
	t.Helper()
	p, err := kafkasink.NewProducer(brokers, kafkasink.WithTopic(topic), kafkasink.WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ds, err := p.ProduceSync(ctx, rows...)
	if err != nil {
		t.Fatalf("ProduceSync: %v", err)
	}
	for i, d := range ds {
		if d.ID != rows[i].ID || d.Offset < 0 || d.Err != nil {
			t.Fatalf("delivery %d = %+v", i, d)
		}
	}
}

// running is a consumer started in the background.
type running struct {
	c    *kafkasink.Consumer
	stop context.CancelFunc
	done chan error
}

// start runs a consumer of topic in the background; its dead-letter topic
// is the default, topic.dlq.
func start(t testing.TB, brokers []string, topic, group string, h kafkasink.Handler, opts ...kafkasink.ConsumerOpt) *running {
	t.Helper()
	opts = append([]kafkasink.ConsumerOpt{kafkasink.WithTopic(topic),
		kafkasink.WithLogger(quiet), kafkasink.WithBackoff(20*time.Millisecond, 200*time.Millisecond)}, opts...)
	c, err := kafkasink.NewConsumer(brokers, group, h, opts...)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{c: c, stop: cancel, done: make(chan error, 1)}
	go func() {
		err := c.Run(ctx)
		if err != nil && ctx.Err() == nil {
			// Say so at once: a test waiting for rows would otherwise
			// time out with no word of why.
			t.Errorf("Run ended early: %v", err)
		}
		r.done <- err
	}()
	t.Cleanup(func() { r.shutdown(t) })
	return r
}

// shutdown stops the consumer and returns Run's error; safe to call twice.
func (r *running) shutdown(t testing.TB) error {
	t.Helper()
	r.stop()
	select {
	case err, ok := <-r.done:
		if ok {
			close(r.done)
		}
		return err
	case <-time.After(60 * time.Second):
		t.Fatal("consumer did not stop within 60s")
		return nil
	}
}

// waitFor polls cond until it holds or 60s pass.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestProduceConsumeCommit(t *testing.T) {
	t.Parallel()
	brokers := testenv.KafkaBrokers(t)
	topic := newTopic(t, brokers, 3)
	group := testenv.Name(t, "group")
	rows := testrows.Rows(600)
	produce(t, brokers, topic, rows)

	col := newCollector()
	r := start(t, brokers, topic, group, col.handle)
	waitFor(t, "all rows committed", func() bool { return r.c.Stats().Committed == int64(len(rows)) })
	if err := r.shutdown(t); err != nil {
		t.Fatalf("Run: %v", err)
	}

	for _, row := range rows {
		if n := col.seen[row.ID]; n != 1 {
			t.Errorf("row %s handled %d times, want 1", row.ID, n)
		}
	}
	if col.unorder != 0 {
		t.Errorf("%d messages arrived out of offset order within their partition", col.unorder)
	}
	if got := sum(committed(t, brokers, group, topic)); got != int64(len(rows)) {
		t.Errorf("committed offsets sum to %d, want %d", got, len(rows))
	}
	st := r.c.Stats()
	if st.Handled != int64(len(rows)) || st.DeadLettered != 0 {
		t.Errorf("Stats = %+v", st)
	}
}

// A failing handler (a store outage) is retried with the same records; no
// offset is committed while it fails, nothing is dead-lettered, and nothing
// is skipped.
func TestHandlerFailureIsRetriedNotCommitted(t *testing.T) {
	t.Parallel()
	brokers := testenv.KafkaBrokers(t)
	topic := newTopic(t, brokers, 2)
	group := testenv.Name(t, "group")
	rows := testrows.Rows(100)
	produce(t, brokers, topic, rows)

	col := newCollector()
	failures := 0
	var committedWhileFailing int64 = -1
	col.fail = func() error {
		if failures < 5 {
			failures++
			if failures == 4 {
				// The outage has lasted several attempts: nothing may
				// have been committed meanwhile.
				committedWhileFailing = sum(committed(t, brokers, group, topic))
			}
			return errors.New("store unavailable")
		}
		return nil
	}
	r := start(t, brokers, topic, group, col.handle)
	waitFor(t, "all rows committed", func() bool { return r.c.Stats().Committed == int64(len(rows)) })
	if err := r.shutdown(t); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if committedWhileFailing != 0 {
		t.Errorf("committed offsets during the outage sum to %d, want 0", committedWhileFailing)
	}
	if got := col.count(); got != len(rows) {
		t.Errorf("handled %d distinct rows, want %d", got, len(rows))
	}
	st := r.c.Stats()
	if st.Retries < 5 || st.DeadLettered != 0 {
		t.Errorf("Stats = %+v, want at least 5 retries and nothing dead-lettered", st)
	}
}

// A second consumer of the group starts where the first committed.
func TestRestartResumesFromCommittedOffset(t *testing.T) {
	t.Parallel()
	brokers := testenv.KafkaBrokers(t)
	topic := newTopic(t, brokers, 3)
	group := testenv.Name(t, "group")
	first, second := testrows.Rows(150), testrows.Rows(90)
	produce(t, brokers, topic, first)

	col1 := newCollector()
	r1 := start(t, brokers, topic, group, col1.handle)
	waitFor(t, "first rows committed", func() bool { return r1.c.Stats().Committed == int64(len(first)) })
	if err := r1.shutdown(t); err != nil {
		t.Fatalf("Run: %v", err)
	}

	produce(t, brokers, topic, second)
	col2 := newCollector()
	r2 := start(t, brokers, topic, group, col2.handle)
	waitFor(t, "second rows committed", func() bool { return r2.c.Stats().Committed == int64(len(second)) })
	// Give a wrongly rewound consumer time to show old records.
	time.Sleep(500 * time.Millisecond)
	if err := r2.shutdown(t); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if got := col2.count(); got != len(second) {
		t.Errorf("restarted consumer handled %d rows, want the %d new ones", got, len(second))
	}
	for _, row := range second {
		if col2.seen[row.ID] != 1 {
			t.Errorf("new row %s handled %d times after restart", row.ID, col2.seen[row.ID])
		}
	}
}

// Two consumers of one group share the partitions; together they handle
// every row, and the committed offsets cover them all.
func TestRebalanceTwoConsumers(t *testing.T) {
	t.Parallel()
	brokers := testenv.KafkaBrokers(t)
	topic := newTopic(t, brokers, 4)
	group := testenv.Name(t, "group")

	colA, colB := newCollector(), newCollector()
	a := start(t, brokers, topic, group, colA.handle, kafkasink.WithMaxPollRecords(50))
	before := testrows.Rows(200)
	produce(t, brokers, topic, before)
	waitFor(t, "first consumer handles rows", func() bool { return colA.count() > 0 })

	b := start(t, brokers, topic, group, colB.handle, kafkasink.WithMaxPollRecords(50))
	// Keep producing while the group rebalances, until the second consumer
	// has been given partitions and handled some of them.
	var after []transform.Row
	for i := 0; i < 150 && colB.count() == 0; i++ {
		chunk := testrows.Rows(20)
		produce(t, brokers, topic, chunk)
		after = append(after, chunk...)
		time.Sleep(100 * time.Millisecond)
	}
	all := append(before, after...)
	waitFor(t, "all rows committed", func() bool {
		return sum(committed(t, brokers, group, topic)) == int64(len(all))
	})
	if err := a.shutdown(t); err != nil {
		t.Fatalf("Run A: %v", err)
	}
	if err := b.shutdown(t); err != nil {
		t.Fatalf("Run B: %v", err)
	}

	dups := 0
	for _, row := range all {
		n := colA.seen[row.ID] + colB.seen[row.ID]
		if n == 0 {
			t.Errorf("row %s was never handled", row.ID)
		}
		dups += max(n-1, 0)
	}
	if colB.count() == 0 {
		t.Error("the second consumer was given no partition")
	}
	if colA.unorder+colB.unorder != 0 {
		t.Errorf("%d messages out of offset order within a partition", colA.unorder+colB.unorder)
	}
	t.Logf("consumer A handled %d, B %d, duplicates %d", colA.count(), colB.count(), dups)
}

// Shutdown finishes the batch in flight and commits it.
func TestShutdownFinishesInFlight(t *testing.T) {
	t.Parallel()
	brokers := testenv.KafkaBrokers(t)
	topic := newTopic(t, brokers, 1)
	group := testenv.Name(t, "group")
	rows := testrows.Rows(20)
	produce(t, brokers, topic, rows)

	entered := make(chan struct{})
	var once sync.Once
	col := newCollector()
	slow := func(ctx context.Context, msgs []kafkasink.Message) error {
		once.Do(func() { close(entered) })
		time.Sleep(500 * time.Millisecond) // still working when shutdown begins
		return col.handle(ctx, msgs)
	}
	r := start(t, brokers, topic, group, slow)
	select {
	case <-entered:
	case err := <-r.done:
		t.Fatalf("Run returned %v before handling anything", err)
	case <-time.After(60 * time.Second):
		t.Fatal("the handler was not called within 60s")
	}
	if err := r.shutdown(t); err != nil {
		t.Fatalf("Run: %v", err)
	}
	got := sum(committed(t, brokers, group, topic))
	if got == 0 || got != int64(col.count()) {
		t.Errorf("after shutdown committed %d, handled %d: want the in-flight batch handled and committed", got, col.count())
	}
}

// Poison records go to the dead-letter topic with headers saying why and
// where from, are committed, and do not hold up the good records.
func TestPoisonGoesToDeadLetterTopic(t *testing.T) {
	t.Parallel()
	brokers := testenv.KafkaBrokers(t)
	topic := newTopic(t, brokers, 2)
	dlq := topic + kafkasink.DLQSuffix
	ctx := context.Background()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()

	good := testrows.Rows(10)
	produce(t, brokers, topic, good)
	bad := testrows.Rows(2)
	bad[0].Email = "not-an-email"
	badJSON := func(r transform.Row) []byte { return transform.AppendJSON(nil, r) }
	poison := map[string]*kgo.Record{
		"malformed":   {Value: []byte(`{"id": "abc", "first_name": `)},
		"wrong shape": {Value: []byte(`[1, 2, 3]`)},
		"missing id":  {Value: badJSON(transform.Row{FirstName: "No", LastName: "Id"})},
		"bad email":   {Value: badJSON(bad[0])},
		"schema 99": {Value: badJSON(bad[1]), Headers: []kgo.RecordHeader{
			{Key: kafkasink.HeaderSchemaVersion, Value: []byte("99")}}},
	}
	wantReason := map[string]string{
		"malformed": kafkasink.ReasonDecode, "wrong shape": kafkasink.ReasonDecode,
		"missing id": kafkasink.ReasonValidate, "bad email": kafkasink.ReasonValidate,
		"schema 99": kafkasink.ReasonSchemaVersion,
	}
	for name, rec := range poison {
		rec.Topic, rec.Key = topic, []byte(name)
		if err := cl.ProduceSync(ctx, rec).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	total := int64(len(good) + len(poison))

	col := newCollector()
	r := start(t, brokers, topic, testenv.Name(t, "group"), col.handle)
	waitFor(t, "all records committed", func() bool { return r.c.Stats().Committed == total })
	if err := r.shutdown(t); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if got := col.count(); got != len(good) {
		t.Errorf("handled %d rows, want the %d good ones", got, len(good))
	}
	if st := r.c.Stats(); st.DeadLettered != int64(len(poison)) {
		t.Errorf("DeadLettered = %d, want %d", st.DeadLettered, len(poison))
	}

	for _, rec := range readAll(t, brokers, dlq, len(poison)) {
		h := map[string]string{}
		for _, kv := range rec.Headers {
			h[kv.Key] = string(kv.Value)
		}
		name := string(rec.Key)
		orig, ok := poison[name]
		if !ok {
			t.Errorf("unexpected dead letter %q", name)
			continue
		}
		if h[kafkasink.HeaderDLQReason] != wantReason[name] {
			t.Errorf("%s: reason %q, want %q", name, h[kafkasink.HeaderDLQReason], wantReason[name])
		}
		if h[kafkasink.HeaderDLQError] == "" || h[kafkasink.HeaderDLQTopic] != topic ||
			h[kafkasink.HeaderDLQPartition] == "" || h[kafkasink.HeaderDLQOffset] == "" {
			t.Errorf("%s: dead-letter headers incomplete: %v", name, h)
		}
		if string(rec.Value) != string(orig.Value) {
			t.Errorf("%s: value changed on its way to the dead-letter topic", name)
		}
	}
}

func TestEnsureTopicTellsExistingApart(t *testing.T) {
	t.Parallel()
	brokers := testenv.KafkaBrokers(t)
	topic := newTopic(t, brokers, 2) // created once here
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	created, err := kafkasink.EnsureTopic(context.Background(), cl, kafkasink.TopicSpec{Name: topic, Partitions: 2, ReplicationFactor: 1})
	if err != nil || created {
		t.Errorf("EnsureTopic on an existing topic = %v, %v; want false, nil", created, err)
	}
	// A topic EnsureTopic created is ready on return: listed with a leader
	// for each of its partitions.
	topics, err := kadm.NewClient(cl).ListTopics(context.Background(), topic)
	if err != nil {
		t.Fatal(err)
	}
	if td := topics[topic]; td.Err != nil || len(td.Partitions) != 2 {
		t.Errorf("after EnsureTopic, %s is listed with %d partitions (err %v), want 2", topic, len(td.Partitions), td.Err)
	}
	for _, p := range topics[topic].Partitions {
		if p.Leader < 0 {
			t.Errorf("after EnsureTopic, partition %d of %s has no leader", p.Partition, topic)
		}
	}
	_, err = kafkasink.EnsureTopic(context.Background(), cl, kafkasink.TopicSpec{Name: topic + "_rf", Partitions: 1, ReplicationFactor: 3})
	if err == nil {
		t.Error("EnsureTopic with replication factor 3 on a one-broker cluster succeeded")
	}
}

func TestProduceRejectsInvalidRow(t *testing.T) {
	t.Parallel()
	brokers := testenv.KafkaBrokers(t)
	topic := newTopic(t, brokers, 1)
	p, err := kafkasink.NewProducer(brokers, kafkasink.WithTopic(topic), kafkasink.WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	rows := testrows.Rows(3)
	rows[1].ID = "not-a-uuid"
	ds, err := p.ProduceSync(context.Background(), rows...)
	var perr *kafkasink.ProduceError
	if !errors.As(err, &perr) || len(perr.Failed) != 1 || perr.Failed[0].ID != "not-a-uuid" {
		t.Fatalf("ProduceSync error = %v, want a ProduceError naming the invalid row", err)
	}
	var verr *transform.ValidationError
	if !errors.As(err, &verr) {
		t.Errorf("error %v does not unwrap to a ValidationError", err)
	}
	if ds[0].Err != nil || ds[2].Err != nil {
		t.Errorf("valid rows failed: %+v", ds)
	}
	if got := readAll(t, brokers, topic, 2); len(got) != 2 {
		t.Errorf("topic holds %d records, want the 2 valid rows", len(got))
	}
}

// TestProduceEncoded: rows produced in their wire form reach the consumer
// as the same rows, with the same key and headers as ProduceSync writes; a
// value that is not a valid row is not checked on the way in, and the
// consumer dead-letters it.
func TestProduceEncoded(t *testing.T) {
	t.Parallel()
	brokers := testenv.KafkaBrokers(t)
	topic := newTopic(t, brokers, 2)
	ctx := context.Background()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	p, err := kafkasink.NewProducer(brokers, kafkasink.WithTopic(topic))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()

	rows := testrows.Rows(20)
	fetched := time.UnixMicro(time.Now().Add(-time.Hour).UnixMicro())
	enc := make([]kafkasink.Encoded, 0, len(rows)+1)
	for _, r := range rows {
		v, err := transform.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		enc = append(enc, kafkasink.Encoded{ID: r.ID, Value: v, FetchedAt: fetched})
	}
	bad := testrows.UUID()
	enc = append(enc, kafkasink.Encoded{ID: bad, Value: []byte(`{"id":"` + bad + `"}`)})
	ds, err := p.ProduceEncodedSync(ctx, enc...)
	if err != nil || len(ds) != len(enc) {
		t.Fatalf("ProduceEncodedSync = %d deliveries, %v", len(ds), err)
	}
	for i, d := range ds {
		if d.ID != enc[i].ID || d.Offset < 0 {
			t.Fatalf("delivery %d = %+v, want row %s acknowledged", i, d, enc[i].ID)
		}
	}

	// Same record as ProduceSync would write (key, value, headers), and
	// the fetched-at header.
	want, err := kafkasink.NewRecord(topic, rows[0])
	if err != nil {
		t.Fatal(err)
	}
	want.Headers = append(want.Headers, kgo.RecordHeader{Key: kafkasink.HeaderFetchedAt, Value: []byte(fmt.Sprint(fetched.UnixMicro()))})
	for _, rec := range readAll(t, brokers, topic, len(enc)) {
		if string(rec.Key) != rows[0].ID {
			continue
		}
		if string(rec.Value) != string(want.Value) || fmt.Sprint(rec.Headers) != fmt.Sprint(want.Headers) {
			t.Errorf("record %s/%v, want %s/%v", rec.Value, rec.Headers, want.Value, want.Headers)
		}
	}

	var mu sync.Mutex
	var stamps []time.Time
	col := newCollector()
	handle := func(ctx context.Context, msgs []kafkasink.Message) error {
		mu.Lock()
		for _, m := range msgs {
			stamps = append(stamps, m.FetchedAt)
		}
		mu.Unlock()
		return col.handle(ctx, msgs)
	}
	r := start(t, brokers, topic, testenv.Name(t, "group"), handle)
	waitFor(t, "all records committed", func() bool { return r.c.Stats().Committed == int64(len(enc)) })
	if err := r.shutdown(t); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if got := col.count(); got != len(rows) {
		t.Errorf("handled %d rows, want %d", got, len(rows))
	}
	for _, ts := range stamps {
		if !ts.Equal(fetched) {
			t.Fatalf("Message.FetchedAt = %v, want %v", ts, fetched)
		}
	}
	if st := r.c.Stats(); st.DeadLettered != 1 {
		t.Errorf("DeadLettered = %d, want the invalid row", st.DeadLettered)
	}
}
