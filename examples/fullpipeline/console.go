package main

import (
	"context"
	"fmt"
	"net/http"

	"github.com/userstream/userstream/console"
	"github.com/userstream/userstream/kafkasink/dlq"
)

// serveMetrics serves /metrics (the registry's series and the Go
// runtime's), /healthz and /debug/pprof on -metrics-addr until ctx ends
// (package console); the status page comes at / once the pipeline is open.
func (p *pipeline) serveMetrics(ctx context.Context) error {
	if p.cfg.metricsAddr == "" {
		return nil
	}
	p.mux = http.NewServeMux()
	console.Handle(p.mux, p.reg)
	srv, err := console.Serve(ctx, p.cfg.metricsAddr, p.mux)
	if err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	p.log.Info("metrics listening", "addr", srv.Addr().String(), "paths", "/ (console) /metrics /healthz")
	return nil
}

// serveConsole puts the status page at / beside /metrics, over the
// process's metrics, its run ledger and its dead-letter topic, and samples
// its chart until the pipeline closes. The dead letters are read by
// kafkasink/dlq, the package that lists and redrives them (examples/dlq):
// the page shows what `dlq list` would.
func (p *pipeline) serveConsole(ctx context.Context) (err error) {
	if p.mux == nil {
		return nil
	}
	if p.queue, err = dlq.New(p.cfg.brokers, dlq.WithDLQTopic(p.cfg.dlqTopic), dlq.WithClientOpts(p.kafka.ClientOpts...)); err != nil {
		return err
	}
	c, err := console.New(console.WithGatherer(p.reg), console.WithRuns(p.ledger), console.WithDeadLetters(p.queue), console.WithTitle("userstream fullpipeline"))
	if err != nil {
		return err
	}
	ctx, p.stopConsole = context.WithCancel(ctx)
	go func() { _ = c.Run(ctx) }()
	p.mux.Handle("/", c)
	return nil
}
