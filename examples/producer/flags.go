package main

import (
	"flag"
	"fmt"
	"log/slog"
	"math"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/sr"

	"github.com/userstream/userstream/kafkasink"
	"github.com/userstream/userstream/randomuser"
)

// Where the servers are, and how they replicate: flags, else these
// variables, else the local stack's addresses (examples/compose.yaml
// publishes the same ports) and a single node's replication.
const (
	envKafkaBrokers   = "USERSTREAM_KAFKA_BROKERS"
	envSchemaRegistry = "USERSTREAM_SCHEMA_REGISTRY_URL"
	envPostgresDSN    = "USERSTREAM_POSTGRES_DSN"
	envReplication    = "USERSTREAM_REPLICATION"

	defaultKafkaBrokers = "127.0.0.1:9092"
	defaultPostgresDSN  = "postgres://userstream:userstream@127.0.0.1:5432/userstream?sslmode=disable"
	defaultMetricsAddr  = "127.0.0.1:9464"
)

// defaultMemoryLimit is the default soft limit of the Go runtime's memory
// (-memory-limit). Left to GOGC alone the heap grows to twice the live heap
// between collections; the limit makes the collector run sooner, for the
// same CPU (BENCHMARKS.md).
const defaultMemoryLimit = 40 << 20

// config is what the command is configured with.
type config struct {
	// Servers. The DSN comes from USERSTREAM_POSTGRES_DSN only, never a
	// flag: a flag's value shows in ps, and a DSN may carry a password.
	brokers []string
	// schemaRegistry, when set, is the URL of a schema registry with the
	// Confluent API: kafkasink\'s registry mode (Confluent wire format).
	schemaRegistry string
	postgresDSN    string

	// Names.
	topic, dlqTopic string
	partitions      int
	replication     int
	pgSchema        string

	// Ingest.
	apiURL   string
	offline  bool
	users    int
	seed     string
	pageSize int
	nat      string
	rate     float64       // offered users per second; 0: as fast as the API allows
	every    time.Duration // run on this schedule; 0: once
	runs     int           // with every, stop after this many runs; 0: no limit

	// Operation.
	memoryLimit int64
	metricsAddr string
	progress    bool
	logLevel    string
}

// parseFlags reads the command line into a config.
func parseFlags(fs *flag.FlagSet, args []string) (config, error) {
	var c config
	brokers := fs.String("brokers", envOr(envKafkaBrokers, defaultKafkaBrokers), "Kafka seed brokers, comma-separated (env "+envKafkaBrokers+")")
	fs.StringVar(&c.schemaRegistry, "schema-registry", envOr(envSchemaRegistry, ""), "URL of a schema registry with the Confluent API, e.g. http://127.0.0.1:8081/apis/ccompat/v7 (env "+envSchemaRegistry+"): records in the Confluent wire format, the value schema registered under <topic>-value; empty: plain JSON records")
	c.postgresDSN = envOr(envPostgresDSN, defaultPostgresDSN)

	fs.StringVar(&c.topic, "topic", kafkasink.DefaultTopic, "Kafka topic of the users")
	fs.StringVar(&c.dlqTopic, "dlq-topic", "", "dead-letter topic of the topic's consumers, created with it (default: the topic followed by "+kafkasink.DLQSuffix+")")
	fs.IntVar(&c.partitions, "partitions", 6, "partitions of the topic when it is created")
	replication, replErr := envInt(envReplication, 1)
	fs.IntVar(&c.replication, "replication", replication, "replication factor of the topics when this creates them (with 3 or more, min.insync.replicas 2); existing ones are left as they are. Production: 3 (env "+envReplication+")")
	fs.StringVar(&c.pgSchema, "pg-schema", "userstream", "PostgreSQL schema of the outbox and run ledger (DSN from env "+envPostgresDSN+")")

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
	fs.Var(byteSize{&c.memoryLimit}, "memory-limit", "soft limit of the process's Go memory, as in GOMEMLIMIT (e.g. 40MiB); 0 means none; GOMEMLIMIT in the environment wins")
	fs.StringVar(&c.metricsAddr, "metrics-addr", defaultMetricsAddr, "address of the /metrics and /healthz endpoint; empty disables it")
	fs.BoolVar(&c.progress, "progress", isTerminal(os.Stderr), "print a live progress line on standard error (default: when it is a terminal)")
	fs.StringVar(&c.logLevel, "log-level", "warn", "log level: debug, info, warn or error")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	c.brokers = splitList(*brokers)
	if c.dlqTopic == "" { // as kafkasink's default
		c.dlqTopic = c.topic + kafkasink.DLQSuffix
	}
	if replErr != nil {
		return c, replErr
	}
	if c.replication < 1 || c.replication > math.MaxInt16 {
		return c, fmt.Errorf("-replication %d: want 1 to %d", c.replication, math.MaxInt16)
	}
	return c, nil
}

// registryOpts returns the kafkasink option of -schema-registry: none
// for plain JSON records, else registry mode with a client of the URL.
func registryOpts(url string) ([]kafkasink.ProducerOpt, error) {
	if url == "" {
		return nil, nil
	}
	cl, err := sr.NewClient(sr.URLs(url))
	if err != nil {
		return nil, fmt.Errorf("schema registry %s: %w", url, err)
	}
	return []kafkasink.ProducerOpt{kafkasink.WithSchemaRegistry(cl)}, nil
}

// envInt returns the integer in the variable name, def when it is unset.
func envInt(name string, def int) (int, error) {
	v := strings.TrimSpace(os.Getenv(name))
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return def, fmt.Errorf("%s=%q: want an integer", name, v)
	}
	return n, nil
}

func envOr(name, def string) string {
	if v := strings.TrimSpace(os.Getenv(name)); v != "" {
		return v
	}
	return def
}

func splitList(s string) []string {
	var out []string
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}

func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// newLogger returns a text logger on standard error at the named level.
func newLogger(level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("log level %q: %w", level, err)
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: l})), nil
}

// setMemoryLimit applies -memory-limit unless GOMEMLIMIT is set (the
// runtime has applied it already) or the limit is 0.
func setMemoryLimit(c config, log *slog.Logger) {
	if c.memoryLimit > 0 && os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(c.memoryLimit)
		log.Debug("soft memory limit set", "bytes", c.memoryLimit)
	}
}

// byteSize is a flag.Value of bytes with an optional GOMEMLIMIT-style
// suffix: B, KiB, MiB, GiB or TiB.
type byteSize struct{ p *int64 }

func (b byteSize) String() string {
	if b.p == nil {
		return ""
	}
	n := *b.p
	for _, u := range []string{"B", "KiB", "MiB", "GiB"} {
		if n%1024 != 0 || n < 1024 {
			return strconv.FormatInt(n, 10) + u
		}
		n /= 1024
	}
	return strconv.FormatInt(n, 10) + "TiB"
}

func (b byteSize) Set(s string) error {
	num, mult := strings.TrimSpace(s), int64(1)
	for i, u := range []string{"KiB", "MiB", "GiB", "TiB"} {
		if v, ok := strings.CutSuffix(num, u); ok {
			num, mult = v, 1<<(10*(i+1))
			break
		}
	}
	n, err := strconv.ParseInt(strings.TrimSuffix(num, "B"), 10, 64)
	if err != nil || n < 0 || n > math.MaxInt64/mult {
		return fmt.Errorf("%q: want a size such as 40MiB, or 0", s)
	}
	*b.p = n * mult
	return nil
}
