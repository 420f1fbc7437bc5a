package main

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

func TestLatencyHistQuantiles(t *testing.T) {
	var h latencyHist
	if got := h.quantile(0.5); got != 0 {
		t.Fatalf("empty quantile = %v, want 0", got)
	}
	// Latencies spread over four orders of magnitude; the histogram's
	// quantiles must be within its 1% of the exact ones.
	r := rand.New(rand.NewPCG(1, 2))
	var all []time.Duration
	for range 100000 {
		d := time.Duration(float64(200*time.Microsecond) * (1 + 5000*r.Float64()*r.Float64()))
		all = append(all, d)
		h.add(d)
	}
	slices.Sort(all)
	for _, q := range []float64{0.01, 0.5, 0.9, 0.99, 0.999} {
		exact := all[int(q*float64(len(all)))-1]
		got := h.quantile(q)
		if got < exact || float64(got) > float64(exact)*1.011 {
			t.Errorf("quantile(%v) = %v, exact %v: want within [exact, exact+1%%]", q, got, exact)
		}
	}
	// Out of range: clamped, never lost.
	h.reset()
	h.add(time.Nanosecond, 100*time.Hour)
	if h.quantile(0.5) != latMin || h.quantile(1) < time.Hour {
		t.Errorf("clamped quantiles %v, %v", h.quantile(0.5), h.quantile(1))
	}
}
