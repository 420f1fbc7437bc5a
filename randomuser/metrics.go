package randomuser

import (
	"context"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/userstream/userstream/internal/promreg"
)

// metrics are a Client's Prometheus series; a nil *metrics records nothing.
type metrics struct {
	fetched prometheus.Counter
	errors  prometheus.Counter
	seconds prometheus.Histogram
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	var m metrics
	var err error
	if m.fetched, err = promreg.Register(reg, prometheus.NewCounter(prometheus.CounterOpts{
		Name: "userstream_users_fetched_total",
		Help: "Users decoded from Random User API pages and handed to the caller.",
	})); err != nil {
		return nil, fmt.Errorf("randomuser: metrics: %w", err)
	}
	if m.errors, err = promreg.Register(reg, prometheus.NewCounter(prometheus.CounterOpts{
		Name: "userstream_fetch_errors_total",
		Help: "Random User API page requests that failed after retries.",
	})); err != nil {
		return nil, fmt.Errorf("randomuser: metrics: %w", err)
	}
	if m.seconds, err = promreg.Register(reg, prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "userstream_fetch_page_seconds",
		Help:    "Time to fetch and decode one Random User API page, retries included.",
		Buckets: promreg.DurationBuckets(),
	})); err != nil {
		return nil, fmt.Errorf("randomuser: metrics: %w", err)
	}
	return &m, nil
}

// page records one page request: users kept by the caller, and either its
// failure (unless ctx ended it: the caller gave up, the API did not fail)
// or, if it was read to the end, its duration.
func (m *metrics) page(ctx context.Context, users int, err error, whole bool, d time.Duration) {
	m.fetched.Add(float64(users))
	switch {
	case err != nil:
		if ctx.Err() == nil {
			m.errors.Inc()
		}
	case whole:
		m.seconds.Observe(d.Seconds())
	}
}
