package console

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/userstream/userstream/kafkasink/dlq"
	"github.com/userstream/userstream/runledger"
)

// A payload's user data never shows in clear: keys and shapes do, the id
// does, and a long field is cut with its length.
func TestPreviewRedactsUserData(t *testing.T) {
	row := `{"id":"0B7E2A3C-1111-4222-8333-9AAAA0000666","first_name":"Jane","email":"jane.doe@example.com","phone":"(555) 123-4567","post_code":12345}`
	got := Preview([]byte(row), 240)
	for _, secret := range []string{"Jane", "jane", "doe", "example", "555", "123", "4567", "12345"} {
		if strings.Contains(got, secret) {
			t.Errorf("preview %q shows %q", got, secret)
		}
	}
	for _, want := range []string{`"id":"0B7E2A3C-1111-4222-8333-9AAAA0000666"`, `"first_name":"xxxx"`, `"email":"xxxx.xxx@xxxxxxx.xxx"`, `"phone":"(999) 999-9999"`, `"post_code":99999`} {
		if !strings.Contains(got, want) {
			t.Errorf("preview %q lacks %q", got, want)
		}
	}
	long := `{"id":"x@y.z","first_name":"` + strings.Repeat("a", 900<<10) + `"}`
	got = Preview([]byte(long), 240)
	if !strings.Contains(got, `…(921600 chars)`) || len([]rune(got)) > 240 || strings.Contains(got, "x@y.z") {
		t.Errorf("long field: %q", got)
	}
	for in, want := range map[string]string{
		"":                             "(empty)",
		"\xff\xfe\x00garbage":          "(10 bytes, not UTF-8 text)",
		"<html>502 Bad Gateway</html>": "<xxxx>999 xxx xxxxxxx</xxxx>",
		`["Jane",1]`:                   `["xxxx",9]`,
		`{"Jane Doe":true,"a":null}`:   `{"xxxx xxx":true,"a":null}`,
	} {
		if got := Preview([]byte(in), 240); got != want {
			t.Errorf("Preview(%q) = %q, want %q", in, got, want)
		}
	}
	if got := Preview([]byte(strings.Repeat(`{"a":1},`, 1000)), 40); len([]rune(got)) > 40 {
		t.Errorf("text preview of %d runes, want at most 40", len([]rune(got)))
	}
}

func TestQuantileInterpolatesLikeHistogramQuantile(t *testing.T) {
	h := histogram{bounds: []float64{0.1, 0.2, 0.4, math.Inf(1)}, counts: []float64{10, 20, 20, 20}, count: 20}
	for q, want := range map[float64]float64{0.5: 0.1, 0.75: 0.15, 1: 0.2} {
		if got := h.quantile(q); math.Abs(got-want) > 1e-9 {
			t.Errorf("quantile(%v) = %v, want %v", q, got, want)
		}
	}
	if got := (histogram{}).quantile(0.5); !math.IsNaN(got) {
		t.Errorf("empty: %v", got)
	}
}

type fakeRuns []runledger.Run

func (f fakeRuns) Recent(_ context.Context, n int) ([]runledger.Run, error) {
	return f[:min(n, len(f))], nil
}

type failingDLQ struct{}

func (failingDLQ) Latest(context.Context, dlq.Selection, int) ([]dlq.Letter, error) {
	return nil, errors.New("dead-letter topic unreachable")
}

// status.json reports totals, rates between samples, lag by partition,
// latency, the runs and a source's error; the page and its files are
// served with a policy that loads nothing from elsewhere.
func TestStatusFromARegistry(t *testing.T) {
	reg := prometheus.NewRegistry()
	stored := prometheus.NewCounter(prometheus.CounterOpts{Name: "userstream_rows_stored_total"})
	lag := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "userstream_consumer_lag"}, []string{"group", "topic", "partition"}) // kafkasink's labels
	lat := prometheus.NewHistogram(prometheus.HistogramOpts{Name: "userstream_fetch_to_store_seconds", Buckets: []float64{0.01, 0.1, 1}})
	reg.MustRegister(stored, lag, lat)
	c, err := New(WithGatherer(reg), WithRuns(fakeRuns{{RunID: "full-1", Kind: "full", Status: "succeeded", Stored: 7}}),
		WithDeadLetters(failingDLQ{}))
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	c.sampleIfDue(t0)
	stored.Add(500)
	lag.WithLabelValues("g", "users", "10").Set(3)
	lag.WithLabelValues("g", "users", "2").Set(4)
	lat.Observe(0.05)
	st := c.status(context.Background(), t0.Add(time.Second))

	var storedView stageView
	for _, s := range st.Stages {
		if s.Name == "stored" {
			storedView = s
		}
		if s.Name == "fetched" && s.Total != nil {
			t.Errorf("fetched is absent from the registry, shown as %v", *s.Total)
		}
	}
	if storedView.Total == nil || *storedView.Total != 500 || storedView.Rate == nil || *storedView.Rate != 500 {
		t.Errorf("stored %+v, want 500 at 500/s", storedView)
	}
	if st.Lag == nil || st.Lag.Total != 7 || len(st.Lag.Partitions) != 2 || st.Lag.Partitions[0].Partition != "2" {
		t.Errorf("lag %+v, want 7 over partitions 2 and 10 in order", st.Lag)
	}
	if st.Latency == nil || st.Latency.All[0] == nil || *st.Latency.All[0] <= 0.01 || *st.Latency.All[0] > 0.1 {
		t.Errorf("latency %+v", st.Latency)
	}
	if len(st.Chart.Rate) != 1 || st.Chart.Rate[0] != 500 || st.Chart.Lag[0] != 7 {
		t.Errorf("chart %+v", st.Chart)
	}
	if len(st.Runs) != 1 || st.Runs[0].Stored != 7 || st.DLQError != "dead-letter topic unreachable" {
		t.Errorf("runs %+v, dead letters error %q", st.Runs, st.DLQError)
	}

	srv := httptest.NewServer(http.StripPrefix("/console", c))
	defer srv.Close()
	for path, ctype := range map[string]string{"/console/": "text/html", "/console/console.js": "text/javascript", "/console/console.css": "text/css", "/console/status.json": "application/json"} {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		var body map[string]any
		if path == "/console/status.json" {
			if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || body["title"] != "userstream" {
				t.Errorf("status.json: %v %v", err, body["title"])
			}
		}
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), ctype) || !strings.Contains(resp.Header.Get("Content-Security-Policy"), "default-src 'self'") {
			t.Errorf("GET %s: %d %q %q", path, resp.StatusCode, resp.Header.Get("Content-Type"), resp.Header.Get("Content-Security-Policy"))
		}
	}
	if resp, err := http.Get(srv.URL + "/console/elsewhere"); err != nil || resp.StatusCode != 404 {
		t.Errorf("unknown path: %v %v", resp, err)
	}
}

// However many pages poll, the registry is gathered about once per
// interval.
func TestSamplesOncePerInterval(t *testing.T) {
	c, err := New(WithGatherer(prometheus.NewRegistry()), WithInterval(time.Second), WithHistory(3*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	for i := range 100 {
		c.sampleIfDue(t0.Add(time.Duration(i) * 100 * time.Millisecond))
	}
	if len(c.samples) != 4 { // history/interval + 1, the ring full
		t.Errorf("%d samples, want 4", len(c.samples))
	}
	for i := 1; i < len(c.samples); i++ {
		if d := c.samples[i].at.Sub(c.samples[i-1].at); d < 900*time.Millisecond {
			t.Errorf("samples %v apart, want about an interval", d)
		}
	}
}

func TestNewRejectsBadOptions(t *testing.T) {
	for _, opts := range [][]Opt{{WithGatherer(nil)}, {WithInterval(0)}, {WithHistory(time.Millisecond)}, {WithPreviewLength(3)}, {WithLimits(-1, 0)}} {
		if _, err := New(opts...); err == nil {
			t.Errorf("New accepted %d bad options", len(opts))
		}
	}
}

// Freshness is the largest age over the hops present, each hop's the
// largest over its label sets; a hop whose metric is absent shows as such,
// and with no hop's metric there is no freshness.
func TestFreshness(t *testing.T) {
	reg := prometheus.NewRegistry()
	c, err := New(WithGatherer(reg))
	if err != nil {
		t.Fatal(err)
	}
	if st := c.status(context.Background(), time.Now()); st.Freshness != nil {
		t.Errorf("freshness %+v without its metrics, want none", st.Freshness)
	}

	kafka := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "userstream_consumer_oldest_unstored_seconds"}, []string{"group", "topic"}) // kafkasink's labels
	reg.MustRegister(kafka)
	kafka.WithLabelValues("store", "users").Set(12)
	kafka.WithLabelValues("audit", "users").Set(30)
	t0 := time.Now()
	c, _ = New(WithGatherer(reg))
	st := c.status(context.Background(), t0)
	if f := st.Freshness; f == nil || f.Seconds != 30 || len(f.Hops) != 2 || f.Hops[0].Name != "outbox" || f.Hops[0].Seconds != nil ||
		f.Hops[1].Seconds == nil || *f.Hops[1].Seconds != 30 {
		t.Errorf("freshness %+v, want 30 s: kafka 30 (its largest group), outbox absent", f)
	}

	outbox := prometheus.NewGauge(prometheus.GaugeOpts{Name: "userstream_outbox_oldest_pending_seconds"})
	reg.MustRegister(outbox)
	outbox.Set(3600)
	st = c.status(context.Background(), t0.Add(time.Second))
	if f := st.Freshness; f == nil || f.Seconds != 3600 || f.Hops[0].Seconds == nil || *f.Hops[0].Seconds != 3600 {
		t.Errorf("freshness %+v, want 3600 s from the outbox", f)
	}
}
