package kafkasink_test

// The consumer's contracts for adopters, against the real broker: where
// dead letters go, what a missing dead-letter topic does, per-message
// rejection, backpressure, Close, and bounded runs.

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/userstream/userstream/internal/testenv"
	"github.com/userstream/userstream/internal/testrows"
	"github.com/userstream/userstream/kafkasink"
	"github.com/userstream/userstream/transform"
)

// produceRaw writes records as they are, to put poison on a topic.
func produceRaw(t testing.TB, brokers []string, recs ...*kgo.Record) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
}

// endOffsets returns the end offsets of topic by partition.
func endOffsets(t testing.TB, brokers []string, topic string) map[int32]int64 {
	t.Helper()
	out, err := tryEndOffsets(brokers, topic)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// tryEndOffsets is endOffsets for a goroutine other than the test's.
func tryEndOffsets(brokers []string, topic string) (map[int32]int64, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ends, err := kadm.NewClient(cl).ListEndOffsets(ctx, topic)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return nil, fmt.Errorf("list end offsets of %s: %w", topic, err)
	}
	out := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) { out[o.Partition] = o.Offset })
	return out, nil
}

// tryCommitted is the sum of the group's committed offsets on topic, for a
// goroutine other than the test's.
func tryCommitted(brokers []string, group, topic string) (int64, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		return 0, err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := kadm.NewClient(cl).FetchOffsets(ctx, group)
	if err != nil {
		return 0, err
	}
	var total int64
	for _, o := range resp[topic] {
		total += max(o.At, 0)
	}
	return total, nil
}

func headers(rec *kgo.Record) map[string]string {
	h := map[string]string{}
	for _, kv := range rec.Headers {
		h[kv.Key] = string(kv.Value)
	}
	return h
}

// runErr runs a consumer that is expected to return by itself, and returns
// Run's error; the test fails if Run is still running after 60s.
func runErr(t testing.TB, c *kafkasink.Consumer) error {
	t.Helper()
	err := runAlone(c)
	if errors.Is(err, errStillRunning) {
		t.Fatal(err)
	}
	return err
}

var errStillRunning = errors.New("Run did not return by itself within 60s")

// runAlone is runErr for a goroutine other than the test's.
func runAlone(c *kafkasink.Consumer) error {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	err := c.Run(ctx)
	if ctx.Err() != nil {
		return fmt.Errorf("%w (it returned %v on cancellation)", errStillRunning, err)
	}
	return err
}

// Without WithDLQTopic, poison from topic T goes to T.dlq, not to the
// default topic's dead letters.
func TestDLQDefaultsToTopicDotDLQ(t *testing.T) {
	t.Parallel()
	brokers := testenv.KafkaBrokers(t)
	topic := newTopic(t, brokers, 1)
	produce(t, brokers, topic, testrows.Rows(3))
	produceRaw(t, brokers, &kgo.Record{Topic: topic, Key: []byte("poison"), Value: []byte("{not json")})

	col := newCollector()
	r := start(t, brokers, topic, testenv.Name(t, "group"), col.handle)
	if got, want := r.c.DLQTopic(), topic+".dlq"; got != want {
		t.Errorf("DLQTopic() = %q, want %q", got, want)
	}
	waitFor(t, "all records committed", func() bool { return r.c.Stats().Committed == 4 })
	if err := r.shutdown(t); err != nil {
		t.Fatalf("Run: %v", err)
	}
	recs := readAll(t, brokers, topic+".dlq", 1)
	if len(recs) != 1 || string(recs[0].Key) != "poison" || headers(recs[0])[kafkasink.HeaderDLQTopic] != topic {
		t.Errorf("%s.dlq holds %d records (first key %q), want the poison record of %s", topic, len(recs), recs[0].Key, topic)
	}
}

// A missing dead-letter topic fails Run at once, before any record is
// handled, with ErrTopicNotFound and the topic's name; so does a missing
// topic.
func TestRunFailsAtOnceWithoutDLQTopic(t *testing.T) {
	t.Parallel()
	brokers := testenv.KafkaBrokers(t)
	topic := newTopicOnly(t, brokers, 1)
	produce(t, brokers, topic, testrows.Rows(3))
	produceRaw(t, brokers, &kgo.Record{Topic: topic, Value: []byte("{not json")})

	var calls atomic.Int64
	h := func(context.Context, []kafkasink.Message) error { calls.Add(1); return nil }
	group := testenv.Name(t, "group")
	c, err := kafkasink.NewConsumer(brokers, group, h, kafkasink.WithTopic(topic), kafkasink.WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	err = runErr(t, c)
	if !errors.Is(err, kafkasink.ErrTopicNotFound) || !strings.Contains(err.Error(), `"`+topic+`.dlq"`) {
		t.Errorf("Run = %v, want ErrTopicNotFound naming %s.dlq", err, topic)
	}
	if calls.Load() != 0 || c.Stats().Committed != 0 {
		t.Errorf("handler called %d times, %d committed: want nothing consumed", calls.Load(), c.Stats().Committed)
	}
	if got := committed(t, brokers, group, topic); len(got) != 0 {
		t.Errorf("group committed %v, want nothing", got)
	}

	missing := testenv.Name(t, "missing")
	c2, err := kafkasink.NewConsumer(brokers, group, h, kafkasink.WithTopic(missing), kafkasink.WithLogger(quiet),
		kafkasink.WithDLQTopic(topic)) // exists
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	if err := runErr(t, c2); !errors.Is(err, kafkasink.ErrTopicNotFound) || !strings.Contains(err.Error(), `"`+missing+`"`) {
		t.Errorf("Run on a missing topic = %v, want ErrTopicNotFound naming %s", err, missing)
	}
}

// WithCreateDLQ creates the missing dead-letter topic, and poison lands in
// it.
func TestCreateDLQOption(t *testing.T) {
	t.Parallel()
	brokers := testenv.KafkaBrokers(t)
	topic := newTopicOnly(t, brokers, 1) // its cleanup deletes topic.dlq too
	produceRaw(t, brokers, &kgo.Record{Topic: topic, Key: []byte("poison"), Value: []byte("[1, 2]")})
	if topicExists(t, brokers, topic+".dlq") {
		t.Fatalf("%s.dlq exists before the test", topic)
	}

	col := newCollector()
	r := start(t, brokers, topic, testenv.Name(t, "group"), col.handle, kafkasink.WithCreateDLQ(2, 1))
	waitFor(t, "the poison record committed", func() bool { return r.c.Stats().Committed == 1 })
	if err := r.shutdown(t); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if parts := endOffsets(t, brokers, topic+".dlq"); len(parts) != 2 {
		t.Errorf("%s.dlq has %d partitions, want the 2 asked for", topic, len(parts))
	}
	if recs := readAll(t, brokers, topic+".dlq", 1); string(recs[0].Key) != "poison" {
		t.Errorf("dead letter key %q, want poison", recs[0].Key)
	}
}

// rowError and writeError have the shape of a store's bulk-write error
// (cassandrastore's RowError and WriteError): the failed rows by index.
type rowError struct {
	Index int
	Err   error
}

type writeError struct{ Failed []rowError }

func (e *writeError) Error() string { return fmt.Sprintf("%d rows not written", len(e.Failed)) }

var (
	errInvalidRow  = errors.New("row refused: invalid")         // permanent
	errUnavailable = errors.New("store unavailable: try again") // an outage
)

// rejectPermanent is the RejectFunc of a store whose errors are
// *writeError: it rejects the rows refused for good, unless some failure
// is an outage.
func rejectPermanent(err error) []kafkasink.Rejection {
	var we *writeError
	if !errors.As(err, &we) {
		return nil
	}
	out := make([]kafkasink.Rejection, 0, len(we.Failed))
	for _, f := range we.Failed {
		if !errors.Is(f.Err, errInvalidRow) {
			return nil // an outage: retry the whole batch
		}
		out = append(out, kafkasink.Rejection{Index: f.Index, Reason: "store-refused", Err: f.Err})
	}
	return out
}

// fakeStore stores rows, refuses those in bad for good, and fails every
// row with errUnavailable while down() says so.
type fakeStore struct {
	mu     sync.Mutex
	bad    map[string]bool
	stored map[string]int
	down   func() bool
}

func (s *fakeStore) UpsertMany(_ context.Context, rows []transform.Row) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var we writeError
	outage := s.down != nil && s.down()
	for i, r := range rows {
		switch {
		case outage:
			we.Failed = append(we.Failed, rowError{i, errUnavailable})
		case s.bad[r.ID]:
			we.Failed = append(we.Failed, rowError{i, fmt.Errorf("row %s: %w", r.ID, errInvalidRow)})
		default:
			s.stored[r.ID]++
		}
	}
	if we.Failed != nil {
		return &we
	}
	return nil
}

// A store's bulk write is the handler (RowsHandler); the one row it
// refuses for good goes to the dead-letter topic with the handler's reason
// and error, and every other row is stored and committed.
func TestHandlerDeadLettersOneMessage(t *testing.T) {
	t.Parallel()
	brokers := testenv.KafkaBrokers(t)
	topic := newTopic(t, brokers, 2)
	group := testenv.Name(t, "group")
	rows := testrows.Rows(40)
	bad := rows[17]
	produce(t, brokers, topic, rows)

	store := &fakeStore{bad: map[string]bool{bad.ID: true}, stored: map[string]int{}}
	r := start(t, brokers, topic, group, kafkasink.RowsHandler(store.UpsertMany, rejectPermanent))
	waitFor(t, "all records committed", func() bool { return r.c.Stats().Committed == int64(len(rows)) })
	if err := r.shutdown(t); err != nil {
		t.Fatalf("Run: %v", err)
	}

	if got := sum(committed(t, brokers, group, topic)); got != int64(len(rows)) {
		t.Errorf("committed offsets sum to %d, want all %d", got, len(rows))
	}
	if len(store.stored) != len(rows)-1 || store.stored[bad.ID] != 0 {
		t.Errorf("stored %d rows (the bad one %d times), want the %d others", len(store.stored), store.stored[bad.ID], len(rows)-1)
	}
	st := r.c.Stats()
	if st.Handled != int64(len(rows)-1) || st.Rejected != 1 || st.DeadLettered != 1 {
		t.Errorf("Stats = %+v, want %d handled, 1 rejected and dead-lettered", st, len(rows)-1)
	}
	recs := readAll(t, brokers, topic+".dlq", 1)
	h := headers(recs[0])
	if string(recs[0].Key) != bad.ID || h[kafkasink.HeaderDLQReason] != "store-refused" ||
		!strings.Contains(h[kafkasink.HeaderDLQError], errInvalidRow.Error()) || h[kafkasink.HeaderDLQTopic] != topic {
		t.Errorf("dead letter %s %v, want row %s with reason store-refused and the store's error", recs[0].Key, h, bad.ID)
	}
	if got, err := kafkasink.DecodeRecord(recs[0]); err != nil || got != bad {
		t.Errorf("dead-lettered value decodes to %+v, %v: want the original row", got, err)
	}
}

// A store outage is backpressure: while it lasts nothing is committed and
// nothing dead-lettered, not even a row the store would refuse for good;
// once the store is back every good row is stored and committed, and the
// bad row alone is dead-lettered.
func TestStoreOutageIsNotDeadLetteredNorCommitted(t *testing.T) {
	t.Parallel()
	brokers := testenv.KafkaBrokers(t)
	topic := newTopic(t, brokers, 2)
	group := testenv.Name(t, "group")
	rows := testrows.Rows(60)
	bad := rows[5]
	produce(t, brokers, topic, rows)

	var (
		calls                 int
		committedDuringOutage int64 = -1
		dlqDuringOutage       int64 = -1
		lookErr               error
	)
	store := &fakeStore{bad: map[string]bool{bad.ID: true}, stored: map[string]int{}}
	store.down = func() bool { // called under store.mu
		calls++
		if calls == 6 {
			// The outage has lasted several attempts: look at the
			// broker now, while the handler holds the batch.
			var ends map[int32]int64
			committedDuringOutage, lookErr = tryCommitted(brokers, group, topic)
			if lookErr == nil {
				ends, lookErr = tryEndOffsets(brokers, topic+".dlq")
				dlqDuringOutage = sum(ends)
			}
		}
		return calls <= 6
	}
	r := start(t, brokers, topic, group, kafkasink.RowsHandler(store.UpsertMany, rejectPermanent))
	waitFor(t, "all records committed", func() bool { return r.c.Stats().Committed == int64(len(rows)) })
	if err := r.shutdown(t); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if lookErr != nil {
		t.Fatalf("looking at the broker during the outage: %v", lookErr)
	}
	if committedDuringOutage != 0 || dlqDuringOutage != 0 {
		t.Errorf("during the outage: %d committed, %d dead-lettered; want 0 and 0", committedDuringOutage, dlqDuringOutage)
	}
	if st := r.c.Stats(); st.Retries < 5 || st.Rejected != 1 || st.Handled != int64(len(rows)-1) {
		t.Errorf("Stats = %+v, want at least 5 retries, then 1 rejected and %d handled", st, len(rows)-1)
	}
	if len(store.stored) != len(rows)-1 {
		t.Errorf("stored %d distinct rows, want %d", len(store.stored), len(rows)-1)
	}
	if recs := readAll(t, brokers, topic+".dlq", 1); len(recs) != 1 || string(recs[0].Key) != bad.ID {
		t.Errorf("dead-letter topic holds %d records, want only row %s", len(recs), bad.ID)
	}
}

// kgoGoroutines counts the goroutines running franz-go code.
func kgoGoroutines() int {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	count := 0
	for g := range strings.SplitSeq(string(buf), "\n\n") {
		if strings.Contains(g, "github.com/twmb/franz-go/pkg/kgo.") {
			count++
		}
	}
	return count
}

// A consumer built and never run holds franz-go goroutines until Close,
// which releases them; Close is idempotent, and Run after it returns
// ErrClosed. Not parallel: it counts goroutines, and parallel tests start
// and stop franz-go clients.
func TestCloseNeverRunConsumer(t *testing.T) {
	brokers := testenv.KafkaBrokers(t)
	topic := newTopic(t, brokers, 1)
	// No client is open now (parallel tests wait for this one): the
	// helpers' clients, closed, may take a moment to wind down.
	waitFor(t, "franz-go goroutines of closed clients to end", func() bool { return kgoGoroutines() == 0 })
	before := 0
	c, err := kafkasink.NewConsumer(brokers, testenv.Name(t, "group"), newCollector().handle,
		kafkasink.WithTopic(topic), kafkasink.WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	// Without this the check below could not fail.
	if n := kgoGoroutines(); n <= before {
		t.Fatalf("%d franz-go goroutines after NewConsumer, %d before: the leak check cannot see a client", n, before)
	}
	c.Close()
	c.Close()
	waitFor(t, "franz-go goroutines to end after Close", func() bool { return kgoGoroutines() <= before })
	if err := c.Run(context.Background()); !errors.Is(err, kafkasink.ErrClosed) {
		t.Errorf("Run after Close = %v, want ErrClosed", err)
	}
	c.Close()
}

// Close during Run stops Run like cancelling its context: the handled
// records are committed and Run returns nil; Close returns after Run.
func TestCloseDuringRun(t *testing.T) {
	t.Parallel()
	brokers := testenv.KafkaBrokers(t)
	topic := newTopic(t, brokers, 2)
	group := testenv.Name(t, "group")
	rows := testrows.Rows(50)
	produce(t, brokers, topic, rows)

	col := newCollector()
	c, err := kafkasink.NewConsumer(brokers, group, col.handle, kafkasink.WithTopic(topic), kafkasink.WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- runAlone(c) }()
	waitFor(t, "all records committed", func() bool { return c.Stats().Committed == int64(len(rows)) })
	c.Close()
	if err := <-done; err != nil {
		t.Errorf("Run = %v after Close, want nil", err)
	}
	c.Close()
	if got := sum(committed(t, brokers, group, topic)); got != int64(len(rows)) {
		t.Errorf("committed %d, want %d", got, len(rows))
	}
}

// A bounded Run commits up to the end offsets it saw at its start and
// returns nil by itself, although records keep arriving after the start.
func TestStopAtEndWhileRecordsArrive(t *testing.T) {
	t.Parallel()
	brokers := testenv.KafkaBrokers(t)
	topic := newTopic(t, brokers, 3)
	group := testenv.Name(t, "group")
	produce(t, brokers, topic, testrows.Rows(300))
	startEnds := endOffsets(t, brokers, topic)

	// The handler's first call means Run has read the end offsets; from
	// then on rows are produced until Run returns, and the first call
	// returns only once some have been.
	p, err := kafkasink.NewProducer(brokers, kafkasink.WithTopic(topic))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	first, producedSome, stopProducing := make(chan struct{}), make(chan struct{}), make(chan struct{})
	var once sync.Once
	col := newCollector()
	h := func(ctx context.Context, msgs []kafkasink.Message) error {
		once.Do(func() {
			close(first)
			<-producedSome
		})
		return col.handle(ctx, msgs)
	}
	c, err := kafkasink.NewConsumer(brokers, group, h, kafkasink.WithTopic(topic), kafkasink.WithLogger(quiet),
		kafkasink.WithStopAtEnd(), kafkasink.WithMaxPollRecords(25))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var (
		wg         sync.WaitGroup
		produced   atomic.Int64
		produceErr error
	)
	wg.Go(func() {
		select {
		case <-first:
		case <-stopProducing: // Run returned without handling anything
			return
		}
		defer func() {
			if produced.Load() == 0 {
				close(producedSome) // failed: let Run go on
			}
		}()
		for {
			select {
			case <-stopProducing:
				return
			default:
			}
			if _, produceErr = p.ProduceSync(context.Background(), testrows.Rows(10)...); produceErr != nil {
				return
			}
			if produced.Add(10) == 10 {
				close(producedSome)
			}
		}
	})
	err = runErr(t, c)
	close(stopProducing)
	wg.Wait()
	if err != nil {
		t.Fatalf("bounded Run = %v, want nil", err)
	}
	if produceErr != nil || produced.Load() == 0 {
		t.Fatalf("producing during the run: %d rows, %v", produced.Load(), produceErr)
	}
	got := committed(t, brokers, group, topic)
	for p, end := range startEnds {
		if got[p] < end {
			t.Errorf("partition %d committed up to %d, want at least its start end offset %d", p, got[p], end)
		}
	}
	t.Logf("committed %d records; %d produced after the start", sum(got), produced.Load())
}

// A bounded Run with nothing to consume (an empty topic, or a group
// already at the end) returns nil at once, without calling the handler.
func TestStopAtEndWithNothingToConsume(t *testing.T) {
	t.Parallel()
	brokers := testenv.KafkaBrokers(t)
	topic := newTopic(t, brokers, 2)
	group := testenv.Name(t, "group")
	var calls atomic.Int64
	h := func(context.Context, []kafkasink.Message) error { calls.Add(1); return nil }
	newBounded := func() *kafkasink.Consumer {
		c, err := kafkasink.NewConsumer(brokers, group, h, kafkasink.WithTopic(topic), kafkasink.WithLogger(quiet), kafkasink.WithStopAtEnd())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(c.Close)
		return c
	}

	if err := runErr(t, newBounded()); err != nil || calls.Load() != 0 {
		t.Fatalf("bounded Run on an empty topic = %v after %d handler calls, want nil and none", err, calls.Load())
	}

	rows := testrows.Rows(20)
	produce(t, brokers, topic, rows)
	c := newBounded()
	if err := runErr(t, c); err != nil || c.Stats().Committed != int64(len(rows)) {
		t.Fatalf("bounded Run = %v with %d committed, want nil and %d", err, c.Stats().Committed, len(rows))
	}
	before := calls.Load()
	if err := runErr(t, newBounded()); err != nil || calls.Load() != before {
		t.Fatalf("bounded Run of a group at the end = %v after %d more handler calls, want nil and none", err, calls.Load()-before)
	}
}

// Two bounded members of one group share the partitions; each returns
// once the group (either of them) has committed every partition.
func TestStopAtEndTwoMembers(t *testing.T) {
	t.Parallel()
	brokers := testenv.KafkaBrokers(t)
	topic := newTopic(t, brokers, 4)
	group := testenv.Name(t, "group")
	rows := testrows.Rows(400)
	produce(t, brokers, topic, rows)

	col := newCollector()
	errs := make(chan error, 2)
	for range 2 {
		c, err := kafkasink.NewConsumer(brokers, group, col.handle, kafkasink.WithTopic(topic), kafkasink.WithLogger(quiet),
			kafkasink.WithStopAtEnd(), kafkasink.WithMaxPollRecords(20))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(c.Close)
		go func() { errs <- runAlone(c) }()
	}
	for range 2 {
		if err := <-errs; err != nil {
			t.Errorf("bounded Run = %v, want nil", err)
		}
	}
	if got := sum(committed(t, brokers, group, topic)); got != int64(len(rows)) {
		t.Errorf("committed %d, want %d", got, len(rows))
	}
	if col.count() != len(rows) {
		t.Errorf("handled %d distinct rows, want %d", col.count(), len(rows))
	}
}

// A record sent back from the dead-letter topic that fails again is
// dead-lettered with its redrive count, and with the dlq headers of this
// failure only: stale ones it still carried (a tool that copied a letter
// back whole) are dropped, so its reason and origin are not ambiguous.
func TestDeadLetteredAgainKeepsRedriveCount(t *testing.T) {
	t.Parallel()
	brokers := testenv.KafkaBrokers(t)
	topic := newTopic(t, brokers, 1)
	produceRaw(t, brokers, &kgo.Record{Topic: topic, Key: []byte("again"), Value: []byte("not json"), Headers: []kgo.RecordHeader{
		{Key: "trace-id", Value: []byte("t1")},
		{Key: kafkasink.HeaderDLQReason, Value: []byte("stale")},
		{Key: kafkasink.HeaderDLQTopic, Value: []byte("elsewhere")},
		{Key: kafkasink.HeaderDLQValueDropped, Value: []byte("9")},
		{Key: kafkasink.HeaderDLQRedriveCount, Value: []byte("2")},
	}})
	c, err := kafkasink.NewConsumer(brokers, testenv.Name(t, "group"), func(context.Context, []kafkasink.Message) error { return nil },
		kafkasink.WithTopic(topic), kafkasink.WithLogger(quiet), kafkasink.WithStopAtEnd())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := runErr(t, c); err != nil {
		t.Fatalf("Run: %v", err)
	}
	rec := readAll(t, brokers, topic+kafkasink.DLQSuffix, 1)[0]
	count := map[string]int{}
	for _, h := range rec.Headers {
		count[h.Key]++
	}
	h := headers(rec)
	if h[kafkasink.HeaderDLQReason] != kafkasink.ReasonDecode || h[kafkasink.HeaderDLQTopic] != topic ||
		h[kafkasink.HeaderDLQRedriveCount] != "2" || h["trace-id"] != "t1" {
		t.Errorf("dead letter headers %v, want reason decode, original topic %s, redrive count 2, trace-id kept", h, topic)
	}
	for _, k := range []string{kafkasink.HeaderDLQReason, kafkasink.HeaderDLQTopic, kafkasink.HeaderDLQRedriveCount} {
		if count[k] != 1 {
			t.Errorf("header %s appears %d times, want once", k, count[k])
		}
	}
	if _, ok := h[kafkasink.HeaderDLQValueDropped]; ok {
		t.Errorf("stale %s header kept on a letter with its value", kafkasink.HeaderDLQValueDropped)
	}
}
