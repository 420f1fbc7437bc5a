// Command producer is the ingest half of the pipeline, the seed's Airflow
// task: it fetches users from the Random User API, stages them in the
// PostgreSQL outbox and relays them to the Kafka topic users_created, once or
// on a schedule (-every). Run examples/consumer to store them in Cassandra.
//
//	producer -offline -users 20000 -every 24h
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/userstream/userstream/internal/pipeline"
)

func main() {
	var cfg pipeline.Config
	fs := flag.NewFlagSet("producer", flag.ExitOnError)
	cfg.ServerFlags(fs)
	cfg.IngestFlags(fs)
	level := fs.String("log-level", "warn", "log level: debug, info, warn or error")
	_ = fs.Parse(os.Args[1:])
	log, err := pipeline.NewLogger(*level)
	if err == nil {
		slog.SetDefault(log)
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		err = pipeline.RunIngest(ctx, cfg, log, os.Stdout)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "producer:", err)
		os.Exit(1)
	}
}
