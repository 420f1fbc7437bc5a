package console

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// The cost of one poll of status.json with sources out of the way: a
// gather of a registry like the one the examples give the console (the
// stage counters, six partitions of lag, a latency histogram; the Go and
// process collectors, which /metrics serves beside, are not in it) and the
// status over a full five-minute ring. e2ebench -console both measures the
// pipeline with the page polled.
func BenchmarkStatus(b *testing.B) {
	reg := prometheus.NewRegistry()
	for _, s := range DefaultMetrics().Stages {
		c := prometheus.NewCounter(prometheus.CounterOpts{Name: s.Metric})
		c.Add(1e6)
		reg.MustRegister(c)
	}
	lag := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: DefaultMetrics().Lag}, []string{"partition"})
	for p := range 6 {
		lag.WithLabelValues(strconv.Itoa(p)).Set(float64(p))
	}
	lat := prometheus.NewHistogram(prometheus.HistogramOpts{Name: DefaultMetrics().Latency, Buckets: prometheus.ExponentialBuckets(0.001, 2, 17)})
	for i := range 1000 {
		lat.Observe(float64(i) / 1000)
	}
	reg.MustRegister(lag, lat)
	c, err := New(WithGatherer(reg))
	if err != nil {
		b.Fatal(err)
	}
	t := time.Now()
	for i := range 301 {
		c.sampleIfDue(t.Add(time.Duration(i) * time.Second))
	}
	t = t.Add(301 * time.Second)
	b.ReportAllocs()
	for b.Loop() {
		t = t.Add(time.Second) // every poll gathers, as one page open polls
		_ = c.status(context.Background(), t)
	}
}
