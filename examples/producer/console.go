package main

import (
	"context"
	"fmt"
	"net/http"

	"github.com/userstream/userstream/console"
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
// process's metrics and its run ledger, and samples its chart until the
// pipeline closes. The producer has no dead letters: the consumers' pages
// show them.
func (p *pipeline) serveConsole(ctx context.Context) error {
	if p.mux == nil {
		return nil
	}
	c, err := console.New(console.WithGatherer(p.reg), console.WithRuns(p.ledger), console.WithTitle("userstream producer"))
	if err != nil {
		return err
	}
	ctx, p.stopConsole = context.WithCancel(ctx)
	go func() { _ = c.Run(ctx) }()
	p.mux.Handle("/", c)
	return nil
}
