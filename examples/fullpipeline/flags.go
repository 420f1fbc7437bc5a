package main

import (
	"cmp"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/userstream/userstream/cassandrastore"
	"github.com/userstream/userstream/connect"
	"github.com/userstream/userstream/kafkasink"
	"github.com/userstream/userstream/memlimit"
	"github.com/userstream/userstream/randomuser"
)

// The static member id: -instance-id, else this variable. The servers'
// addresses and the consistency level come from package connect.
const (
	envInstanceID      = "USERSTREAM_INSTANCE_ID"
	defaultMetricsAddr = "127.0.0.1:9464"
)

// defaultSessionTimeout is how long the group waits for a silent member
// before giving its partitions to the others: the broker's lowest allowed,
// where Kafka's default is 45s (RELIABILITY.md). Heartbeats have their own
// goroutine: only a process frozen that long loses its partitions.
const defaultSessionTimeout = 6 * time.Second

// defaultMemoryLimit is the default soft limit of the Go runtime's memory
// (-memory-limit): it makes the collector run before the heap doubles,
// for the same CPU (BENCHMARKS.md). A run's verification set adds
// verifyBytesPerUser per user (a 16-byte key and an 8-byte hash of its
// values in a map, and its growth).
const (
	defaultMemoryLimit = 40 << 20
	verifyBytesPerUser = 48
)

// config is what the command is configured with.
type config struct {
	// Servers. The DSN comes from USERSTREAM_POSTGRES_DSN only, never a
	// flag: a flag's value shows in ps, and a DSN may carry a password.
	// schemaRegistry, when set, is the URL of a schema registry with the
	// Confluent API: kafkasink's registry mode (Confluent wire format).
	brokers, cassandraHosts     []string
	schemaRegistry, postgresDSN string
	// consistency is -consistency as given ("" keeps cassandrastore's
	// default, LOCAL_QUORUM); parseFlags has checked it.
	consistency string
	// Names.
	topic, dlqTopic, group, keyspace, table, pgSchema string
	partitions, replication                           int
	// Ingest. rate: offered users per second, 0 as fast as the API allows;
	// every: the schedule, 0 once; runs: with every, how many, 0 no limit.
	apiURL, seed, nat     string
	offline               bool
	users, pageSize, runs int
	rate                  float64
	// changeShare: with -offline, the share of users that change on each
	// run after the first (run i serves day i of randomusertest).
	changeShare float64
	every       time.Duration
	// Consume.
	consumers      int
	instanceID     string
	sessionTimeout time.Duration
	// Operation.
	memoryLimit                   int64
	metricsAddr, logLevel, report string
	progress                      bool
}

// parseFlags reads the command line into a config.
func parseFlags(fs *flag.FlagSet, args []string) (config, error) {
	var c config
	// Where the servers are: flags, else USERSTREAM_* variables, else the
	// local stack's (package connect). The DSN never comes from a flag.
	srv, envErr := connect.FromEnv()
	srv.KafkaFlags(fs)
	srv.CassandraFlags(fs)
	fs.StringVar(&c.topic, "topic", kafkasink.DefaultTopic, "Kafka topic of the users")
	fs.StringVar(&c.dlqTopic, "dlq-topic", "", "dead-letter topic for poison records (default: the topic followed by "+kafkasink.DLQSuffix+")")
	fs.IntVar(&c.partitions, "partitions", 6, "partitions of the topic when it is created")
	fs.StringVar(&c.group, "group", "userstream-cassandra", "Kafka consumer group")
	fs.StringVar(&c.keyspace, "keyspace", cassandrastore.DefaultKeyspace, "Cassandra keyspace")
	fs.StringVar(&c.table, "table", cassandrastore.DefaultTable, "Cassandra table")
	fs.IntVar(&c.replication, "replication", srv.Replication, "replicas of the topics (their replication factor; with 3 or more, min.insync.replicas 2) and of the keyspace (NetworkTopologyStrategy with this many in the data center of the Cassandra node contacted), when this creates them; existing ones are left as they are. Production: 3 (env "+connect.EnvReplication+")")
	fs.StringVar(&c.pgSchema, "pg-schema", "userstream", "PostgreSQL schema of the outbox and run ledger (DSN from env "+connect.EnvPostgresDSN+")")
	fs.StringVar(&c.apiURL, "api-url", randomuser.DefaultBaseURL, "base URL of the Random User API")
	fs.BoolVar(&c.offline, "offline", false, "serve the Random User API from an in-process compatible server instead of -api-url")
	fs.IntVar(&c.users, "users", 100000, "users to fetch per run")
	fs.StringVar(&c.seed, "seed", "userstream", "API seed: the same seed fetches the same users (runs are idempotent); empty means a new seed per run")
	fs.IntVar(&c.pageSize, "page-size", randomuser.MaxResults, "users per API request (1-5000)")
	fs.StringVar(&c.nat, "nat", "", "nationalities, comma-separated (default all)")
	fs.Float64Var(&c.changeShare, "change-share", 0, "with -offline, the share (0-1) of users the offline API changes on each run after the first (new email, phone, location and picture; same id), so later runs carry updates; 0: users never change")
	fs.Float64Var(&c.rate, "rate", 0, "offered load in users per second; 0 fetches as fast as the API allows")
	fs.DurationVar(&c.every, "every", 0, "run on this schedule (like the seed's DAG); 0 runs once")
	fs.IntVar(&c.runs, "runs", 0, "with -every, stop after this many runs; 0 means until interrupted")
	fs.StringVar(&c.report, "report", "", "also write the runs' reports as JSON to this file (for benchmarks)")
	fs.IntVar(&c.consumers, "consumers", 1, "consumers of the group in this process")
	fs.StringVar(&c.instanceID, "instance-id", os.Getenv(envInstanceID), "static group membership: a stable id per consumer process (e.g. the pod name; env "+envInstanceID+"); a restarted process with the same id takes its partitions back at once; empty: dynamic membership")
	fs.DurationVar(&c.sessionTimeout, "session-timeout", defaultSessionTimeout, "how long the group waits for a silent member (crashed, or paused longer than this) before giving its partitions to the others")
	c.memoryLimit = defaultMemoryLimit
	fs.Var(memlimit.Size(&c.memoryLimit), "memory-limit", "soft limit of the process's Go memory, as in GOMEMLIMIT (e.g. 40MiB), plus 48 bytes per user verified; 0 means none; GOMEMLIMIT in the environment wins")
	fs.StringVar(&c.metricsAddr, "metrics-addr", defaultMetricsAddr, "address of the /metrics and /healthz endpoint; empty disables it")
	fs.BoolVar(&c.progress, "progress", isTerminal(os.Stderr), "print a live progress line on standard error (default: when it is a terminal)")
	fs.StringVar(&c.logLevel, "log-level", "warn", "log level: debug, info, warn or error")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	c.brokers, c.schemaRegistry, c.cassandraHosts, c.postgresDSN, c.consistency = srv.KafkaBrokers, srv.SchemaRegistryURL, srv.CassandraHosts, srv.PostgresDSN, srv.CassandraConsistency
	c.dlqTopic = cmp.Or(c.dlqTopic, kafkasink.DLQTopicFor(c.topic)) // as kafkasink's default: poison of one topic never lands among another's
	return c, errors.Join(envErr, connect.CheckReplication(c.replication), c.checkChangeShare())
}

// checkChangeShare refuses a -change-share out of 0-1, or without -offline:
// the real API has no days, its users never change.
func (c config) checkChangeShare() error {
	switch {
	case c.changeShare < 0 || c.changeShare > 1:
		return fmt.Errorf("-change-share %v: want a share from 0 to 1", c.changeShare)
	case c.changeShare > 0 && !c.offline:
		return errors.New("-change-share needs -offline: the Random User API's users never change")
	}
	return nil
}

// memoryLimitBytes is -memory-limit grown by the verification set; 0: none.
func (c config) memoryLimitBytes() int64 {
	if c.memoryLimit <= 0 {
		return 0
	}
	return c.memoryLimit + int64(c.users)*verifyBytesPerUser
}

// servers returns where the configured servers are.
func (c config) servers() connect.Servers {
	return connect.Servers{KafkaBrokers: c.brokers, SchemaRegistryURL: c.schemaRegistry, CassandraHosts: c.cassandraHosts,
		CassandraConsistency: c.consistency, PostgresDSN: c.postgresDSN, Replication: c.replication}
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
