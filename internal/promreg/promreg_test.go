package promreg_test

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/userstream/userstream/internal/promreg"
)

func TestRegisterSharesSeries(t *testing.T) {
	reg := prometheus.NewRegistry()
	opts := prometheus.CounterOpts{Name: "userstream_test_total", Help: "A test counter."}
	a, err := promreg.Register(reg, prometheus.NewCounter(opts))
	if err != nil {
		t.Fatal(err)
	}
	b, err := promreg.Register(reg, prometheus.NewCounter(opts))
	if err != nil {
		t.Fatal(err)
	}
	a.Inc()
	b.Add(2)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	if len(mfs) != 1 || mfs[0].GetMetric()[0].GetCounter().GetValue() != 3 {
		t.Fatalf("gathered %v, want one counter at 3", mfs)
	}
}

func TestRegisterOtherTypeFails(t *testing.T) {
	reg := prometheus.NewRegistry()
	if _, err := promreg.Register(reg, prometheus.NewCounter(prometheus.CounterOpts{Name: "userstream_x", Help: "X."})); err != nil {
		t.Fatal(err)
	}
	// Same name and help, so the same description: the registry reports it
	// as already registered, and the existing collector is no histogram.
	_, err := promreg.Register(reg, prometheus.NewHistogram(prometheus.HistogramOpts{Name: "userstream_x", Help: "X."}))
	if err == nil {
		t.Fatal("registered a histogram over a counter of the same name")
	}
}

func TestDurationBuckets(t *testing.T) {
	b := promreg.DurationBuckets()
	if len(b) != 17 || b[0] != 0.001 || b[16] != 65.536 {
		t.Fatalf("buckets %v", b)
	}
}

// A Gauge has every method of a Counter, so an interface check alone
// would hand a gauge to a package that wants a counter under its name.
func TestRegisterRefusesAGaugeWhereACounterIs(t *testing.T) {
	reg := prometheus.NewRegistry()
	if _, err := promreg.Register(reg, prometheus.NewGauge(prometheus.GaugeOpts{Name: "x_total", Help: "h"})); err != nil {
		t.Fatal(err)
	}
	if _, err := promreg.Register[prometheus.Counter](reg, prometheus.NewCounter(prometheus.CounterOpts{Name: "x_total", Help: "h"})); err == nil {
		t.Fatal("a counter registered where a gauge of the same name is: want an error")
	}
}
