package pipeline

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
)

// Main is the body of the producer and consumer examples: it registers
// flags with register, parses os.Args, sets up the logger at -log-level
// (default level), and calls run with a context that ends on SIGINT or
// SIGTERM. An error is printed as "name: error" and exits 1.
func Main(name, level string, register func(*Config, *flag.FlagSet),
	run func(context.Context, Config, *slog.Logger, io.Writer) error) {
	var cfg Config
	fs := flag.NewFlagSet(name, flag.ExitOnError)
	register(&cfg, fs)
	lvl := fs.String("log-level", level, "log level: debug, info, warn or error")
	_ = fs.Parse(os.Args[1:])
	log, err := NewLogger(*lvl)
	if err == nil {
		slog.SetDefault(log)
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		err = run(ctx, cfg, log, os.Stdout)
		stop()
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
		os.Exit(1)
	}
}
