package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
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
	// lastSuccess is when the last run succeeded, in Unix seconds: an
	// alert on time() minus it catches a schedule that stopped running or
	// runs that keep failing.
	lastSuccess prometheus.Gauge

	fetchErrors prometheus.Counter
	fetchPage   prometheus.Histogram // seconds per API page
	stageBatch  prometheus.Histogram // seconds per outbox write
}

func newMetrics() *metrics {
	// The Go runtime's and the process's metrics in a registry of their
	// own: /metrics serves both, the status page reads only the pipeline's
	// (the process collector reads /proc files, most of a gather's cost).
	runtimeReg := prometheus.NewRegistry()
	runtimeReg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	reg := prometheus.NewRegistry()
	buckets := prometheus.ExponentialBuckets(0.001, 2, 17) // 1ms to about 65s
	histogram := func(name, help string) prometheus.Histogram {
		return register(reg, prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: "userstream", Name: name, Help: help, Buckets: buckets}))
	}
	return &metrics{
		lastSuccess: register(reg, prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "userstream", Name: "last_successful_run_timestamp_seconds",
			Help: "When the last successful run ended, in Unix seconds; 0 until one has."})),
		registry: reg,
		all:      prometheus.Gatherers{reg, runtimeReg},
		fetchErrors: register(reg, prometheus.NewCounter(prometheus.CounterOpts{Namespace: "userstream", Name: "fetch_errors_total",
			Help: "API requests that failed after retries."})),
		fetchPage:  histogram("fetch_page_seconds", "Time to fetch and decode one API page."),
		stageBatch: histogram("stage_batch_seconds", "Time to stage one page in the outbox."),
	}
}

func register[C prometheus.Collector](reg *prometheus.Registry, c C) C {
	reg.MustRegister(c)
	return c
}

// exposeCounts serves the counts of the run ledger as counters too.
func (p *pipeline) exposeCounts() {
	p.m.count("users_fetched_total", "Users received from the Random User API.", p.counts.fetched.Load)
	p.m.count("users_staged_total", "New users written to the PostgreSQL outbox.", p.counts.staged.Load)
	p.m.count("users_duplicate_total", "Fetched users that were already staged.", p.counts.duplicates.Load)
	p.m.count("users_invalid_total", "Fetched users that failed validation and were not staged.", p.counts.invalid.Load)
	p.m.count("users_published_total", "Users the relay published to Kafka.", func() int64 { return p.relay.Stats().Published })
}

// count serves a count the process keeps anyway (for its run ledger) as
// a counter, read when scraped: one set of counts, never out of step.
func (m *metrics) count(name, help string, value func() int64) {
	m.registry.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: "userstream", Name: name, Help: help},
		func() float64 { return float64(value()) }))
}

// kafkaOpts gives a franz-go client of the given role a client id and
// kprom's hooks in the same registry, told apart by the client_id label.
func (m *metrics) kafkaOpts(role string) []kgo.Opt {
	k := kprom.NewMetrics("userstream", kprom.Subsystem("kafka_"+role), kprom.Registry(m.registry), kprom.WithClientLabel())
	return []kgo.Opt{kgo.ClientID("userstream-" + role + "-1"), kgo.WithHooks(k)}
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
