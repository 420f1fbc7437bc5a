package outbox_test

import (
	"errors"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/userstream/userstream/internal/testrows"
	"github.com/userstream/userstream/kafkasink"
	"github.com/userstream/userstream/kafkasink/outbox"
)

// metric returns the value of the series name in reg: a counter's or a
// gauge's value, a histogram's sample count. It fails if reg has no such
// series.
func metric(tb testing.TB, reg prometheus.Gatherer, name string) float64 {
	tb.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		tb.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		m := mf.GetMetric()[0]
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue()
		case m.Gauge != nil:
			return m.Gauge.GetValue()
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount())
		}
	}
	tb.Fatalf("no series %s registered", name)
	return 0
}

// TestMetrics: a store and a relay record the series of the package doc
// on the registry they are given; two stores and two relays on one
// registry share them.
func TestMetrics(t *testing.T) {
	t.Parallel()
	pool := newPool(t)
	reg := prometheus.NewPedanticRegistry()
	store := newStore(t, pool, outbox.WithMetrics(reg))
	other, err := outbox.NewStore(pool, outbox.WithSchema(store.Schema()), outbox.WithMetrics(reg))
	if err != nil {
		t.Fatalf("a second store on the same registry: %v", err)
	}
	ctx := testContext(t, 30*time.Second)
	rows := testrows.Rows(13)
	if _, err := store.Stage(ctx, "a", rows[:10]); err != nil {
		t.Fatal(err)
	}
	if _, err := other.Stage(ctx, "b", rows[5:]); err != nil { // 5 again, 3 new
		t.Fatal(err)
	}
	for name, want := range map[string]float64{
		"userstream_users_staged_total":    13,
		"userstream_users_duplicate_total": 5,
		"userstream_stage_batch_seconds":   2,
	} {
		if got := metric(t, reg, name); got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}

	relay, err := outbox.NewRelay(store, &fakeProducer{}, outbox.WithMetrics(reg), outbox.WithRoundSize(4))
	if err != nil {
		t.Fatal(err)
	}
	if n, err := relay.RelayOnce(ctx); n != 4 || err != nil {
		t.Fatalf("RelayOnce = %d, %v", n, err)
	}
	// A full round: the rest is counted.
	if got := metric(t, reg, "userstream_outbox_pending"); got != 9 {
		t.Errorf("userstream_outbox_pending after one round of 4 = %v, want 9", got)
	}
	failing, err := outbox.NewRelay(store, &fakeProducer{fail: func(kafkasink.Encoded) error { return errors.New("refused") }},
		outbox.WithMetrics(reg), outbox.WithRoundSize(4))
	if err != nil {
		t.Fatalf("a second relay on the same registry: %v", err)
	}
	if _, err := failing.RelayOnce(ctx); err == nil {
		t.Fatal("RelayOnce through a failing producer succeeded")
	}
	if err := relay.Drain(ctx); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]float64{
		"userstream_users_published_total": 13,
		"userstream_outbox_pending":        0,
		"userstream_relay_errors_total":    1,
	} {
		if got := metric(t, reg, name); got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
}

// TestMetricsRegistrationConflict: a registry that holds another series of
// the same name makes the constructor fail, not record into nothing.
func TestMetricsRegistrationConflict(t *testing.T) {
	pool := newPool(t)
	reg := prometheus.NewRegistry()
	reg.MustRegister(prometheus.NewCounter(prometheus.CounterOpts{Name: "userstream_users_staged_total", Help: "something else"}))
	if _, err := outbox.NewStore(pool, outbox.WithMetrics(reg)); err == nil {
		t.Error("NewStore with a conflicting series succeeded")
	}
	reg.MustRegister(prometheus.NewGauge(prometheus.GaugeOpts{Name: "userstream_outbox_pending", Help: "something else"}))
	store, err := outbox.NewStore(pool)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := outbox.NewRelay(store, &fakeProducer{}, outbox.WithMetrics(reg)); err == nil {
		t.Error("NewRelay with a conflicting series succeeded")
	}
	// nil is no metrics.
	if _, err := outbox.NewRelay(store, &fakeProducer{}, outbox.WithMetrics(nil)); err != nil {
		t.Errorf("NewRelay(WithMetrics(nil)) = %v", err)
	}
}
