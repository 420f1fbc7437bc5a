package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/plugin/kprom"
)

// metrics are the command's Prometheus metrics, beside franz-go's (kprom)
// in one registry, and the Go runtime's and the process's in another.
// Labels never carry user data or secrets.
type metrics struct {
	registry *prometheus.Registry // the pipeline's metrics, franz-go's included
	all      prometheus.Gatherers // registry and the runtime's: what /metrics serves
	clients  int                  // franz-go clients given kprom hooks so far

	storeErrors prometheus.Counter

	storeBatch   prometheus.Histogram // seconds per Cassandra bulk write
	produceToEnd prometheus.Histogram // seconds from a record's produce time to its row stored
	fetchToEnd   prometheus.Histogram // seconds from a user's fetch to its row stored
	lag          *prometheus.GaugeVec // consumer lag by partition
}

func newMetrics() *metrics {
	// The Go runtime's and the process's metrics in a registry of their
	// own: /metrics serves both, the status page reads only the pipeline's
	// (the process collector reads /proc files, most of a gather's cost).
	runtimeReg := prometheus.NewRegistry()
	runtimeReg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	reg := prometheus.NewRegistry()
	counter := func(name, help string) prometheus.Counter {
		return register(reg, prometheus.NewCounter(prometheus.CounterOpts{Namespace: "userstream", Name: name, Help: help}))
	}
	buckets := prometheus.ExponentialBuckets(0.001, 2, 17) // 1ms to about 65s
	histogram := func(name, help string) prometheus.Histogram {
		return register(reg, prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: "userstream", Name: name, Help: help, Buckets: buckets}))
	}
	return &metrics{
		registry:     reg,
		all:          prometheus.Gatherers{reg, runtimeReg},
		storeErrors:  counter("store_errors_total", "Cassandra bulk writes that failed and are retried (rows the store rejects for good are dead-lettered instead)."),
		storeBatch:   histogram("store_batch_seconds", "Time to write one batch of rows to Cassandra."),
		produceToEnd: histogram("produce_to_store_seconds", "Time from a record's produce timestamp to its row stored in Cassandra."),
		fetchToEnd:   histogram("fetch_to_store_seconds", "Time from a user's fetch (staged in the outbox) to its row stored in Cassandra, from the record's fetched-at header."),
		lag: register(reg, prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "userstream", Name: "consumer_lag",
			Help: "Records of the topic not yet committed by the consumer group, by partition."}, []string{"partition"})),
	}
}

func register[C prometheus.Collector](reg *prometheus.Registry, c C) C {
	reg.MustRegister(c)
	return c
}

// exposeCounts serves the counts of the run ledger as counters too.
func (p *pipeline) exposeCounts() {
	p.m.count("rows_stored_total", "Rows written to Cassandra.", p.stored.Load)
	p.m.count("records_dead_lettered_total", "Records sent to the dead-letter topic.", p.deadLettered)
}

// count serves a count the process keeps anyway (for its run ledger) as
// a counter, read when scraped: one set of counts, never out of step.
func (m *metrics) count(name, help string, value func() int64) {
	m.registry.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: "userstream", Name: name, Help: help},
		func() float64 { return float64(value()) }))
}

// kafkaOpts, called while the pipeline is wired, gives a franz-go client of the given role ("producer" or
// "consumer") a client id of its own and kprom's hooks in the same
// registry, told apart by the client_id label. One kprom.Metrics is not
// safe to share between clients, so each gets its own.
func (m *metrics) kafkaOpts(role string) []kgo.Opt {
	m.clients++
	k := kprom.NewMetrics("userstream", kprom.Subsystem("kafka_"+role), kprom.Registry(m.registry), kprom.WithClientLabel())
	return []kgo.Opt{kgo.ClientID(fmt.Sprintf("userstream-%s-%d", role, m.clients)), kgo.WithHooks(k)}
}

// setLag records the group's lag by partition and returns the total.
func (m *metrics) setLag(byPartition map[int32]int64) int64 {
	var total int64
	for p, l := range byPartition {
		m.lag.WithLabelValues(strconv.Itoa(int(p))).Set(float64(l))
		total += l
	}
	return total
}

// serveMetrics serves /metrics, /healthz and /debug/pprof on addr until
// ctx ends, and returns its mux, where the status page goes once the
// pipeline is open.
func serveMetrics(ctx context.Context, reg prometheus.Gatherer, addr string, log *slog.Logger) (*http.ServeMux, error) {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	log.Info("metrics listening", "addr", ln.Addr().String(), "paths", "/ (console) /metrics /healthz")
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics server", "err", err)
		}
	}()
	return mux, nil
}
