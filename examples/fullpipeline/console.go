package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/userstream/userstream/console"
	"github.com/userstream/userstream/kafkasink/dlq"
)

// serveMetrics serves /metrics, /healthz and /debug/pprof on addr until ctx
// ends (package console), from the start, and returns its mux, where the
// status page goes once the pipeline is open. /metrics serves reg, the
// components' series, and the Go runtime's and the process's
// (process_start_time_seconds, which an alert reads) from a registry of
// their own: the status page gathers reg every second, without the cost
// of reading /proc.
func serveMetrics(ctx context.Context, reg *prometheus.Registry, addr string, log *slog.Logger) (*http.ServeMux, error) {
	runtime := prometheus.NewRegistry()
	runtime.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	mux := http.NewServeMux()
	console.Handle(mux, prometheus.Gatherers{reg, runtime})
	srv, err := console.Serve(ctx, addr, mux)
	if err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	log.Info("metrics listening", "addr", srv.Addr().String(), "paths", "/ (console) /metrics /healthz")
	return mux, nil
}

// serveConsole puts the status page at / beside /metrics, over the
// process's metrics, its run ledger and its dead-letter topic, and samples
// its chart until ctx ends. The dead letters are read by kafkasink/dlq, the
// package that lists and redrives them (examples/dlq): the page shows what
// `dlq list` would.
func (p *pipeline) serveConsole(ctx context.Context, mux *http.ServeMux, reg prometheus.Gatherer) error {
	q, err := dlq.New(p.cfg.brokers, dlq.WithDLQTopic(p.cfg.dlqTopic), dlq.WithClientOpts(p.kafka.ClientOpts...))
	if err != nil {
		return err
	}
	c, err := console.New(console.WithGatherer(reg), console.WithRuns(p.ledger), console.WithDeadLetters(q),
		console.WithTitle("userstream fullpipeline"))
	if err != nil {
		q.Close()
		return err
	}
	go func() {
		_ = c.Run(ctx)
		q.Close()
	}()
	mux.Handle("/", c)
	return nil
}
