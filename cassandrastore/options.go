package cassandrastore

import (
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/gocql/gocql"
	"github.com/prometheus/client_golang/prometheus"
)

// Opt is an option of this package. Only the package makes options, and
// each is of a kind after what it configures: a [StoreOpt] for [New], a
// [SessionOpt] for [NewSession], or a [CommonOpt] for both. The
// constructors take only their own kind, so an option given to the wrong
// one does not compile.
type Opt interface {
	apply(*config)
}

// StoreOpt is an option of [New]: an [Opt] that configures a [Store].
type StoreOpt interface {
	Opt
	storeOpt()
}

// SessionOpt is an option of [NewSession]: an [Opt] that configures the
// session.
type SessionOpt interface {
	Opt
	sessionOpt()
}

// CommonOpt is an option of both [New] and [NewSession] ([WithLogger]):
// a [StoreOpt] and a [SessionOpt].
type CommonOpt interface {
	StoreOpt
	SessionOpt
}

// config holds the settings of every kind; a constructor reads its part.
type config struct {
	store   storeConfig
	session sessionConfig
}

type storeConfig struct {
	keyspace    string
	table       string
	replication Replication
	strategy    WriteStrategy
	concurrency int
	// concurrencySet tells an explicit concurrency from the strategy's
	// default, which is only known once all options are applied.
	concurrencySet bool
	batchSize      int
	logger         *slog.Logger
	registerer     prometheus.Registerer
}

func defaultStoreConfig() storeConfig {
	return storeConfig{
		keyspace:    DefaultKeyspace,
		table:       DefaultTable,
		replication: SimpleStrategy(1),
		strategy:    DefaultStrategy,
		batchSize:   DefaultBatchSize,
		logger:      discard,
	}
}

type sessionConfig struct {
	port           int
	portSet        bool // WithPort was given
	localDC        string
	consistency    gocql.Consistency
	timeout        time.Duration
	connectTimeout time.Duration
	connectRetry   time.Duration
	retries        int
	retryMin       time.Duration
	retryMax       time.Duration
	logger         *slog.Logger
	configure      []func(*gocql.ClusterConfig) error
}

func defaultSessionConfig() sessionConfig {
	return sessionConfig{
		port:        9042,
		consistency: gocql.LocalQuorum,
		// Above Cassandra's own request timeouts (2 s for writes, 10 s for
		// range scans by default), so the server reports a timeout, with its
		// details, before the client gives up.
		timeout:        11 * time.Second,
		connectTimeout: 5 * time.Second,
		connectRetry:   DefaultConnectRetry,
		retries:        3,
		retryMin:       100 * time.Millisecond,
		retryMax:       2 * time.Second,
		logger:         discard,
	}
}

var discard = slog.New(slog.DiscardHandler)

type storeOpt struct{ fn func(*storeConfig) }

func (o storeOpt) apply(c *config) { o.fn(&c.store) }
func (storeOpt) storeOpt()         {}

type sessionOpt struct{ fn func(*sessionConfig) }

func (o sessionOpt) apply(c *config) { o.fn(&c.session) }
func (sessionOpt) sessionOpt()       {}

type commonOpt struct{ fn func(*config) }

func (o commonOpt) apply(c *config) { o.fn(c) }
func (commonOpt) storeOpt()         {}
func (commonOpt) sessionOpt()       {}

// WithLogger sends the package's logs to l, overriding the default, which
// discards them; a nil l keeps the default. A Store logs schema changes at
// Info and per-row write failures at Debug; a session logs retries and the
// driver's own messages at Warn.
func WithLogger(l *slog.Logger) CommonOpt {
	return commonOpt{func(c *config) {
		if l == nil {
			l = discard
		}
		c.store.logger, c.session.logger = l, l
	}}
}

// WithKeyspace sets the keyspace, overriding the default "spark_streams"
// ([DefaultKeyspace]). Unquoted CQL names are case-insensitive, so the name
// is lower-cased.
func WithKeyspace(name string) StoreOpt {
	return storeOpt{func(c *storeConfig) { c.keyspace = name }}
}

// WithTable sets the table, overriding the default "created_users"
// ([DefaultTable]). The name is lower-cased, as for [WithKeyspace].
func WithTable(name string) StoreOpt {
	return storeOpt{func(c *storeConfig) { c.table = name }}
}

// WithReplication sets the replication [Store.Migrate] gives the keyspace
// when it creates it, overriding the default SimpleStrategy(1) (the seed
// pipeline's). Use [NetworkTopologyStrategy] or
// [LocalNetworkTopologyStrategy] in production, with 3 replicas per data
// center. An existing keyspace keeps its replication: changing it needs a
// repair, an operator's decision; Migrate logs a warning when the
// keyspace's replica counts differ from r's.
func WithReplication(r Replication) StoreOpt {
	return storeOpt{func(c *storeConfig) { c.replication = r }}
}

// WithWriteStrategy chooses how [Store.UpsertMany] writes, overriding the
// default [WriteUnloggedBatch] ([DefaultStrategy]).
func WithWriteStrategy(s WriteStrategy) StoreOpt {
	return storeOpt{func(c *storeConfig) { c.strategy = s }}
}

// WithConcurrency bounds the requests one UpsertMany call has in flight,
// overriding the default, which depends on the strategy: 64
// ([DefaultConcurrency]) single-row writes with [WriteConcurrent], 16
// ([DefaultBatchConcurrency]) batches with [WriteUnloggedBatch].
func WithConcurrency(n int) StoreOpt {
	return storeOpt{func(c *storeConfig) { c.concurrency, c.concurrencySet = n, true }}
}

// WithBatchSize caps the rows of one unlogged batch, overriding the default
// 32 ([DefaultBatchSize]). Only [WriteUnloggedBatch] uses it. A batch is
// also closed at about 32 KiB of values, below Cassandra's default
// batch_size_fail_threshold of 50 KiB.
func WithBatchSize(n int) StoreOpt {
	return storeOpt{func(c *storeConfig) { c.batchSize = n }}
}

// WithMetrics registers the store's Prometheus metrics on reg and records
// them, overriding the default of no metrics (a nil reg keeps it). The
// series are listed in the package doc, under Metrics. Several stores given
// the same reg share the series, so their counts add up; [New] fails if reg
// refuses them for another reason (such as a collector of another type
// registered under one of the names).
func WithMetrics(reg prometheus.Registerer) StoreOpt {
	return storeOpt{func(c *storeConfig) { c.registerer = reg }}
}

// WithPort sets the native-protocol port used for hosts given without one,
// and for the nodes the driver discovers, overriding the default 9042 (or
// the port every host is given with: see [NewSession]).
func WithPort(port int) SessionOpt {
	return sessionOpt{func(c *sessionConfig) { c.port, c.portSet = port, true }}
}

// WithLocalDC names the data center whose nodes coordinate requests,
// overriding the default of none, which round-robins over every node in the
// cluster. Set it in any multi-DC deployment: LOCAL_QUORUM is counted in the
// coordinator's data center.
func WithLocalDC(dc string) SessionOpt {
	return sessionOpt{func(c *sessionConfig) { c.localDC = dc }}
}

// WithClusterConfig has fn adjust the gocql cluster configuration that
// NewSession builds, after the other options and before connecting,
// overriding the default of no adjustment. It is the seam for settings this
// package has no option for, and for code that configures a gocql cluster
// itself.
//
// It is the one way to log in and encrypt: hand it secure's Cassandra.Apply
// (PasswordAuthenticator and TLS with host verification, from the
// USERSTREAM_CASSANDRA_* variables secure.FromEnv reads, or a
// secure.Cassandra set in code), which keeps the password in a
// secure.Secret, out of logs:
//
//	sec, err := secure.FromEnv()
//	sess, err := cassandrastore.NewSession(ctx, hosts, cassandrastore.WithClusterConfig(sec.Cassandra.Apply))
//
// An error from fn fails NewSession. Several WithClusterConfig run in order.
func WithClusterConfig(fn func(*gocql.ClusterConfig) error) SessionOpt {
	return sessionOpt{func(c *sessionConfig) { c.configure = append(c.configure, fn) }}
}

// WithConsistency sets the consistency level of every request, writes and
// reads alike, overriding the default LOCAL_QUORUM: with 3 replicas per
// data center a write is acknowledged by 2 in the coordinator's data
// center, and a read at the same level sees it. [Store.Migrate]'s reads of
// the node-local schema tables always use ONE.
func WithConsistency(cons gocql.Consistency) SessionOpt {
	return sessionOpt{func(c *sessionConfig) { c.consistency = cons }}
}

// WithRequestTimeout bounds each request to Cassandra on the client side
// (each statement, each batch, each page of a read), overriding the default
// 11s. A context deadline, when shorter, wins.
func WithRequestTimeout(d time.Duration) SessionOpt {
	return sessionOpt{func(c *sessionConfig) { c.timeout = d }}
}

// WithConnectTimeout bounds dialling and the connection handshake,
// overriding the default 5s.
func WithConnectTimeout(d time.Duration) SessionOpt {
	return sessionOpt{func(c *sessionConfig) { c.connectTimeout = d }}
}

// DefaultConnectRetry is how long [NewSession] keeps trying to connect
// after a failed connect: long enough for a node's restart
// on a loaded machine, short enough that a wrong address still fails the
// process's start within a minute.
const DefaultConnectRetry = time.Minute

// WithConnectRetry sets how long [NewSession] keeps trying to connect after
// a connect failed for any reason but credentials or TLS (refused, reset,
// timed out), overriding
// [DefaultConnectRetry]; 0 or less tries once. A process started while
// Cassandra restarts, or while its connections are cut, then connects once
// the cluster answers, instead of exiting.
func WithConnectRetry(d time.Duration) SessionOpt {
	return sessionOpt{func(c *sessionConfig) { c.connectRetry = d }}
}

// WithRetry sets the driver's retry policy: how many times it retries a
// failed idempotent request on the next host, overriding the default 3, and
// the wait before each retry, which doubles on each failure, with jitter,
// overriding the defaults 100ms and 2s (minBackoff, maxBackoff). Zero
// retries disables retrying. Only timeouts, unavailability and lost
// connections are retried. Every statement of this package is idempotent;
// the driver never retries statements that are not marked idempotent.
func WithRetry(retries int, minBackoff, maxBackoff time.Duration) SessionOpt {
	return sessionOpt{func(c *sessionConfig) {
		c.retries, c.retryMin, c.retryMax = retries, minBackoff, maxBackoff
	}}
}

// consistencies are the levels [ParseConsistency] accepts: every level
// that serves both writes and reads (ANY serves writes only, and the
// session's level is used for both).
var consistencies = []gocql.Consistency{
	gocql.One, gocql.Two, gocql.Three, gocql.Quorum, gocql.All,
	gocql.LocalQuorum, gocql.EachQuorum, gocql.LocalOne,
}

// ParseConsistency parses a consistency level for [WithConsistency], as a
// flag gives it: "local_quorum", "LOCAL_QUORUM" or "local-quorum", and
// likewise one, two, three, quorum, all, each_quorum and local_one. ANY is
// refused: it acknowledges writes no replica holds, and reads cannot use
// it.
func ParseConsistency(s string) (gocql.Consistency, error) {
	name := strings.ToUpper(strings.ReplaceAll(strings.TrimSpace(s), "-", "_"))
	for _, c := range consistencies {
		if c.String() == name {
			return c, nil
		}
	}
	names := make([]string, len(consistencies))
	for i, c := range consistencies {
		names[i] = strings.ToLower(c.String())
	}
	return 0, fmt.Errorf("cassandrastore: consistency %q: want one of %s", s, strings.Join(names, ", "))
}
