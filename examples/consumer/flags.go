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
)

// The static member id: -instance-id, else this variable. The servers'
// addresses and the consistency level come from package connect.
const (
	envInstanceID      = "USERSTREAM_INSTANCE_ID"
	defaultMetricsAddr = "127.0.0.1:9464"
)

// defaultSessionTimeout is the group session timeout: how long the group
// waits for a member that stopped heartbeating before it gives its
// partitions to the others (Kafka's default: 45s). 6s is the broker's
// lowest allowed value: the others store a SIGKILLed member's partitions
// about 10s later (RELIABILITY.md). franz-go heartbeats from its own
// goroutine, so only a process frozen for 6s loses its partitions.
const defaultSessionTimeout = 6 * time.Second

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
	// consistency is -consistency as given ("" keeps cassandrastore's
	// default, LOCAL_QUORUM); parseFlags has checked it.
	brokers, cassandraHosts                  []string
	schemaRegistry, postgresDSN, consistency string
	// Names.
	topic, dlqTopic, group, keyspace, table, pgSchema string
	partitions, replication                           int
	// Consume.
	consumers      int
	instanceID     string
	sessionTimeout time.Duration
	// Operation.
	memoryLimit           int64
	metricsAddr, logLevel string
	progress              bool
	// Replay (-replay-from): move the stopped group's offsets back to
	// this time and exit, or with dryRun only say what that would do.
	replayFrom time.Time
	dryRun     bool
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
	fs.StringVar(&c.pgSchema, "pg-schema", "userstream", "PostgreSQL schema of the run ledger (DSN from env "+connect.EnvPostgresDSN+")")
	fs.IntVar(&c.consumers, "consumers", 1, "consumers of the group in this process")
	fs.StringVar(&c.instanceID, "instance-id", os.Getenv(envInstanceID), "static group membership: a stable id per consumer process (e.g. the pod name; env "+envInstanceID+"); a restarted process with the same id takes its partitions back at once; empty: dynamic membership")
	fs.DurationVar(&c.sessionTimeout, "session-timeout", defaultSessionTimeout, "how long the group waits for a silent member (crashed, or paused longer than this) before giving its partitions to the others")
	c.memoryLimit = defaultMemoryLimit
	fs.Var(memlimit.Size(&c.memoryLimit), "memory-limit", "soft limit of the process's Go memory, as in GOMEMLIMIT (e.g. 40MiB); 0 means none; GOMEMLIMIT in the environment wins")
	fs.StringVar(&c.metricsAddr, "metrics-addr", defaultMetricsAddr, "address of the /metrics and /healthz endpoint; empty disables it")
	fs.BoolVar(&c.progress, "progress", isTerminal(os.Stderr), "print a live progress line on standard error (default: when it is a terminal)")
	fs.StringVar(&c.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	fs.Func("replay-from", "replay from this time (RFC 3339, e.g. 2026-12-01T10:00:00Z): move the group's offsets back to its first records stamped then or later, print the plan by partition and exit; the group must be stopped. The next run reads the records again", func(v string) (err error) {
		c.replayFrom, err = time.Parse(time.RFC3339Nano, v)
		return err
	})
	fs.BoolVar(&c.dryRun, "dry-run", false, "with -replay-from: print what the replay would move and read again, and move nothing (works while the group runs)")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	c.brokers, c.schemaRegistry, c.cassandraHosts, c.postgresDSN, c.consistency = srv.KafkaBrokers, srv.SchemaRegistryURL, srv.CassandraHosts, srv.PostgresDSN, srv.CassandraConsistency
	c.dlqTopic = cmp.Or(c.dlqTopic, kafkasink.DLQTopicFor(c.topic)) // as kafkasink's default: poison of one topic never lands among another's
	var flagErr error
	if c.dryRun && c.replayFrom.IsZero() {
		flagErr = errors.New("-dry-run goes with -replay-from")
	}
	return c, errors.Join(envErr, flagErr, connect.CheckReplication(c.replication))
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
