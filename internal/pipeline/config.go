// Package pipeline assembles userstream's packages into the pipeline the
// examples run: fetch users from the Random User API, stage them in
// PostgreSQL (kafkasink/outbox), relay them to Kafka, consume, validate and
// store them in Cassandra (cassandrastore), with a run ledger, metrics and a
// progress line. The example mains (examples/fullpipeline, examples/producer,
// examples/consumer, examples/runs) are thin wrappers around it.
package pipeline

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

	"github.com/userstream/userstream/cassandrastore"
	"github.com/userstream/userstream/kafkasink"
	"github.com/userstream/userstream/randomuser"
)

// Defaults shared by the examples, the local stack and compose.yaml (a test
// keeps them in agreement).
const (
	DefaultKafkaBrokers   = "127.0.0.1:9092"
	DefaultCassandraHosts = "127.0.0.1:9042"
	DefaultPostgresDSN    = "postgres://userstream:userstream@127.0.0.1:5432/userstream?sslmode=disable"
	DefaultGroup          = "userstream-cassandra"
	DefaultPostgresSchema = "userstream"
	DefaultPartitions     = 6
	DefaultSeed           = "userstream"
	DefaultMetricsAddr    = "127.0.0.1:9464"

	// DefaultMemoryLimit is the default soft limit of the Go runtime's
	// memory (-memory-limit). At full speed, with 5,000-user pages, the
	// pipeline's live heap is 20-30 MB; left to GOGC alone the heap grows
	// to twice that between collections, and the process to 58-63 MB
	// resident. The limit makes the collector run sooner: 55-59 MB, for
	// the same CPU (BENCHMARKS.md).
	DefaultMemoryLimit = 40 << 20
	// verifyBytesPerUser is what the verification set of a full run
	// holds per user fetched (a 16-byte key in a map), with room for the
	// map's growth; the limit grows by it.
	verifyBytesPerUser = 32
)

// Environment variables read for the defaults of the server flags.
const (
	EnvKafkaBrokers   = "USERSTREAM_KAFKA_BROKERS"
	EnvCassandraHosts = "USERSTREAM_CASSANDRA_HOSTS"
	EnvPostgresDSN    = "USERSTREAM_POSTGRES_DSN"
)

// Config is what the examples are configured with.
type Config struct {
	// Servers.
	Brokers        []string
	CassandraHosts []string
	// PostgresDSN comes from USERSTREAM_POSTGRES_DSN only, never a flag: a
	// flag's value shows in ps, and a DSN may carry a password.
	PostgresDSN string

	// Names.
	Topic          string
	DLQTopic       string
	Partitions     int
	Group          string
	Keyspace       string
	Table          string
	Replication    int
	PostgresSchema string

	// Ingest.
	APIURL   string
	Offline  bool
	Users    int
	Seed     string
	PageSize int
	Nat      string
	Rate     float64       // offered users per second; 0 means as fast as possible
	Every    time.Duration // ingest runs on this schedule; 0 means once
	Runs     int           // stop after this many scheduled runs; 0 means no limit

	// Consume.
	Consumers int // consumers in this process's group
	// InstanceID makes the group's members static (Kafka's
	// group.instance.id): consumer i of this process joins as
	// InstanceID, or InstanceID-i when the process runs several. A static
	// member restarted with the same id takes its partitions back at once
	// instead of waiting for its old session to expire. Empty: dynamic
	// members.
	InstanceID string
	// SessionTimeout is how long the group waits for a silent member
	// before giving its partitions to the others.
	SessionTimeout time.Duration

	// Operation.
	MemoryLimit int64 // soft limit of the Go runtime's memory, bytes; 0: none
	MetricsAddr string
	Progress    bool
}

func env(name, def string) string {
	if v := strings.TrimSpace(os.Getenv(name)); v != "" {
		return v
	}
	return def
}

// listFlag is a comma-separated list.
type listFlag struct{ p *[]string }

func (l listFlag) String() string {
	if l.p == nil {
		return ""
	}
	return strings.Join(*l.p, ",")
}

func (l listFlag) Set(s string) error {
	*l.p = nil
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			*l.p = append(*l.p, v)
		}
	}
	return nil
}

// ServerFlags registers the flags that locate the servers and name the
// topic, table and schema. Their defaults come from the USERSTREAM_*
// environment, then from the local stack's addresses.
func (c *Config) ServerFlags(fs *flag.FlagSet) {
	_ = listFlag{&c.Brokers}.Set(env(EnvKafkaBrokers, DefaultKafkaBrokers))
	_ = listFlag{&c.CassandraHosts}.Set(env(EnvCassandraHosts, DefaultCassandraHosts))
	c.PostgresDSN = env(EnvPostgresDSN, DefaultPostgresDSN)
	fs.Var(listFlag{&c.Brokers}, "brokers", "Kafka seed brokers, comma-separated (env "+EnvKafkaBrokers+")")
	fs.Var(listFlag{&c.CassandraHosts}, "cassandra-hosts", "Cassandra contact points, comma-separated (env "+EnvCassandraHosts+")")
	c.Topic, c.DLQTopic = kafkasink.DefaultTopic, kafkasink.DefaultDLQTopic
	dlqSet := false
	fs.Func("topic", "Kafka topic of the users (default "+kafkasink.DefaultTopic+")", func(v string) error {
		c.Topic = v
		if !dlqSet { // the dead-letter topic follows, as kafkasink's does
			c.DLQTopic = v + kafkasink.DLQSuffix
		}
		return nil
	})
	fs.Func("dlq-topic", "dead-letter topic for poison records (default: the topic followed by "+kafkasink.DLQSuffix+")", func(v string) error {
		c.DLQTopic, dlqSet = v, true
		return nil
	})
	fs.IntVar(&c.Partitions, "partitions", DefaultPartitions, "partitions of the topic when it is created")
	fs.StringVar(&c.Keyspace, "keyspace", cassandrastore.DefaultKeyspace, "Cassandra keyspace")
	fs.StringVar(&c.Table, "table", cassandrastore.DefaultTable, "Cassandra table")
	fs.IntVar(&c.Replication, "replication", 1, "replication factor of the keyspace and topics when created")
	fs.StringVar(&c.PostgresSchema, "pg-schema", DefaultPostgresSchema, "PostgreSQL schema of the outbox and run ledger (DSN from env "+EnvPostgresDSN+")")
	fs.StringVar(&c.MetricsAddr, "metrics-addr", DefaultMetricsAddr, "address of the /metrics and /healthz endpoint; empty disables it")
	fs.BoolVar(&c.Progress, "progress", isTerminal(os.Stderr), "print a live progress line on standard error (default: when it is a terminal)")
	c.MemoryLimit = DefaultMemoryLimit
	fs.Var(byteSize{&c.MemoryLimit}, "memory-limit", "soft limit of the process's Go memory, as in GOMEMLIMIT (e.g. 40MiB), plus 32 bytes per user verified by a full run; 0 means none; GOMEMLIMIT in the environment wins")
}

// byteSize is a size in bytes with an optional GOMEMLIMIT-style suffix:
// B, KiB, MiB, GiB or TiB.
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
	num = strings.TrimSuffix(num, "B")
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n < 0 || n > math.MaxInt64/mult {
		return fmt.Errorf("%q: want a size such as 40MiB, or 0", s)
	}
	*b.p = n * mult
	return nil
}

// setMemoryLimit applies cfg.MemoryLimit to the Go runtime, grown by the
// verification set of a full run, unless GOMEMLIMIT is set (the runtime
// has applied it already) or the limit is 0.
func setMemoryLimit(cfg Config, needs Needs, log *slog.Logger) {
	if cfg.MemoryLimit <= 0 || os.Getenv("GOMEMLIMIT") != "" {
		return
	}
	limit := cfg.MemoryLimit
	if needs.Ingest && needs.Consume {
		limit += int64(cfg.Users) * verifyBytesPerUser
	}
	debug.SetMemoryLimit(limit)
	log.Debug("soft memory limit set", "bytes", limit)
}

// IngestFlags registers the flags of fetching and staging.
func (c *Config) IngestFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.APIURL, "api-url", randomuser.DefaultBaseURL, "base URL of the Random User API")
	fs.BoolVar(&c.Offline, "offline", false, "serve the Random User API from an in-process compatible server instead of -api-url")
	fs.IntVar(&c.Users, "users", 100000, "users to fetch per run")
	fs.StringVar(&c.Seed, "seed", DefaultSeed, "API seed: the same seed fetches the same users (runs are idempotent); empty means a new seed per run")
	fs.IntVar(&c.PageSize, "page-size", randomuser.MaxResults, "users per API request (1-5000)")
	fs.StringVar(&c.Nat, "nat", "", "nationalities, comma-separated (default all)")
	fs.Float64Var(&c.Rate, "rate", 0, "offered load in users per second; 0 fetches as fast as the API allows")
	fs.DurationVar(&c.Every, "every", 0, "run ingest on this schedule (like the seed's DAG); 0 runs once")
	fs.IntVar(&c.Runs, "runs", 0, "with -every, stop after this many runs; 0 means until interrupted")
}

// ConsumeFlags registers the flags of consuming and storing.
func (c *Config) ConsumeFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.Group, "group", DefaultGroup, "Kafka consumer group")
	fs.IntVar(&c.Consumers, "consumers", 1, "consumers of the group in this process")
	fs.StringVar(&c.InstanceID, "instance-id", os.Getenv(EnvInstanceID),
		"static group membership: a stable id per consumer process (e.g. the pod name; env "+EnvInstanceID+"); a restarted process with the same id takes its partitions back at once; empty: dynamic membership")
	fs.DurationVar(&c.SessionTimeout, "session-timeout", DefaultSessionTimeout,
		"how long the group waits for a silent member (crashed, or paused longer than this) before giving its partitions to the others")
}

// EnvInstanceID is the default of -instance-id.
const EnvInstanceID = "USERSTREAM_INSTANCE_ID"

// DefaultSessionTimeout is the consumers' group session timeout: how long
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
const DefaultSessionTimeout = 6 * time.Second

// groupOpts returns consumer i's group settings.
func (c *Config) groupOpts(i int) []kafkasink.Opt {
	opts := []kafkasink.Opt{kafkasink.WithSessionTimeout(c.SessionTimeout)}
	if c.InstanceID != "" {
		id := c.InstanceID
		if c.Consumers > 1 {
			id = fmt.Sprintf("%s-%d", id, i)
		}
		opts = append(opts, kafkasink.WithInstanceID(id))
	}
	return opts
}

func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

func itoa(n int64) string {
	s := strconv.FormatInt(n, 10)
	// Thousands separators make large counts readable at a glance.
	for i := len(s) - 3; i > 0 && s[i-1] != '-'; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// NewLogger returns a text logger on standard error at the named level.
func NewLogger(level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("log level %q: %w", level, err)
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: l})), nil
}
