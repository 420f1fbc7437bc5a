package main

import (
	"math"
	"sync"
	"time"
)

// latencyHist counts latencies in buckets 1% wide, from 100µs to about an
// hour, for quantiles within 1% in constant memory, however many rows a run
// has: a run of a million rows would otherwise keep a million samples.
type latencyHist struct {
	mu     sync.Mutex
	counts [latBuckets]int64
	n      int64
}

const (
	latMin     = 100 * time.Microsecond
	latGrowth  = 1.01
	latBuckets = 1760 // latMin × 1.01^1760 ≈ 1.04 hours
)

var logLatGrowth = math.Log(latGrowth)

func latBucket(d time.Duration) int {
	if d <= latMin {
		return 0
	}
	return min(int(math.Log(float64(d)/float64(latMin))/logLatGrowth)+1, latBuckets-1)
}

// add records latencies.
func (h *latencyHist) add(ds ...time.Duration) {
	h.mu.Lock()
	for _, d := range ds {
		h.counts[latBucket(d)]++
	}
	h.n += int64(len(ds))
	h.mu.Unlock()
}

// reset forgets every latency.
func (h *latencyHist) reset() {
	h.mu.Lock()
	h.counts, h.n = [latBuckets]int64{}, 0
	h.mu.Unlock()
}

// quantile returns the q-quantile (0 < q < 1) as the upper bound of its
// bucket, at most 1% above the true value; 0 when empty.
func (h *latencyHist) quantile(q float64) time.Duration {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.n == 0 {
		return 0
	}
	rank := int64(math.Ceil(q * float64(h.n)))
	var seen int64
	for i, c := range h.counts {
		if seen += c; seen >= max(rank, 1) {
			return time.Duration(float64(latMin) * math.Pow(latGrowth, float64(i)))
		}
	}
	return time.Duration(float64(latMin) * math.Pow(latGrowth, latBuckets-1))
}
