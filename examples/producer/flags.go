package main

import (
	"cmp"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/userstream/userstream/connect"
	"github.com/userstream/userstream/kafkasink"
	"github.com/userstream/userstream/memlimit"
	"github.com/userstream/userstream/randomuser"
)

const defaultMetricsAddr = "127.0.0.1:9464"

// defaultMemoryLimit is the default soft limit of the Go runtime's memory
// (-memory-limit). Left to GOGC alone the heap grows to twice the live heap
// between collections; the limit makes the collector run sooner, for the
// same CPU (BENCHMARKS.md).
const defaultMemoryLimit = 40 << 20

// config is what the command is configured with.
type config struct {
	// Servers. The DSN comes from USERSTREAM_POSTGRES_DSN only, never a
	// flag: a flag's value shows in ps, and a DSN may carry a password.
	// schemaRegistry, when set, is the URL of a schema registry with the
	// Confluent API: kafkasink's registry mode (Confluent wire format).
	brokers                     []string
	schemaRegistry, postgresDSN string
	// Names.
	topic, dlqTopic, pgSchema string
	partitions, replication   int
	// Ingest. rate: offered users per second, 0 as fast as the API allows;
	// every: the schedule, 0 once; runs: with every, how many, 0 no limit.
	apiURL, seed, nat     string
	offline               bool
	users, pageSize, runs int
	rate                  float64
	every                 time.Duration
	// Operation.
	memoryLimit           int64
	metricsAddr, logLevel string
	progress              bool
}

// parseFlags reads the command line into a config.
func parseFlags(fs *flag.FlagSet, args []string) (config, error) {
	var c config
	// Where the servers are: flags, else USERSTREAM_* variables, else the
	// local stack's (package connect). The DSN never comes from a flag.
	srv, envErr := connect.FromEnv()
	srv.KafkaFlags(fs)
	fs.StringVar(&c.topic, "topic", kafkasink.DefaultTopic, "Kafka topic of the users")
	fs.StringVar(&c.dlqTopic, "dlq-topic", "", "dead-letter topic of the topic's consumers, created with it (default: the topic followed by "+kafkasink.DLQSuffix+")")
	fs.IntVar(&c.partitions, "partitions", 6, "partitions of the topic when it is created")
	fs.IntVar(&c.replication, "replication", srv.Replication, "replication factor of the topics when this creates them (with 3 or more, min.insync.replicas 2); existing ones are left as they are. Production: 3 (env "+connect.EnvReplication+")")
	fs.StringVar(&c.pgSchema, "pg-schema", "userstream", "PostgreSQL schema of the outbox and run ledger (DSN from env "+connect.EnvPostgresDSN+")")
	fs.StringVar(&c.apiURL, "api-url", randomuser.DefaultBaseURL, "base URL of the Random User API")
	fs.BoolVar(&c.offline, "offline", false, "serve the Random User API from an in-process compatible server instead of -api-url")
	fs.IntVar(&c.users, "users", 100000, "users to fetch per run")
	fs.StringVar(&c.seed, "seed", "userstream", "API seed: the same seed fetches the same users (runs are idempotent); empty means a new seed per run")
	fs.IntVar(&c.pageSize, "page-size", randomuser.MaxResults, "users per API request (1-5000)")
	fs.StringVar(&c.nat, "nat", "", "nationalities, comma-separated (default all)")
	fs.Float64Var(&c.rate, "rate", 0, "offered load in users per second; 0 fetches as fast as the API allows")
	fs.DurationVar(&c.every, "every", 0, "run on this schedule (like the seed's DAG); 0 runs once")
	fs.IntVar(&c.runs, "runs", 0, "with -every, stop after this many runs; 0 means until interrupted")
	c.memoryLimit = defaultMemoryLimit
	fs.Var(memlimit.Size(&c.memoryLimit), "memory-limit", "soft limit of the process's Go memory, as in GOMEMLIMIT (e.g. 40MiB); 0 means none; GOMEMLIMIT in the environment wins")
	fs.StringVar(&c.metricsAddr, "metrics-addr", defaultMetricsAddr, "address of the /metrics and /healthz endpoint; empty disables it")
	fs.BoolVar(&c.progress, "progress", isTerminal(os.Stderr), "print a live progress line on standard error (default: when it is a terminal)")
	fs.StringVar(&c.logLevel, "log-level", "warn", "log level: debug, info, warn or error")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	c.brokers, c.schemaRegistry, c.postgresDSN = srv.KafkaBrokers, srv.SchemaRegistryURL, srv.PostgresDSN
	c.dlqTopic = cmp.Or(c.dlqTopic, kafkasink.DLQTopicFor(c.topic)) // as kafkasink's default
	return c, errors.Join(envErr, connect.CheckReplication(c.replication))
}

// servers returns where the configured servers are.
func (c config) servers() connect.Servers {
	return connect.Servers{KafkaBrokers: c.brokers, SchemaRegistryURL: c.schemaRegistry, PostgresDSN: c.postgresDSN, Replication: c.replication}
}

func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// newLogger returns a text logger on standard error at the named level,
// and makes it the default: the standard log package's (gocql's) too.
func newLogger(level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("log level %q: %w", level, err)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: l}))
	slog.SetDefault(log)
	return log, nil
}
