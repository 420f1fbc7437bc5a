package outbox

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/userstream/userstream/internal/promreg"
)

// StoreRelayOpt is an option of both [NewStore] and [NewRelay]
// ([WithMetrics]): each constructor applies its own half.
type StoreRelayOpt interface {
	StoreOpt
	RelayOpt
}

type metricsOpt struct{ reg prometheus.Registerer }

func (o metricsOpt) apply(c *config) { c.store.metrics, c.relay.metrics = o.reg, o.reg }
func (metricsOpt) storeOpt()         {}
func (metricsOpt) relayOpt()         {}

// WithMetrics registers the series of the package doc's Metrics table on
// reg and records them, overriding the default: no metrics (also when reg
// is nil). Given to [NewStore] it registers the store's series, to
// [NewRelay] the relay's. Registering is idempotent per registry: stores
// or relays handed the same reg share the series, and their counts add
// up. The constructor fails if reg refuses a series for another reason (a
// collector of another type, or another help text, under the same name).
func WithMetrics(reg prometheus.Registerer) StoreRelayOpt { return metricsOpt{reg} }

// durationBuckets are the buckets of every duration histogram of the
// module: 1 ms to about 65 s.
var durationBuckets = promreg.DurationBuckets()

// register is promreg.Register, its errors named for the package.
func register[C prometheus.Collector](reg prometheus.Registerer, c C) (C, error) {
	got, err := promreg.Register(reg, c)
	if err != nil {
		return c, fmt.Errorf("outbox: WithMetrics: %w", err)
	}
	return got, nil
}

// storeMetrics are the series of a Store.
type storeMetrics struct {
	staged, duplicates prometheus.Counter
	stageSeconds       prometheus.Histogram
}

func newStoreMetrics(reg prometheus.Registerer) (*storeMetrics, error) {
	var (
		m    storeMetrics
		errs [3]error
	)
	m.staged, errs[0] = register(reg, prometheus.NewCounter(prometheus.CounterOpts{
		Name: "userstream_users_staged_total",
		Help: "User versions written to the outbox: new users, changed users and deletions.",
	}))
	m.duplicates, errs[1] = register(reg, prometheus.NewCounter(prometheus.CounterOpts{
		Name: "userstream_users_duplicate_total",
		Help: "Users staged again unchanged (equal to their latest version).",
	}))
	m.stageSeconds, errs[2] = register(reg, prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "userstream_stage_batch_seconds",
		Help:    "Time of one outbox Stage call, in seconds.",
		Buckets: durationBuckets,
	}))
	return &m, errors.Join(errs[:]...)
}

// relayMetrics are the series of a Relay.
type relayMetrics struct {
	published, errors prometheus.Counter
	pending           prometheus.Gauge
	oldestAge         prometheus.Gauge

	mu          sync.Mutex
	lastCounted time.Time // when pending was last counted by a query
	oldest      time.Time // fetch time of the oldest pending row as last known; zero: none
	oldestAt    time.Time // when oldest was last learned (from a round or a query)
}

func newRelayMetrics(reg prometheus.Registerer) (*relayMetrics, error) {
	var (
		m    relayMetrics
		errs [4]error
	)
	m.published, errs[0] = register(reg, prometheus.NewCounter(prometheus.CounterOpts{
		Name: "userstream_users_published_total",
		Help: "Rows the outbox relay published to Kafka.",
	}))
	m.pending, errs[1] = register(reg, prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "userstream_outbox_pending",
		Help: "Rows staged and not yet published, as of the relay's last round.",
	}))
	m.errors, errs[2] = register(reg, prometheus.NewCounter(prometheus.CounterOpts{
		Name: "userstream_relay_errors_total",
		Help: "Outbox relay rounds that failed (and are retried).",
	}))
	m.oldestAge, errs[3] = register(reg, prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "userstream_outbox_oldest_pending_seconds",
		Help: "Seconds since the fetch of the oldest user staged and not yet published; 0 when none is pending.",
	}))
	return &m, errors.Join(errs[:]...)
}

// countDue reports whether the pending rows may be counted by a query now:
// at most once per interval, so a backlog relayed in many full rounds
// costs one count per interval, not one per round.
func (m *relayMetrics) countDue(interval time.Duration) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if now := time.Now(); now.Sub(m.lastCounted) >= interval {
		m.lastCounted = now
		return true
	}
	return false
}

// setOldest records what a round or a query learned: the fetch time of the
// oldest pending row, or that none is pending (ok false), and sets the
// gauge.
func (m *relayMetrics) setOldest(t time.Time, ok bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := time.Now()
	m.oldest, m.oldestAt = time.Time{}, now
	if ok {
		m.oldest = t
	}
	m.setAge(now)
}

// oldestDue reports whether the oldest pending row is to be looked up
// again: at most once per interval, counting what rounds learned. When it
// is not due, the gauge is set again from the oldest last known, so that
// it keeps ageing while nothing new is learned (an outage).
func (m *relayMetrics) oldestDue(interval time.Duration) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := time.Now()
	if now.Sub(m.oldestAt) >= interval {
		return true
	}
	m.setAge(now)
	return false
}

// ageOldest sets the gauge again from the oldest last known: after a
// lookup that failed.
func (m *relayMetrics) ageOldest() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.setAge(time.Now())
}

// setAge sets the gauge to the age of the oldest pending row at now; m.mu
// is held.
func (m *relayMetrics) setAge(now time.Time) {
	if m.oldest.IsZero() {
		m.oldestAge.Set(0)
		return
	}
	m.oldestAge.Set(max(now.Sub(m.oldest).Seconds(), 0))
}
