package console

import (
	"cmp"
	"context"
	"math"
	"slices"
	"strconv"
	"time"

	dto "github.com/prometheus/client_model/go"
)

// sample is one gathering of the metrics the page shows.
type sample struct {
	at      time.Time
	stages  []float64 // by Metrics.Stages; NaN when absent
	errors  []float64 // by Metrics.Errors
	lag     map[string]float64
	hist    histogram
	lastRun float64   // NaN when absent or zero
	fresh   []float64 // by Metrics.Freshness: the largest value; NaN when absent

	// The chart's point, computed once when sampled.
	rate     float64 // throughput since the previous sample, per second
	lagTotal float64 // -1 when unknown
}

// histogram is a cumulative Prometheus histogram: counts[i] observations
// at most bounds[i], count in all.
type histogram struct {
	bounds, counts []float64
	count          float64
}

// sampleIfDue gathers a sample unless the last one is younger than most of
// an interval: however many pages poll, the gatherer runs about once per
// interval.
func (c *Console) sampleIfDue(now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if n := len(c.samples); n > 0 && now.Sub(c.samples[n-1].at) < c.cfg.interval*9/10 {
		return
	}
	s := c.gather(now)
	if n := len(c.samples); n > 0 && c.throughput >= 0 {
		prev := c.samples[n-1]
		if r := rate(prev, s, prev.stages[c.throughput], s.stages[c.throughput]); r != nil {
			s.rate = *r
		}
	}
	keep := int(c.cfg.history/c.cfg.interval) + 1
	if len(c.samples) >= keep {
		// Dropped from the front without a copy: append moves the live
		// samples to a new array once this one is full.
		c.samples = c.samples[len(c.samples)-keep+1:]
	}
	c.samples = append(c.samples, s)
}

func (c *Console) gather(now time.Time) sample {
	// Gather returns what it could along with an error for the rest; the
	// page shows what there is.
	mfs, _ := c.cfg.gatherer.Gather()
	byName := make(map[string]*dto.MetricFamily, len(mfs))
	for _, mf := range mfs {
		byName[mf.GetName()] = mf
	}
	m := c.cfg.metrics
	s := sample{at: now, stages: make([]float64, len(m.Stages)), errors: make([]float64, len(m.Errors)), lastRun: math.NaN()}
	for i, st := range m.Stages {
		s.stages[i] = sum(byName[st.Metric])
	}
	for i, st := range m.Errors {
		s.errors[i] = sum(byName[st.Metric])
	}
	s.lagTotal = -1
	if mf := byName[m.Lag]; mf != nil {
		s.lag, s.lagTotal = map[string]float64{}, 0
		for _, mt := range mf.GetMetric() {
			s.lag[label(mt, "partition")] += value(mt)
			s.lagTotal += value(mt)
		}
	}
	if mf := byName[m.Latency]; mf != nil && len(mf.GetMetric()) > 0 {
		s.hist = histogramOf(mf.GetMetric())
	}
	s.fresh = make([]float64, len(m.Freshness))
	for i, f := range m.Freshness {
		s.fresh[i] = largest(byName[f.Metric])
	}
	if v := sum(byName[m.LastRun]); v > 0 {
		s.lastRun = v
	}
	return s
}

// sum adds up a family's values across its label sets; NaN when absent.
func sum(mf *dto.MetricFamily) float64 {
	if mf == nil {
		return math.NaN()
	}
	var v float64
	for _, mt := range mf.GetMetric() {
		v += value(mt)
	}
	return v
}

// largest is a family's largest value across its label sets; NaN when
// absent or without a series.
func largest(mf *dto.MetricFamily) float64 {
	v := math.NaN()
	if mf == nil {
		return v
	}
	for _, mt := range mf.GetMetric() {
		if x := value(mt); math.IsNaN(v) || x > v {
			v = x
		}
	}
	return v
}

func value(mt *dto.Metric) float64 {
	switch {
	case mt.Counter != nil:
		return mt.Counter.GetValue()
	case mt.Gauge != nil:
		return mt.Gauge.GetValue()
	case mt.Untyped != nil:
		return mt.Untyped.GetValue()
	}
	return 0
}

func label(mt *dto.Metric, name string) string {
	for _, l := range mt.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

// histogramOf merges the histograms of every label set (they share their
// buckets when registered as one vector).
func histogramOf(ms []*dto.Metric) histogram {
	var h histogram
	for _, mt := range ms {
		hp := mt.GetHistogram()
		if hp == nil {
			continue
		}
		if h.bounds == nil {
			for _, b := range hp.GetBucket() {
				h.bounds = append(h.bounds, b.GetUpperBound())
			}
			h.counts = make([]float64, len(h.bounds))
		}
		for i, b := range hp.GetBucket() {
			if i < len(h.counts) {
				h.counts[i] += float64(b.GetCumulativeCount())
			}
		}
		h.count += float64(hp.GetSampleCount())
	}
	return h
}

// minus returns the observations of h that base had not seen yet.
func (h histogram) minus(base histogram) histogram {
	if len(base.counts) != len(h.counts) {
		return h
	}
	d := histogram{bounds: h.bounds, counts: make([]float64, len(h.counts)), count: h.count - base.count}
	for i := range h.counts {
		d.counts[i] = h.counts[i] - base.counts[i]
	}
	return d
}

// quantile estimates the q-quantile as PromQL's histogram_quantile does:
// linearly within the bucket that holds it; NaN without observations.
func (h histogram) quantile(q float64) float64 {
	if h.count <= 0 || len(h.bounds) == 0 {
		return math.NaN()
	}
	rank := q * h.count
	lower, below := 0.0, 0.0
	for i, upper := range h.bounds {
		if h.counts[i] >= rank {
			if math.IsInf(upper, 1) || h.counts[i] == below {
				return lower
			}
			return lower + (upper-lower)*(rank-below)/(h.counts[i]-below)
		}
		lower, below = upper, h.counts[i]
	}
	return lower // in the +Inf bucket: the highest finite bound
}

// status is what status.json serves: everything the page shows.
type status struct {
	Title       string           `json:"title"`
	Time        time.Time        `json:"time"`
	IntervalMS  int64            `json:"interval_ms"`
	Stages      []stageView      `json:"stages"`
	Errors      []stageView      `json:"errors"`
	Latency     *latencyView     `json:"latency"`   // nil: no latency metric
	Lag         *lagView         `json:"lag"`       // nil: no lag metric
	Freshness   *freshnessView   `json:"freshness"` // nil: no freshness metric
	LastSuccess *time.Time       `json:"last_success,omitempty"`
	Chart       chartView        `json:"chart"`
	Runs        []runView        `json:"runs"`
	RunsError   string           `json:"runs_error,omitempty"`
	HasRuns     bool             `json:"has_runs"`
	DeadLetters []deadLetterView `json:"dead_letters"`
	DLQError    string           `json:"dead_letters_error,omitempty"`
	HasDLQ      bool             `json:"has_dead_letters"`
	HasExplain  bool             `json:"has_explain"`
}

type stageView struct {
	Name  string   `json:"name"`
	Total *float64 `json:"total"` // nil: the metric is absent
	Rate  *float64 `json:"rate"`  // per second over the last few samples; nil until there are two
}

type latencyView struct {
	Count  float64     `json:"count"`
	All    [3]*float64 `json:"all"`    // p50, p90, p99 since start, seconds
	Recent [3]*float64 `json:"recent"` // the same over the last minute
}

type lagView struct {
	Total      float64         `json:"total"`
	Partitions []partitionView `json:"partitions"`
}

// freshnessView is the age of the oldest user not yet stored: the largest
// of the hops' ages present, and each hop's (nil where its metric is
// absent).
type freshnessView struct {
	Seconds float64   `json:"seconds"`
	Hops    []hopView `json:"hops"`
}

type hopView struct {
	Name    string   `json:"name"`
	Seconds *float64 `json:"seconds"`
}

type partitionView struct {
	Partition string  `json:"partition"`
	Lag       float64 `json:"lag"`
}

// chartView holds one point per sample after the first, oldest first.
type chartView struct {
	Series string    `json:"series"` // the throughput stage's name
	T      []int64   `json:"t"`      // Unix milliseconds
	Rate   []float64 `json:"rate"`   // throughput, per second
	Lag    []float64 `json:"lag"`    // total lag, -1 where unknown
}

type runView struct {
	ID           string     `json:"id"`
	Kind         string     `json:"kind"`
	Status       string     `json:"status"`
	Error        string     `json:"error,omitempty"`
	Started      time.Time  `json:"started"`
	Ended        *time.Time `json:"ended,omitempty"`
	Seconds      float64    `json:"seconds"` // so far while running
	Fetched      int64      `json:"fetched"`
	Staged       int64      `json:"staged"`
	Duplicates   int64      `json:"duplicates"`
	Invalid      int64      `json:"invalid"`
	Published    int64      `json:"published"`
	Stored       int64      `json:"stored"`
	DeadLettered int64      `json:"dead_lettered"`
}

type deadLetterView struct {
	Time         time.Time `json:"time"`
	Reason       string    `json:"reason"`
	Error        string    `json:"error"`
	Topic        string    `json:"topic"`
	Partition    int32     `json:"partition"`
	Offset       int64     `json:"offset"`
	DLQTopic     string    `json:"dlq_topic"`
	DLQPartition int32     `json:"dlq_partition"`
	DLQOffset    int64     `json:"dlq_offset"`
	Size         int       `json:"size"`
	Preview      string    `json:"preview"`
	RedriveCount int       `json:"redrive_count"` // times redriven before this failure
	Redriven     bool      `json:"redriven"`      // sent back already (the redrive log says so)
}

// rateSpan is how many samples back a stage's rate is measured over: a few
// seconds, steady enough to read.
const rateSpan = 5

func (c *Console) status(ctx context.Context, now time.Time) status {
	c.sampleIfDue(now)
	c.mu.Lock()
	samples := c.samples // appended to, never changed in place: safe to read after unlocking
	c.mu.Unlock()

	m := c.cfg.metrics
	st := status{Title: c.cfg.title, Time: now, IntervalMS: c.cfg.interval.Milliseconds(),
		HasRuns: c.cfg.runs != nil, HasDLQ: c.cfg.deadLetters != nil,
		HasExplain: c.cfg.explainer != nil}
	last := samples[len(samples)-1]
	back := samples[max(0, len(samples)-1-rateSpan)]
	for i, s := range m.Stages {
		st.Stages = append(st.Stages, stageView{Name: s.Name, Total: num(last.stages[i]), Rate: rate(back, last, back.stages[i], last.stages[i])})
	}
	for i, s := range m.Errors {
		st.Errors = append(st.Errors, stageView{Name: s.Name, Total: num(last.errors[i])})
	}
	if last.lag != nil {
		st.Lag = lagOf(last.lag)
	}
	st.Freshness = freshnessOf(m.Freshness, last.fresh)
	if last.hist.bounds != nil {
		minuteAgo := samples[0]
		for _, s := range samples {
			if now.Sub(s.at) <= time.Minute {
				minuteAgo = s
				break
			}
		}
		recent := last.hist
		if minuteAgo.at != last.at {
			recent = last.hist.minus(minuteAgo.hist)
		}
		st.Latency = &latencyView{Count: last.hist.count}
		for i, q := range []float64{0.5, 0.9, 0.99} {
			st.Latency.All[i], st.Latency.Recent[i] = num(last.hist.quantile(q)), num(recent.quantile(q))
		}
	}
	if !math.IsNaN(last.lastRun) {
		t := time.UnixMilli(int64(last.lastRun * 1000))
		st.LastSuccess = &t
	}
	st.Chart = chartOf(samples)
	st.Chart.Series = m.Throughput
	st.Runs, st.RunsError = c.recentRuns(ctx, now)
	st.DeadLetters, st.DLQError = c.latestDeadLetters(ctx, now)
	return st
}

func num(v float64) *float64 {
	if math.IsNaN(v) {
		return nil
	}
	return &v
}

// rate is a counter's increase per second from a to b; a counter that went
// back (a restarted process behind the gatherer) counts from zero.
func rate(a, b sample, va, vb float64) *float64 {
	dt := b.at.Sub(a.at).Seconds()
	if dt <= 0 || math.IsNaN(va) || math.IsNaN(vb) {
		return nil
	}
	if vb < va {
		va = 0
	}
	r := (vb - va) / dt
	return &r
}

func lagOf(byPartition map[string]float64) *lagView {
	l := &lagView{Partitions: []partitionView{}}
	for p, v := range byPartition {
		l.Total += v
		l.Partitions = append(l.Partitions, partitionView{p, v})
	}
	slices.SortFunc(l.Partitions, func(a, b partitionView) int {
		ai, aerr := strconv.Atoi(a.Partition)
		bi, berr := strconv.Atoi(b.Partition)
		if aerr == nil && berr == nil {
			return cmp.Compare(ai, bi)
		}
		return cmp.Compare(a.Partition, b.Partition)
	})
	return l
}

// freshnessOf is the freshness of the hops' ages; nil when no hop's
// metric is present.
func freshnessOf(hops []Stage, ages []float64) *freshnessView {
	var f *freshnessView
	for i := range hops {
		if !math.IsNaN(ages[i]) {
			if f == nil {
				f = &freshnessView{}
			}
			f.Seconds = max(f.Seconds, ages[i])
		}
	}
	if f == nil {
		return nil
	}
	for i, h := range hops {
		f.Hops = append(f.Hops, hopView{Name: h.Name, Seconds: num(ages[i])})
	}
	return f
}

func chartOf(samples []sample) chartView {
	n := max(len(samples)-1, 0)
	ch := chartView{T: make([]int64, 0, n), Rate: make([]float64, 0, n), Lag: make([]float64, 0, n)}
	for _, s := range samples[min(1, len(samples)):] {
		ch.T = append(ch.T, s.at.UnixMilli())
		ch.Rate = append(ch.Rate, s.rate)
		ch.Lag = append(ch.Lag, s.lagTotal)
	}
	return ch
}
