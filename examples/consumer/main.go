// Command consumer is the storing half of the pipeline, the seed's Spark
// job: it consumes users_created in a consumer group, validates each record
// (poison goes to users_created.dlq) and upserts the rows into Cassandra,
// committing offsets only after they are stored. Run several (or
// -consumers N) to share the partitions. It runs until SIGINT or SIGTERM,
// then finishes and commits its batch.
//
//	consumer -group userstream-cassandra -consumers 3
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
	fs := flag.NewFlagSet("consumer", flag.ExitOnError)
	cfg.ServerFlags(fs)
	cfg.ConsumeFlags(fs)
	level := fs.String("log-level", "info", "log level: debug, info, warn or error")
	_ = fs.Parse(os.Args[1:])
	log, err := pipeline.NewLogger(*level)
	if err == nil {
		slog.SetDefault(log)
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		err = pipeline.RunConsume(ctx, cfg, log, os.Stdout)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "consumer:", err)
		os.Exit(1)
	}
}
