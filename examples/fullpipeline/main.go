// Command fullpipeline runs the whole userstream pipeline in one process:
//
//	Random User API → PostgreSQL outbox → Kafka users_created → consumer → Cassandra
//
// It fetches -users users (default 100,000) with a fixed -seed, so a second
// run fetches the same users and changes nothing; then verifies that every
// unique user fetched is in Cassandra and prints a summary. Servers come from
// USERSTREAM_KAFKA_BROKERS, USERSTREAM_CASSANDRA_HOSTS and
// USERSTREAM_POSTGRES_DSN (flags override the first two). These machines
// have no internet: -offline serves the API from an in-process compatible
// server.
//
//	fullpipeline -offline -users 100000
//	fullpipeline -offline -every 1h -runs 24   # scheduled, like the seed's DAG
//
// SIGINT or SIGTERM stops it gracefully: staged users stay in the outbox,
// consumers finish and commit their batch, nothing is lost; the next run
// carries on. The run ledger (examples/runs) records every run.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/userstream/userstream/internal/pipeline"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "fullpipeline:", err)
		os.Exit(1)
	}
}

func run() error {
	var cfg pipeline.Config
	fs := flag.NewFlagSet("fullpipeline", flag.ExitOnError)
	cfg.ServerFlags(fs)
	cfg.IngestFlags(fs)
	cfg.ConsumeFlags(fs)
	level := fs.String("log-level", "warn", "log level: debug, info, warn or error")
	report := fs.String("report", "", "also write the runs' reports as JSON to this file (for benchmarks)")
	_ = fs.Parse(os.Args[1:])
	log, err := pipeline.NewLogger(*level)
	if err != nil {
		return err
	}
	slog.SetDefault(log)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	reports, err := pipeline.RunFull(ctx, cfg, log, os.Stdout)
	if *report != "" {
		b, jerr := json.MarshalIndent(reports, "", "  ")
		if jerr == nil {
			jerr = os.WriteFile(*report, b, 0o644)
		}
		err = errors.Join(err, jerr)
	}
	if err != nil {
		return err
	}
	for _, r := range reports {
		if r.Status != pipeline.StatusSucceeded {
			return fmt.Errorf("run %s %s", r.RunID, r.Status)
		}
	}
	return nil
}
