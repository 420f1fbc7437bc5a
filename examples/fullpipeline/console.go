package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/userstream/userstream/console"
	"github.com/userstream/userstream/explain"
	"github.com/userstream/userstream/kafkasink/dlq"
	"github.com/userstream/userstream/runledger"
)

// report is what one run did, as the summary shows it and -report writes
// it.
type report struct {
	runledger.Run
	// Updated counts, of Staged, the new versions of users staged before
	// (ingest.Result.Updated): users whose content changed.
	Updated      int64
	Duration     time.Duration
	Verification *verification // nil when not verified
	TableRows    int64         // rows in the table after the run (-1 when not counted)
	DeadLetters  int64         // records in the dead-letter topic
	P50, P99     time.Duration // fetch-to-stored latency
}

func writeReports(path string, reports []report) error {
	b, err := json.MarshalIndent(reports, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o644)
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

// serveConsole puts the status page at / beside /metrics, over the
// process's metrics, its run ledger and its dead-letter topic, and samples
// its chart until the pipeline closes. The dead letters are read by
// kafkasink/dlq, the package that lists and redrives them (examples/dlq):
// the page shows what `dlq list` would. Its search box explains one user
// (package explain).
func (p *pipeline) serveConsole(ctx context.Context) (err error) {
	if p.mux == nil {
		return nil
	}
	if p.queue, err = dlq.New(p.cfg.brokers, dlq.WithDLQTopic(p.cfg.dlqTopic), dlq.WithClientOpts(p.kafka.ClientOpts...)); err != nil {
		return err
	}
	// The search box: one user's evidence, hop by hop (package explain,
	// as examples/explain prints it).
	ex, err := explain.New(p.outbox, p.store, append([]kgo.Opt{kgo.SeedBrokers(p.cfg.brokers...)}, p.kafka.ClientOpts...),
		explain.WithRuns(p.ledger), explain.WithDeadLetters(p.queue), explain.WithConsumerGroup(p.cfg.group))
	if err != nil {
		return err
	}
	c, err := console.New(console.WithGatherer(p.reg), console.WithRuns(p.ledger), console.WithDeadLetters(p.queue),
		console.WithExplainer(ex), console.WithTitle("userstream fullpipeline"))
	if err != nil {
		return err
	}
	ctx, p.stopConsole = context.WithCancel(ctx)
	go func() { _ = c.Run(ctx) }()
	p.mux.Handle("/", c)
	return nil
}

// startProgress keeps the run's ledger row current, and with -progress
// prints a live line on standard error, until stopped. The lag is the
// group's (every member's commits), as the consumers' lag gauge has it.
func (p *pipeline) startProgress(ctx context.Context, run, base runledger.Run) (stop func()) {
	var lag int64 = -1 // of the last sample; Sample and Line run in one goroutine
	pr := runledger.Progress{Ledger: p.ledger, Logger: p.log, Live: isTerminal(os.Stderr),
		Sample: func(ctx context.Context) runledger.Run {
			lag = -1
			if l, err := p.consumers[0].Lag(ctx); err == nil {
				lag = l
			}
			return p.counted(run, base)
		}}
	if p.cfg.progress {
		pr.Line = func(r runledger.Run, elapsed time.Duration) string { return progressLine(r, lag, elapsed) }
	}
	return pr.Start(ctx, run)
}

func progressLine(r runledger.Run, lag int64, elapsed time.Duration) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%5.0fs  fetched %s  staged %s (dup %s)  published %s  stored %s  dlq %s",
		elapsed.Seconds(), thousands(r.Fetched), thousands(r.Staged), thousands(r.Duplicates), thousands(r.Published),
		thousands(r.Stored), thousands(r.DeadLettered))
	if lag >= 0 {
		fmt.Fprintf(&b, "  lag %s", thousands(lag))
	}
	rate := r.Stored
	if rate == 0 {
		rate = r.Fetched
	}
	fmt.Fprintf(&b, "  %s/s", thousands(int64(float64(rate)/max(elapsed.Seconds(), 0.001))))
	return b.String()
}

// writeSummary prints what a run did and what the check found.
func writeSummary(w io.Writer, c config, r report) {
	fmt.Fprintf(w, "\nrun %s: %s in %s\n", r.RunID, r.Status, r.Duration.Round(time.Millisecond))
	if r.Error != "" {
		fmt.Fprintf(w, "  error        %s\n", r.Error)
	}
	fmt.Fprintf(w, "  fetched      %s users (%s invalid)\n", thousands(r.Fetched), thousands(r.Invalid))
	fmt.Fprintf(w, "  staged       %s new and %s updated users in PostgreSQL, %s unchanged (duplicates)\n",
		thousands(r.Staged-r.Updated), thousands(r.Updated), thousands(r.Duplicates))
	fmt.Fprintf(w, "  published    %s to Kafka topic %s\n", thousands(r.Published), c.topic)
	fmt.Fprintf(w, "  stored       %s rows in Cassandra %s.%s\n", thousands(r.Stored), c.keyspace, c.table)
	fmt.Fprintf(w, "  dead-letter  %s records this run", thousands(r.DeadLettered))
	if r.Verification != nil {
		fmt.Fprintf(w, "; %s in %s in all", thousands(r.DeadLetters), c.dlqTopic)
	}
	fmt.Fprintln(w)
	if secs := r.Duration.Seconds(); secs > 0 && r.Stored > 0 {
		fmt.Fprintf(w, "  throughput   %s users/s fetched to stored", thousands(int64(float64(r.Stored)/secs)))
		if r.P99 > 0 {
			fmt.Fprintf(w, "; latency fetch to stored p50 %s, p99 %s", r.P50.Round(time.Millisecond), r.P99.Round(time.Millisecond))
		}
		fmt.Fprintln(w)
	}
	if v := r.Verification; v != nil {
		fmt.Fprintf(w, "  verified     %s of %s unique users fetched are in %s.%s; the table holds %s rows\n",
			thousands(int64(v.Found)), thousands(int64(v.Unique)), c.keyspace, c.table, thousands(r.TableRows))
		for _, id := range v.Missing {
			fmt.Fprintf(w, "  missing      %s\n", id)
		}
		if v.Stale > 0 {
			fmt.Fprintf(w, "  stale        %s rows are not the version fetched last\n", thousands(int64(v.Stale)))
		}
		for _, id := range v.StaleIDs {
			fmt.Fprintf(w, "  stale        %s\n", id)
		}
		for _, s := range v.Samples {
			fmt.Fprintf(w, "  sample       %s  %s %s <%s>, %s\n", s.ID, s.FirstName, s.LastName, s.Email, s.Address)
		}
	}
}

// thousands formats n with thousands separators, readable at a glance.
func thousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	for i := len(s) - 3; i > 0 && s[i-1] != '-'; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
