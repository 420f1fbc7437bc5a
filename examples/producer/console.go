package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/userstream/userstream/console"
	"github.com/userstream/userstream/runledger"
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

// startProgress keeps the run's ledger row current, and with -progress
// prints a live line on standard error, until stopped.
func (p *pipeline) startProgress(ctx context.Context, run, base runledger.Run) (stop func()) {
	pr := runledger.Progress{Ledger: p.ledger, Logger: p.log, Live: isTerminal(os.Stderr),
		Sample: func(context.Context) runledger.Run { return p.counted(run, base) }}
	if p.cfg.progress {
		pr.Line = func(r runledger.Run, elapsed time.Duration) string {
			return fmt.Sprintf("%5.0fs  fetched %s  staged %s (dup %s)  published %s  %s/s", elapsed.Seconds(),
				thousands(r.Fetched), thousands(r.Staged), thousands(r.Duplicates), thousands(r.Published),
				thousands(int64(float64(r.Fetched)/elapsed.Seconds())))
		}
	}
	return pr.Start(ctx, run)
}

// writeSummary prints what a run did.
func writeSummary(w io.Writer, c config, r runledger.Run, took time.Duration) {
	fmt.Fprintf(w, "\nrun %s: %s in %s\n", r.RunID, r.Status, took.Round(time.Millisecond))
	if r.Error != "" {
		fmt.Fprintf(w, "  error        %s\n", r.Error)
	}
	fmt.Fprintf(w, "  fetched      %s users (%s invalid)\n", thousands(r.Fetched), thousands(r.Invalid))
	fmt.Fprintf(w, "  staged       %s new in PostgreSQL, %s already staged (duplicates)\n", thousands(r.Staged), thousands(r.Duplicates))
	fmt.Fprintf(w, "  published    %s to Kafka topic %s\n", thousands(r.Published), c.topic)
}

// thousands formats n with thousands separators, readable at a glance.
func thousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	for i := len(s) - 3; i > 0 && s[i-1] != '-'; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
