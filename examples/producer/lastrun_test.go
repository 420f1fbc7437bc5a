package main

import (
	"bytes"
	"context"
	"log/slog"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/userstream/userstream/internal/testenv"
)

// userstream_last_successful_run_timestamp_seconds, which the alert
// UserstreamNoSuccessfulRun (examples/prometheus) reads, is 0 until a run
// has succeeded, then the time it did.
func TestLastSuccessfulRunGaugeMoves(t *testing.T) {
	const gauge = "userstream_last_successful_run_timestamp_seconds"
	name := testenv.Name(t, "lastrun")
	cfg := config{
		brokers: testenv.KafkaBrokers(t), postgresDSN: testenv.PostgresDSN(t),
		topic: name, dlqTopic: name + "_dlq", partitions: 1, replication: 1, pgSchema: name,
		offline: true, users: 100, seed: "lastrun-" + name[len(name)-8:], pageSize: 100,
		metricsAddr: freeAddr(t),
	}
	t.Cleanup(func() { cleanup(cfg) })
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	// Before any run: 0, registered by the ledger the producer opens.
	reg := prometheus.NewRegistry()
	quiet := cfg
	quiet.metricsAddr = "" // the run below serves it
	p, err := open(ctx, quiet, slog.New(slog.DiscardHandler), reg)
	if err != nil {
		t.Fatal(err)
	}
	p.close()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, mf := range mfs {
		if mf.GetName() == gauge {
			found = true
			if v := mf.GetMetric()[0].GetGauge().GetValue(); v != 0 {
				t.Errorf("%s = %v before any run, want 0", gauge, v)
			}
		}
	}
	if !found {
		t.Fatalf("%s is not registered", gauge)
	}

	before := time.Now()
	var out bytes.Buffer
	if err := run(ctx, cfg, slog.New(slog.DiscardHandler), &out); err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	var value float64 = -1
	for _, line := range strings.Split(get(t, "http://"+cfg.metricsAddr+"/metrics"), "\n") {
		if v, ok := strings.CutPrefix(line, gauge+" "); ok {
			value, _ = strconv.ParseFloat(v, 64)
		}
	}
	if at := time.Unix(0, int64(value*1e9)); at.Before(before.Truncate(time.Second)) || at.After(time.Now()) {
		t.Errorf("%s = %v after a successful run, want its time (between %v and now)", gauge, value, before)
	}
}
