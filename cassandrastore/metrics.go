package cassandrastore

import (
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/userstream/userstream/internal/promreg"
)

// metrics are a Store's Prometheus series; a nil *metrics records nothing.
type metrics struct {
	stored  prometheus.Counter
	errors  prometheus.Counter
	seconds prometheus.Histogram
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	var m metrics
	var err error
	if m.stored, err = promreg.Register(reg, prometheus.NewCounter(prometheus.CounterOpts{
		Name: "userstream_rows_stored_total",
		Help: "Rows written to Cassandra (successful writes).",
	})); err != nil {
		return nil, fmt.Errorf("cassandrastore: new: metrics: %w", err)
	}
	if m.errors, err = promreg.Register(reg, prometheus.NewCounter(prometheus.CounterOpts{
		Name: "userstream_store_errors_total",
		Help: "Bulk writes to Cassandra (UpsertMany or ApplyMany calls) that failed.",
	})); err != nil {
		return nil, fmt.Errorf("cassandrastore: new: metrics: %w", err)
	}
	if m.seconds, err = promreg.Register(reg, prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "userstream_store_batch_seconds",
		Help:    "Time of one bulk write to Cassandra (UpsertMany or ApplyMany call).",
		Buckets: promreg.DurationBuckets(),
	})); err != nil {
		return nil, fmt.Errorf("cassandrastore: new: metrics: %w", err)
	}
	return &m, nil
}

// bulk records one UpsertMany or ApplyMany call of which stored rows (or
// changes) were written.
func (m *metrics) bulk(stored int, failed bool, d time.Duration) {
	if m == nil {
		return
	}
	m.stored.Add(float64(stored))
	if failed {
		m.errors.Inc()
	}
	m.seconds.Observe(d.Seconds())
}

// row records one Upsert.
func (m *metrics) row(err error) {
	if m != nil && err == nil {
		m.stored.Inc()
	}
}
