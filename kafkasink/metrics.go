package kafkasink

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/plugin/kprom"
	"github.com/userstream/userstream/internal/promreg"
)

// MetricsNamespace is the namespace of every series this package registers
// (see the table in the package documentation).
const MetricsNamespace = "userstream"

// LagRefreshInterval is how often a running [Consumer] given [WithMetrics]
// refreshes its userstream_consumer_lag gauge: at most once per interval,
// whatever the commits (a commit refreshes it at once only when the last
// refresh is that old, as at Run's first commit), and at least once per
// interval, plus once more, best effort, when Run ends. Each refresh is
// one set of admin requests to the brokers.
const LagRefreshInterval = 5 * time.Second

// WithMetrics registers the producer's or consumer's metrics on reg,
// overriding the default of none (nil means none too, at no cost). The
// series are listed in the package documentation. Both sides install
// franz-go's plugin/kprom hooks on their client (userstream_kafka_producer_*
// or userstream_kafka_consumer_*, with a client_id label); the consumer
// also records its own series (dead letters, handler errors, lag by group,
// topic and partition, fetch-to-store and produce-to-store latency).
//
// Several producers and consumers may share one reg, also consumers of
// different groups or topics: the package's own series are registered once
// and shared (their counts add up), except the lag gauge, whose group and
// topic labels keep each consumer's series apart; and each
// client gets a client id of its own (userstream-consumer-<n>,
// userstream-producer-<n>) for its kprom series. A client id set through
// [WithClientOpts] (kgo.ClientID) wins, and must then differ from the ids
// of the other clients on reg, or the constructor fails. The constructor
// fails too when reg holds a series of one of these names of another type.
// The kprom series of a client are unregistered when it is closed.
func WithMetrics(reg prometheus.Registerer) CommonOpt {
	return commonOpt{func(c *config) { c.metrics = reg }}
}

// durationBuckets are the buckets of every duration histogram of the SDK:
// 1ms to about 65s, in seconds.
var durationBuckets = promreg.DurationBuckets()

// clientSeq numbers the clients given kprom hooks in this process, so that
// each has a client_id of its own.
var clientSeq atomic.Int64

// kpromOpts returns the client options that install kprom's hooks for
// role ("producer" or "consumer") on reg: a client id of its own first,
// so that one given through WithClientOpts, which comes later, wins.
func kpromOpts(reg prometheus.Registerer, role string) []kgo.Opt {
	if reg == nil {
		return nil
	}
	m := kprom.NewMetrics(MetricsNamespace, kprom.Subsystem("kafka_"+role), kprom.Registerer(reg), kprom.WithClientLabel())
	id := fmt.Sprintf("userstream-%s-%d", role, clientSeq.Add(1))
	return []kgo.Opt{kgo.ClientID(id), kgo.WithHooks(m)}
}

// newClient is kgo.NewClient, with the panic of a kprom hook that cannot
// register its series (a client id already on the registry) turned into
// an error.
func newClient(opts []kgo.Opt) (cl *kgo.Client, err error) {
	defer func() {
		if r := recover(); r != nil {
			if e, ok := r.(error); ok {
				err = fmt.Errorf("kafkasink: registering franz-go's metrics (is the client id unique on the registry?): %w", e)
				return
			}
			panic(r)
		}
	}()
	cl, err = kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("kafkasink: new client: %w", err)
	}
	return cl, nil
}

// consumerMetrics are a consumer's own series; a nil *consumerMetrics
// records nothing.
type consumerMetrics struct {
	deadLettered   prometheus.Counter
	handlerErrors  prometheus.Counter
	lag            *prometheus.GaugeVec // curried with the consumer's group and topic
	oldestAge      *prometheus.GaugeVec // curried with the consumer's group and topic: its child is made by the first refresh
	fetchToStore   prometheus.Histogram
	produceToStore prometheus.Histogram

	// oldest is the fetch time of the oldest record not committed, as
	// last known (zero: none); only the lag refreshes touch it, one at a
	// time.
	oldest time.Time
}

func newConsumerMetrics(reg prometheus.Registerer, group, topic string) (*consumerMetrics, error) {
	if reg == nil {
		return nil, nil
	}
	var m consumerMetrics
	var err error
	counter := func(name, help string) prometheus.Counter {
		c, e := register(reg, prometheus.NewCounter(prometheus.CounterOpts{Namespace: MetricsNamespace, Name: name, Help: help}))
		err = errors.Join(err, e)
		return c
	}
	histogram := func(name, help string) prometheus.Histogram {
		h, e := register(reg, prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: MetricsNamespace, Name: name, Help: help, Buckets: durationBuckets}))
		err = errors.Join(err, e)
		return h
	}
	m.deadLettered = counter("records_dead_lettered_total", "Records sent to the dead-letter topic: poison and rejected.")
	m.handlerErrors = counter("handler_errors_total", "Handler calls that failed, shutdown cancellations left out; the batch is retried.")
	m.fetchToStore = histogram("fetch_to_store_seconds", "Time from a record's fetched-at header to its handler returning success.")
	m.produceToStore = histogram("produce_to_store_seconds", "Time from a record's produce timestamp to its handler returning success.")
	lag, e := register(reg, prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: MetricsNamespace, Name: "consumer_lag",
		Help: "Records of the topic not yet committed by the consumer group, by group, topic and partition."}, []string{"group", "topic", "partition"}))
	oldest, e2 := register(reg, prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: MetricsNamespace, Name: "consumer_oldest_unstored_seconds",
		Help: "Seconds since the fetch of the oldest record the consumer group has not committed (stored) yet; 0 when none, by group and topic."}, []string{"group", "topic"}))
	if err = errors.Join(err, e, e2); err != nil {
		return nil, err
	}
	// Each consumer writes its own group's and topic's children only.
	labels := prometheus.Labels{"group": group, "topic": topic}
	if m.lag, err = lag.CurryWith(labels); err != nil {
		return nil, fmt.Errorf("kafkasink: metrics: %w", err)
	}
	if m.oldestAge, err = oldest.CurryWith(labels); err != nil {
		return nil, fmt.Errorf("kafkasink: metrics: %w", err)
	}
	return &m, nil
}

// register is promreg.Register, its errors named for the package.
func register[C prometheus.Collector](reg prometheus.Registerer, c C) (C, error) {
	got, err := promreg.Register(reg, c)
	if err != nil {
		return c, fmt.Errorf("kafkasink: metrics: %w", err)
	}
	return got, nil
}

func (m *consumerMetrics) addDeadLettered(n int) {
	if m != nil {
		m.deadLettered.Add(float64(n))
	}
}

func (m *consumerMetrics) handlerError() {
	if m != nil {
		m.handlerErrors.Inc()
	}
}

// stored observes the latencies of msgs, which the handler has just
// stored, leaving out those at the indexes in skip (rejected ones).
func (m *consumerMetrics) stored(msgs []Message, skip map[int]bool) {
	if m == nil {
		return
	}
	now := time.Now()
	for i := range msgs {
		if skip[i] {
			continue
		}
		if t := msgs[i].FetchedAt; !t.IsZero() {
			m.fetchToStore.Observe(max(now.Sub(t).Seconds(), 0))
		}
		if t := msgs[i].Timestamp; !t.IsZero() {
			m.produceToStore.Observe(max(now.Sub(t).Seconds(), 0))
		}
	}
}

// refreshLag sets the lag gauge from the group's offsets, then the
// oldest-unstored gauge: from the first record of each partition with a
// lag, read only then. When either read fails, the oldest-unstored gauge
// ages from the oldest last known.
func (c *Consumer) refreshLag(ctx context.Context) {
	m := c.metrics
	if m == nil {
		return
	}
	spans, err := c.spansRetrying(ctx) // also after Close: Run's last refresh
	if err == nil {
		for p, l := range lagsOf(spans) {
			m.lag.WithLabelValues(strconv.Itoa(int(p))).Set(float64(l))
		}
		var at time.Time
		var ok bool
		if at, ok, err = c.oldestOf(ctx, spans); err == nil {
			m.oldest = time.Time{}
			if ok {
				m.oldest = at
			}
		}
	}
	if err != nil && ctx.Err() == nil {
		c.log.Warn("kafkasink: refreshing the lag gauges failed; retried later", "group", c.group, "err", err)
	}
	age := 0.0
	if !m.oldest.IsZero() {
		age = max(time.Since(m.oldest).Seconds(), 0)
	}
	m.oldestAge.WithLabelValues().Set(age)
}

// lagLoop refreshes the lag gauge until ctx ends: LagRefreshInterval after
// the last refresh, or when a commit nudges it and the last refresh is at
// least that old. A consumer that commits every poll so costs the brokers
// one refresh per interval, not one per commit.
func (c *Consumer) lagLoop(ctx context.Context) {
	t := time.NewTicker(LagRefreshInterval)
	defer t.Stop()
	var last time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-c.lagNudge:
			if time.Since(last) < LagRefreshInterval {
				continue
			}
		}
		c.refreshLag(ctx)
		last = time.Now()
		t.Reset(LagRefreshInterval)
	}
}
