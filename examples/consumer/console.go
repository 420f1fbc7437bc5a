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
	"github.com/userstream/userstream/kafkasink/dlq"
	"github.com/userstream/userstream/runledger"
)

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
	c, err := console.New(console.WithGatherer(p.reg), console.WithRuns(p.ledger), console.WithDeadLetters(p.queue), console.WithTitle("userstream consumer"))
	if err != nil {
		return err
	}
	ctx, p.stopConsole = context.WithCancel(ctx)
	go func() { _ = c.Run(ctx) }()
	p.mux.Handle("/", c)
	return nil
}

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

// startProgress keeps the run's ledger row current, and with -progress
// prints a live line on standard error, until stopped. The lag is the
// group's (every member's commits), as the consumers' lag gauge has it.
func (p *pipeline) startProgress(ctx context.Context, run runledger.Run) (stop func()) {
	lag := "?" // of the last sample; Sample and Line run in one goroutine
	pr := runledger.Progress{Ledger: p.ledger, Logger: p.log, Live: isTerminal(os.Stderr),
		Sample: func(ctx context.Context) runledger.Run {
			lag = "?"
			if l, err := p.consumers[0].Lag(ctx); err == nil {
				lag = thousands(l)
			}
			return p.counted(run)
		}}
	if p.cfg.progress {
		pr.Line = func(r runledger.Run, elapsed time.Duration) string {
			return fmt.Sprintf("%5.0fs  stored %s  dlq %s  lag %s  %s/s", elapsed.Seconds(),
				thousands(r.Stored), thousands(r.DeadLettered), lag, thousands(int64(float64(r.Stored)/elapsed.Seconds())))
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
	fmt.Fprintf(w, "  stored       %s rows in Cassandra %s.%s\n", thousands(r.Stored), c.keyspace, c.table)
	fmt.Fprintf(w, "  dead-letter  %s records this run\n", thousands(r.DeadLettered))
}

// thousands formats n with thousands separators, readable at a glance.
func thousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	for i := len(s) - 3; i > 0 && s[i-1] != '-'; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
