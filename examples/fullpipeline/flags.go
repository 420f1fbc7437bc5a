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
	"github.com/userstream/userstream/cassandrastore"

	"github.com/userstream/userstream/kafkasink"
	"github.com/userstream/userstream/randomuser"
)

// Where the servers are, and how they replicate: flags, else these
// variables, else the local stack's addresses (examples/compose.yaml
// publishes the same ports) and a single node's replication.
const (
	envKafkaBrokers   = "USERSTREAM_KAFKA_BROKERS"
	envSchemaRegistry = "USERSTREAM_SCHEMA_REGISTRY_URL"
	envCassandraHosts = "USERSTREAM_CASSANDRA_HOSTS"
	envPostgresDSN    = "USERSTREAM_POSTGRES_DSN"
	envReplication    = "USERSTREAM_REPLICATION"
	envConsistency    = "USERSTREAM_CASSANDRA_CONSISTENCY"
	envInstanceID     = "USERSTREAM_INSTANCE_ID"

	defaultKafkaBrokers   = "127.0.0.1:9092"
	defaultCassandraHosts = "127.0.0.1:9042"
	defaultPostgresDSN    = "postgres://userstream:userstream@127.0.0.1:5432/userstream?sslmode=disable"
	defaultMetricsAddr    = "127.0.0.1:9464"
)

// defaultSessionTimeout is the consumers' group session timeout: how long
// the group waits for a member that stopped heartbeating before it gives
// the member's partitions to the others. franz-go's and Kafka's default is
// 45s, and a member that dies unreplaced holds its partitions that long.
// 6s is the broker's lowest allowed value (group.min.session.timeout.ms):
// here the others store the dead member's partitions about 10s after a
// SIGKILL (RELIABILITY.md). A healthy process is not expired by it:
// franz-go heartbeats from its own goroutine every second whatever the
// handler is doing, so only a process frozen for 6s (stopped, swapped out,
// a paused VM) loses its partitions, and then gets them back on its next
// heartbeat, with its uncommitted records delivered again.
const defaultSessionTimeout = 6 * time.Second

// defaultMemoryLimit is the default soft limit of the Go runtime's memory
// (-memory-limit). At full speed, with 5,000-user pages, the pipeline's
// live heap is 20-30 MB; left to GOGC alone the heap grows to twice that
// between collections, and the process to 58-63 MB resident. The limit
// makes the collector run sooner: 55-59 MB, for the same CPU
// (BENCHMARKS.md). The verification set of a run adds verifyBytesPerUser
// per user fetched (a 16-byte key in a map, with room for its growth).
const (
	defaultMemoryLimit = 40 << 20
	verifyBytesPerUser = 32
)

// config is what the command is configured with.
type config struct {
	// Servers. The DSN comes from USERSTREAM_POSTGRES_DSN only, never a
	// flag: a flag's value shows in ps, and a DSN may carry a password.
	brokers, cassandraHosts []string
	// schemaRegistry, when set, is the URL of a schema registry with the
	// Confluent API: kafkasink\'s registry mode (Confluent wire format).
	schemaRegistry string
	postgresDSN    string

	// Names.
	topic, dlqTopic string
	partitions      int
	group           string
	keyspace, table string
	replication     int
	// consistency is -consistency as given ("" keeps cassandrastore's
	// default, LOCAL_QUORUM); parseFlags has checked it.
	consistency string
	pgSchema    string

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

	// Consume.
	consumers      int
	instanceID     string
	sessionTimeout time.Duration

	// Operation.
	memoryLimit int64
	metricsAddr string
	progress    bool
	logLevel    string
	report      string
}

// parseFlags reads the command line into a config.
func parseFlags(fs *flag.FlagSet, args []string) (config, error) {
	var c config
	brokers := fs.String("brokers", envOr(envKafkaBrokers, defaultKafkaBrokers), "Kafka seed brokers, comma-separated (env "+envKafkaBrokers+")")
	fs.StringVar(&c.schemaRegistry, "schema-registry", envOr(envSchemaRegistry, ""), "URL of a schema registry with the Confluent API, e.g. http://127.0.0.1:8081/apis/ccompat/v7 (env "+envSchemaRegistry+"): records in the Confluent wire format, the value schema registered under <topic>-value; empty: plain JSON records")
	hosts := fs.String("cassandra-hosts", envOr(envCassandraHosts, defaultCassandraHosts), "Cassandra contact points, comma-separated (env "+envCassandraHosts+")")
	c.postgresDSN = envOr(envPostgresDSN, defaultPostgresDSN)

	fs.StringVar(&c.topic, "topic", kafkasink.DefaultTopic, "Kafka topic of the users")
	fs.StringVar(&c.dlqTopic, "dlq-topic", "", "dead-letter topic for poison records (default: the topic followed by "+kafkasink.DLQSuffix+")")
	fs.IntVar(&c.partitions, "partitions", 6, "partitions of the topic when it is created")
	fs.StringVar(&c.group, "group", "userstream-cassandra", "Kafka consumer group")
	fs.StringVar(&c.keyspace, "keyspace", cassandrastore.DefaultKeyspace, "Cassandra keyspace")
	fs.StringVar(&c.table, "table", cassandrastore.DefaultTable, "Cassandra table")
	replication, replErr := envInt(envReplication, 1)
	fs.IntVar(&c.replication, "replication", replication, "replicas of the topics (their replication factor; with 3 or more, min.insync.replicas 2) and of the keyspace (NetworkTopologyStrategy with this many in the data center of the Cassandra node contacted), when this creates them; existing ones are left as they are. Production: 3 (env "+envReplication+")")
	fs.StringVar(&c.consistency, "consistency", envOr(envConsistency, "local_quorum"), "consistency level of the Cassandra writes and reads: local_quorum, quorum, one, local_one, each_quorum, all, two or three (env "+envConsistency+")")
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

	fs.IntVar(&c.consumers, "consumers", 1, "consumers of the group in this process")
	fs.StringVar(&c.instanceID, "instance-id", os.Getenv(envInstanceID), "static group membership: a stable id per consumer process (e.g. the pod name; env "+envInstanceID+"); a restarted process with the same id takes its partitions back at once; empty: dynamic membership")
	fs.DurationVar(&c.sessionTimeout, "session-timeout", defaultSessionTimeout, "how long the group waits for a silent member (crashed, or paused longer than this) before giving its partitions to the others")

	c.memoryLimit = defaultMemoryLimit
	fs.Var(byteSize{&c.memoryLimit}, "memory-limit", "soft limit of the process's Go memory, as in GOMEMLIMIT (e.g. 40MiB), plus 32 bytes per user verified; 0 means none; GOMEMLIMIT in the environment wins")
	fs.StringVar(&c.metricsAddr, "metrics-addr", defaultMetricsAddr, "address of the /metrics and /healthz endpoint; empty disables it")
	fs.BoolVar(&c.progress, "progress", isTerminal(os.Stderr), "print a live progress line on standard error (default: when it is a terminal)")
	fs.StringVar(&c.logLevel, "log-level", "warn", "log level: debug, info, warn or error")
	fs.StringVar(&c.report, "report", "", "also write the runs' reports as JSON to this file (for benchmarks)")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	c.brokers, c.cassandraHosts = splitList(*brokers), splitList(*hosts)
	if c.dlqTopic == "" { // as kafkasink's default: poison of one topic never lands among another's
		c.dlqTopic = c.topic + kafkasink.DLQSuffix
	}
	if replErr != nil {
		return c, replErr
	}
	if c.replication < 1 || c.replication > math.MaxInt16 {
		return c, fmt.Errorf("-replication %d: want 1 to %d", c.replication, math.MaxInt16)
	}
	if _, err := cassandrastore.ParseConsistency(c.consistency); err != nil {
		return c, fmt.Errorf("-consistency: %w", err)
	}
	return c, nil
}

// registryOpts returns the kafkasink option of -schema-registry: none
// for plain JSON records, else registry mode with a client of the URL.
func registryOpts(url string) ([]kafkasink.CommonOpt, error) {
	if url == "" {
		return nil, nil
	}
	cl, err := sr.NewClient(sr.URLs(url))
	if err != nil {
		return nil, fmt.Errorf("schema registry %s: %w", url, err)
	}
	return []kafkasink.CommonOpt{kafkasink.WithSchemaRegistry(cl)}, nil
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

// setMemoryLimit applies -memory-limit, grown by the verification set,
// unless GOMEMLIMIT is set (the runtime has applied it already) or the
// limit is 0.
func setMemoryLimit(c config, log *slog.Logger) {
	if c.memoryLimit <= 0 || os.Getenv("GOMEMLIMIT") != "" {
		return
	}
	limit := c.memoryLimit + int64(c.users)*verifyBytesPerUser
	debug.SetMemoryLimit(limit)
	log.Debug("soft memory limit set", "bytes", limit)
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
