package main

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/userstream/userstream/internal/testenv"
	"github.com/userstream/userstream/randomuser/randomusertest"
)

// The metrics the console and the alert rules read move: a fetch the API
// refuses counts in userstream_fetch_errors_total and leaves
// userstream_last_successful_run_timestamp_seconds at 0; a run that
// succeeds sets it to its end.
func TestProducerMetricsForAlerts(t *testing.T) {
	api, err := randomusertest.NewServer()
	if err != nil {
		t.Fatal(err)
	}
	defer api.Close()
	name := testenv.Name(t, "prodm")
	cfg := config{
		brokers: testenv.KafkaBrokers(t), postgresDSN: testenv.PostgresDSN(t),
		topic: name, dlqTopic: name + "_dlq", partitions: 3, replication: 1, pgSchema: name,
		apiURL: api.BaseURL(), users: 1000, seed: "prodm-" + name[len(name)-8:], pageSize: 500,
	}
	t.Cleanup(func() { cleanup(cfg) })
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	// The second page is refused with a 400, which is not retried: the run
	// fails.
	api.Inject(randomusertest.Fault{}, randomusertest.Status(http.StatusBadRequest))
	cfg.metricsAddr = freeAddr(t)
	var out bytes.Buffer
	if err := run(ctx, cfg, slog.New(slog.DiscardHandler), &out); err == nil {
		t.Fatalf("a run whose fetch failed succeeded:\n%s", out.String())
	}
	failed := get(t, "http://"+cfg.metricsAddr+"/metrics")
	if v := metricValue(failed, "userstream_fetch_errors_total"); v != 1 {
		t.Errorf("userstream_fetch_errors_total %v after a refused fetch, want 1", v)
	}
	if v := metricValue(failed, "userstream_last_successful_run_timestamp_seconds"); v != 0 {
		t.Errorf("userstream_last_successful_run_timestamp_seconds %v after a failed run, want 0", v)
	}

	start := time.Now()
	cfg.metricsAddr = freeAddr(t)
	if err := run(ctx, cfg, slog.New(slog.DiscardHandler), &out); err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	ok := get(t, "http://"+cfg.metricsAddr+"/metrics")
	if v := metricValue(ok, "userstream_last_successful_run_timestamp_seconds"); v < float64(start.Unix()) || v > float64(time.Now().Unix()+1) {
		t.Errorf("userstream_last_successful_run_timestamp_seconds %v, want the run's end, after %d", v, start.Unix())
	}
	// The relay runs beside the fetch, so the failed run may or may not
	// have published its first page before it ended: what it did not, the
	// next run does, and together they publish each user once.
	first, second := metricValue(failed, "userstream_users_published_total"), metricValue(ok, "userstream_users_published_total")
	if first != 0 && first != 500 {
		t.Errorf("userstream_users_published_total %v after the failed run, want 0 or its first page's 500", first)
	}
	if first+second != 1000 {
		t.Errorf("userstream_users_published_total %v after the failed run and %v after the next, want 1000 in all", first, second)
	}
}

// metricValue is the value of an unlabelled metric in a /metrics page, -1
// when absent.
func metricValue(page, name string) float64 {
	for _, line := range strings.Split(page, "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err == nil {
				return f
			}
		}
	}
	return -1
}
