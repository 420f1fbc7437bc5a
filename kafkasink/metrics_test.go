package kafkasink_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/userstream/userstream/internal/testenv"
	"github.com/userstream/userstream/internal/testrows"
	"github.com/userstream/userstream/kafkasink"
)

// families gathers reg by metric name.
func families(t testing.TB, reg prometheus.Gatherer) map[string]*dto.MetricFamily {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := make(map[string]*dto.MetricFamily, len(mfs))
	for _, mf := range mfs {
		out[mf.GetName()] = mf
	}
	return out
}

// only returns the single series of the family name, failing the test
// when there is not exactly one.
func only(t testing.TB, fams map[string]*dto.MetricFamily, name string) *dto.Metric {
	t.Helper()
	mf, ok := fams[name]
	if !ok || len(mf.GetMetric()) != 1 {
		t.Fatalf("series %s: family %v, want one series", name, mf)
	}
	return mf.GetMetric()[0]
}

// label returns the value of the metric's label name.
func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

// clientIDs returns the client_id labels of the series whose names start
// with prefix.
func clientIDs(fams map[string]*dto.MetricFamily, prefix string) map[string]bool {
	ids := map[string]bool{}
	for name, mf := range fams {
		if !strings.HasPrefix(name, prefix) {
			continue
		}
		for _, m := range mf.GetMetric() {
			ids[label(m, "client_id")] = true
		}
	}
	return ids
}

// One producer and one bounded consumer on one registry: every series of
// the package's table is registered, with the counts of what happened (one
// poison record, one failed handler call, every row stored once), and the
// lag gauge says 0 for each partition once Run has committed the topic.
func TestMetrics(t *testing.T) {
	t.Parallel()
	brokers := testenv.KafkaBrokers(t)
	topic := newTopic(t, brokers, 2)
	ctx := context.Background()
	reg := prometheus.NewRegistry()

	p, err := kafkasink.NewProducer(brokers, kafkasink.WithTopic(topic), kafkasink.WithMetrics(reg))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	rows := testrows.Rows(50)
	fetched := make([]kafkasink.FetchedRow, len(rows))
	for i, r := range rows {
		fetched[i] = kafkasink.FetchedRow{Row: r, FetchedAt: time.Now()}
	}
	if _, err := p.ProduceFetchedSync(ctx, fetched...); err != nil {
		t.Fatal(err)
	}
	if err := p.Client().ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte(`{"id": `)}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if ids := clientIDs(families(t, reg), "userstream_kafka_producer_"); len(ids) != 1 || ids[""] {
		t.Errorf("producer's kprom series have client ids %v, want one", ids)
	}

	var calls atomic.Int64
	h := func(_ context.Context, msgs []kafkasink.Message) error {
		if calls.Add(1) == 1 {
			return errors.New("store down for one call")
		}
		return nil
	}
	c, err := kafkasink.NewConsumer(brokers, testenv.Name(t, "group"), h, kafkasink.WithTopic(topic),
		kafkasink.WithLogger(quiet), kafkasink.WithBackoff(10*time.Millisecond, 100*time.Millisecond),
		kafkasink.WithStopAtEnd(), kafkasink.WithMetrics(reg))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if ids := clientIDs(families(t, reg), "userstream_kafka_consumer_"); len(ids) != 1 || ids[""] {
		t.Errorf("consumer's kprom series have client ids %v, want one", ids)
	}
	if err := c.Run(ctx); err != nil {
		t.Fatal(err)
	}

	fams := families(t, reg)
	if v := only(t, fams, "userstream_records_dead_lettered_total").GetCounter().GetValue(); v != 1 {
		t.Errorf("records_dead_lettered_total = %v, want 1", v)
	}
	if v := only(t, fams, "userstream_handler_errors_total").GetCounter().GetValue(); v != 1 {
		t.Errorf("handler_errors_total = %v, want 1", v)
	}
	for _, name := range []string{"userstream_fetch_to_store_seconds", "userstream_produce_to_store_seconds"} {
		h := only(t, fams, name).GetHistogram()
		if h.GetSampleCount() != uint64(len(rows)) {
			t.Errorf("%s has %d samples, want %d", name, h.GetSampleCount(), len(rows))
		}
		if n := len(h.GetBucket()); n != 17 {
			t.Errorf("%s has %d buckets, want 17", name, n)
		}
	}
	lag := fams["userstream_consumer_lag"]
	if lag == nil || len(lag.GetMetric()) != 2 {
		t.Fatalf("consumer_lag: %v, want a series for each of 2 partitions", lag)
	}
	for _, m := range lag.GetMetric() {
		if m.GetGauge().GetValue() != 0 {
			t.Errorf("consumer_lag{partition=%q} = %v after a bounded Run, want 0", label(m, "partition"), m.GetGauge().GetValue())
		}
	}
	// kprom's series of a client go when the client is closed.
	if ids := clientIDs(fams, "userstream_kafka_consumer_"); len(ids) != 0 {
		t.Errorf("consumer's kprom series still registered after Run: %v", ids)
	}
}

// Several consumers, in one group, on one registry: each constructor
// succeeds, each client has kprom series of its own, and the package's
// counters add up the consumers' counts.
func TestMetricsSharedRegistry(t *testing.T) {
	t.Parallel()
	brokers := testenv.KafkaBrokers(t)
	topic := newTopic(t, brokers, 4)
	ctx := context.Background()
	reg := prometheus.NewRegistry()
	rows := testrows.Rows(200)
	produce(t, brokers, topic, rows)
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	for p := range int32(4) {
		r := &kgo.Record{Topic: topic, Partition: p, Value: []byte("not json")}
		if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}

	group := testenv.Name(t, "group")
	consumers := make([]*kafkasink.Consumer, 3)
	for i := range consumers {
		c, err := kafkasink.NewConsumer(brokers, group, newCollector().handle, kafkasink.WithTopic(topic),
			kafkasink.WithLogger(quiet), kafkasink.WithStopAtEnd(), kafkasink.WithMetrics(reg))
		if err != nil {
			t.Fatalf("consumer %d: %v", i, err)
		}
		defer c.Close()
		consumers[i] = c
	}
	if ids := clientIDs(families(t, reg), "userstream_kafka_consumer_"); len(ids) != len(consumers) {
		t.Errorf("kprom series have client ids %v, want %d", ids, len(consumers))
	}
	errs := make(chan error, len(consumers))
	for _, c := range consumers {
		go func() { errs <- c.Run(ctx) }()
	}
	for range consumers {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	var dead int64
	for _, c := range consumers {
		dead += c.Stats().DeadLettered
	}
	fams := families(t, reg)
	if v := only(t, fams, "userstream_records_dead_lettered_total").GetCounter().GetValue(); v != float64(dead) || dead < 4 {
		t.Errorf("records_dead_lettered_total = %v; the consumers' Stats say %d, at least 4", v, dead)
	}
	if n := only(t, fams, "userstream_produce_to_store_seconds").GetHistogram().GetSampleCount(); n < uint64(len(rows)) {
		t.Errorf("produce_to_store_seconds has %d samples, want at least %d", n, len(rows))
	}
}

// Registration problems are errors of the constructor, not panics: a
// client id already on the registry (set by the caller), and a series of
// the package's name but another type.
func TestMetricsRegistrationErrors(t *testing.T) {
	t.Parallel()
	brokers := []string{"127.0.0.1:1"} // constructors do no I/O
	h := newCollector().handle

	reg := prometheus.NewRegistry()
	id := kafkasink.WithClientOpts(kgo.ClientID("same"))
	c, err := kafkasink.NewConsumer(brokers, "g", h, kafkasink.WithMetrics(reg), id)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c2, err := kafkasink.NewConsumer(brokers, "g", h, kafkasink.WithMetrics(reg), id); err == nil {
		c2.Close()
		t.Error("a second client id \"same\" on one registry was accepted")
	}
	p, err := kafkasink.NewProducer(brokers, kafkasink.WithMetrics(reg)) // its own id
	if err != nil {
		t.Fatal(err)
	}
	p.Close()

	other := prometheus.NewRegistry()
	other.MustRegister(prometheus.NewGauge(prometheus.GaugeOpts{Name: "userstream_handler_errors_total", Help: "Handler calls that failed, shutdown cancellations left out; the batch is retried."}))
	if c3, err := kafkasink.NewConsumer(brokers, "g", h, kafkasink.WithMetrics(other)); err == nil {
		c3.Close()
		t.Error("a gauge in place of the handler-errors counter was accepted")
	}
}

// A service consumer (no WithStopAtEnd) closed with Close refreshes the lag
// gauge once more after its last commit: 0 for every partition once the
// handler has had every record.
func TestLagGaugeAfterClose(t *testing.T) {
	t.Parallel()
	brokers := testenv.KafkaBrokers(t)
	topic := newTopic(t, brokers, 3)
	reg := prometheus.NewRegistry()
	rows := testrows.Rows(60)
	produce(t, brokers, topic, rows)
	col := newCollector()
	c, err := kafkasink.NewConsumer(brokers, testenv.Name(t, "group"), col.handle, kafkasink.WithTopic(topic),
		kafkasink.WithLogger(quiet), kafkasink.WithMetrics(reg))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- c.Run(context.Background()) }()
	waitFor(t, "every row handled", func() bool { return col.count() == len(rows) })
	c.Close()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	lag := families(t, reg)["userstream_consumer_lag"]
	if lag == nil || len(lag.GetMetric()) != 3 {
		t.Fatalf("consumer_lag: %v, want a series for each of 3 partitions", lag)
	}
	for _, m := range lag.GetMetric() {
		if m.GetGauge().GetValue() != 0 {
			t.Errorf("consumer_lag{partition=%q} = %v after Close, want 0", label(m, "partition"), m.GetGauge().GetValue())
		}
	}
}

// Consumers of different groups and topics on one registry keep their own
// lag series, told apart by the group and topic labels: a bounded Run that
// stored everything leaves its group's series at 0, and a later one that
// failed leaves its own at the whole partition, without overwriting the
// first one's series of the same partition number.
func TestLagGaugeByGroupAndTopic(t *testing.T) {
	t.Parallel()
	brokers := testenv.KafkaBrokers(t)
	stored, failing := newTopic(t, brokers, 2), newTopic(t, brokers, 1)
	produce(t, brokers, stored, testrows.Rows(10))
	produce(t, brokers, failing, testrows.Rows(3))
	reg := prometheus.NewRegistry()
	ctx := context.Background()

	groupA, groupB := testenv.Name(t, "a"), testenv.Name(t, "b")
	a, err := kafkasink.NewConsumer(brokers, groupA, newCollector().handle, kafkasink.WithTopic(stored),
		kafkasink.WithLogger(quiet), kafkasink.WithStopAtEnd(), kafkasink.WithMetrics(reg))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if err := a.Run(ctx); err != nil {
		t.Fatal(err)
	}
	down := func(context.Context, []kafkasink.Message) error { return errors.New("store down") }
	b, err := kafkasink.NewConsumer(brokers, groupB, down, kafkasink.WithTopic(failing),
		kafkasink.WithLogger(quiet), kafkasink.WithStopAtEnd(), kafkasink.WithMaxHandlerAttempts(1), kafkasink.WithMetrics(reg))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := b.Run(ctx); !errors.As(err, new(*kafkasink.HandlerError)) {
		t.Fatalf("Run with a failing handler: %v, want a *HandlerError", err)
	}

	type series struct{ group, topic, partition string }
	want := map[series]float64{
		{groupA, stored, "0"}: 0, {groupA, stored, "1"}: 0,
		{groupB, failing, "0"}: 3,
	}
	got := map[series]float64{}
	for _, m := range families(t, reg)["userstream_consumer_lag"].GetMetric() {
		got[series{label(m, "group"), label(m, "topic"), label(m, "partition")}] = m.GetGauge().GetValue()
	}
	if len(got) != len(want) {
		t.Errorf("consumer_lag series %v, want %v", got, want)
	}
	for s, v := range want {
		if g, ok := got[s]; !ok || g != v {
			t.Errorf("consumer_lag%+v = %v (present: %v), want %v", s, g, ok, v)
		}
	}
}

// A handler call that fails because shutdown cancelled its context (the
// shutdown timeout passed) is no handler error: the counter stays at 0.
func TestHandlerErrorsLeaveOutShutdown(t *testing.T) {
	t.Parallel()
	brokers := testenv.KafkaBrokers(t)
	topic := newTopic(t, brokers, 1)
	produce(t, brokers, topic, testrows.Rows(1))
	reg := prometheus.NewRegistry()
	entered := make(chan struct{})
	var once sync.Once
	h := func(ctx context.Context, _ []kafkasink.Message) error {
		once.Do(func() { close(entered) })
		<-ctx.Done()
		return ctx.Err()
	}
	c, err := kafkasink.NewConsumer(brokers, testenv.Name(t, "group"), h, kafkasink.WithTopic(topic),
		kafkasink.WithLogger(quiet), kafkasink.WithShutdownTimeout(50*time.Millisecond), kafkasink.WithMetrics(reg))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	select {
	case <-entered:
	case err := <-done:
		t.Fatalf("Run returned before the handler was called: %v", err)
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("Run after a shutdown that cut the handler short: %v, want its context.Canceled", err)
	}
	if v := only(t, families(t, reg), "userstream_handler_errors_total").GetCounter().GetValue(); v != 0 {
		t.Errorf("handler_errors_total = %v after a shutdown cancellation, want 0", v)
	}
}
