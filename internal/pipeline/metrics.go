package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/plugin/kprom"
)

// Metrics are the pipeline's own Prometheus metrics, beside franz-go's
// (kprom) in the same registry. Labels never carry user data or secrets.
type Metrics struct {
	Registry *prometheus.Registry

	Fetched      prometheus.Counter
	Staged       prometheus.Counter
	Duplicates   prometheus.Counter
	Invalid      prometheus.Counter
	Published    prometheus.Counter
	Stored       prometheus.Counter
	DeadLettered prometheus.Counter
	FetchErrors  prometheus.Counter
	StoreErrors  prometheus.Counter

	FetchPage    prometheus.Histogram // seconds per API page
	StageBatch   prometheus.Histogram // seconds per outbox write
	StoreBatch   prometheus.Histogram // seconds per Cassandra bulk write
	ProduceToEnd prometheus.Histogram // seconds from a record's produce time to its row stored
	FetchToEnd   prometheus.Histogram // seconds from a user's fetch to its row stored (the record's fetched-at header)
	Lag          *prometheus.GaugeVec // consumer lag by partition

	healthy atomic.Bool
	kpromMu sync.Mutex
	clients int
}

// NewMetrics registers the pipeline's metrics and Go runtime metrics.
func NewMetrics() *Metrics {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	f := func(name, help string) prometheus.Counter {
		c := prometheus.NewCounter(prometheus.CounterOpts{Namespace: "userstream", Name: name, Help: help})
		reg.MustRegister(c)
		return c
	}
	// Latencies from 1ms to about 65s.
	buckets := prometheus.ExponentialBuckets(0.001, 2, 17)
	h := func(name, help string) prometheus.Histogram {
		x := prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: "userstream", Name: name, Help: help, Buckets: buckets})
		reg.MustRegister(x)
		return x
	}
	m := &Metrics{
		Registry:     reg,
		Fetched:      f("users_fetched_total", "Users received from the Random User API."),
		Staged:       f("users_staged_total", "New users written to the PostgreSQL outbox."),
		Duplicates:   f("users_duplicate_total", "Fetched users that were already staged."),
		Invalid:      f("users_invalid_total", "Fetched users that failed validation and were not staged."),
		Published:    f("users_published_total", "Users the relay published to Kafka."),
		Stored:       f("rows_stored_total", "Rows written to Cassandra."),
		DeadLettered: f("records_dead_lettered_total", "Poison records sent to the dead-letter topic."),
		FetchErrors:  f("fetch_errors_total", "API requests that failed after retries."),
		StoreErrors:  f("store_errors_total", "Cassandra bulk writes that failed (and were retried)."),
		FetchPage:    h("fetch_page_seconds", "Time to fetch and decode one API page."),
		StageBatch:   h("stage_batch_seconds", "Time to stage one page in the outbox."),
		StoreBatch:   h("store_batch_seconds", "Time to write one batch of rows to Cassandra."),
		ProduceToEnd: h("produce_to_store_seconds", "Time from a record's produce timestamp to its row stored in Cassandra."),
		FetchToEnd:   h("fetch_to_store_seconds", "Time from a user's fetch (staged in the outbox) to its row stored in Cassandra, from the record's fetched-at header."),
		Lag: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "userstream", Name: "consumer_lag",
			Help: "Records of the topic not yet committed by the consumer group, by partition."}, []string{"partition"}),
	}
	reg.MustRegister(m.Lag)
	m.healthy.Store(true)
	return m
}

// KafkaOpts returns the options that give a franz-go client of the given
// role ("producer" or "consumer") a client id of its own and kprom's hooks,
// registered in the same registry and told apart by the client_id label.
// Each client gets a kprom.Metrics of its own: one kprom.Metrics is not
// safe to share between clients.
func (m *Metrics) KafkaOpts(role string) []kgo.Opt {
	m.kpromMu.Lock()
	m.clients++
	id := fmt.Sprintf("userstream-%s-%d", role, m.clients)
	m.kpromMu.Unlock()
	k := kprom.NewMetrics("userstream", kprom.Subsystem("kafka_"+role), kprom.Registry(m.Registry), kprom.WithClientLabel())
	return []kgo.Opt{kgo.ClientID(id), kgo.WithHooks(k)}
}

// SetLag records the group's lag by partition and returns the total.
func (m *Metrics) SetLag(byPartition map[int32]int64) int64 {
	var total int64
	for p, l := range byPartition {
		m.Lag.WithLabelValues(strconv.Itoa(int(p))).Set(float64(l))
		total += l
	}
	return total
}

// SetHealthy sets what /healthz answers.
func (m *Metrics) SetHealthy(ok bool) { m.healthy.Store(ok) }

// Serve serves /metrics, /healthz and /debug/pprof on addr until ctx ends.
func (m *Metrics) Serve(ctx context.Context, addr string, log *slog.Logger) error {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{}))
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		if !m.healthy.Load() {
			http.Error(w, "unhealthy", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ok\n"))
	})
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	log.Info("metrics listening", "addr", ln.Addr().String(), "paths", "/metrics /healthz")
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics server", "err", err)
		}
	}()
	return nil
}
