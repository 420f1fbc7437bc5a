package connect

import (
	"context"
	"crypto/tls"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/scylladb/gocqlx/v2"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/userstream/userstream/cassandrastore"
	"github.com/userstream/userstream/randomuser"
	"github.com/userstream/userstream/randomuser/randomusertest"
	"github.com/userstream/userstream/secure"
)

// OpenPostgres opens a pool on s.PostgresDSN secured by sec (TLS and the
// password merged in by [secure.Postgres.PoolConfig]) and pings it: pgx
// connects lazily, and a run should fail at start, with the cause, not
// at its first query. A failed connection is a [*secure.Error] naming the
// server and what to fix. The caller closes the pool.
func (s Servers) OpenPostgres(ctx context.Context, sec secure.Postgres) (*pgxpool.Pool, error) {
	cfg, err := sec.PoolConfig(s.PostgresDSN)
	if err != nil {
		return nil, err
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, sec.Explain(err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, sec.Explain(err)
	}
	return pool, nil
}

// Kafka is what a Kafka client of [Servers.OpenKafka]'s brokers needs. It
// holds no connection.
type Kafka struct {
	// Brokers are the seed brokers.
	Brokers []string
	// ClientOpts are the franz-go options of the security settings (SASL,
	// TLS), without the seed brokers: hand them to kafkasink's
	// WithClientOpts, or to kgo.NewClient with kgo.SeedBrokers(Brokers...).
	ClientOpts []kgo.Opt
	// TLS is the TLS configuration of ClientOpts' kgo.DialTLSConfig, nil
	// without TLS: [Kafka.NewConsumer] hands it to kafkasink.WithDialTLS.
	TLS *tls.Config
	// Registry is a client of the schema registry, nil when
	// Servers.SchemaRegistryURL is empty: hand it to
	// kafkasink.WithSchemaRegistry.
	Registry *sr.Client
}

// OpenKafka returns the options of a Kafka client of s.KafkaBrokers
// secured by sec, after one connection that checks them: franz-go retries
// a refused login until its request times out, and the check fails fast
// with a [*secure.Error] naming the broker and the cause. With
// s.SchemaRegistryURL set it also creates the registry's client (no I/O:
// the registry is first asked when a schema is registered).
func (s Servers) OpenKafka(ctx context.Context, sec secure.Kafka) (Kafka, error) {
	opts, err := sec.Opts()
	if err != nil {
		return Kafka{}, err
	}
	if err := sec.Ping(ctx, s.KafkaBrokers); err != nil {
		return Kafka{}, err
	}
	tlsCfg, err := sec.TLS.Config()
	if err != nil {
		return Kafka{}, fmt.Errorf("secure: kafka TLS: %w", err)
	}
	k := Kafka{Brokers: s.KafkaBrokers, ClientOpts: opts, TLS: tlsCfg}
	if s.SchemaRegistryURL != "" {
		if k.Registry, err = sr.NewClient(sr.URLs(s.SchemaRegistryURL)); err != nil {
			return Kafka{}, fmt.Errorf("schema registry %s: %w", s.SchemaRegistryURL, err)
		}
	}
	return k, nil
}

// NewClient returns a franz-go client of k's brokers with k's security
// options and extra (for example an admin client of kadm, or of
// kafkasink.EnsureTopic). It does no I/O; the caller closes it.
func (k Kafka) NewClient(extra ...kgo.Opt) (*kgo.Client, error) {
	opts := append([]kgo.Opt{kgo.SeedBrokers(k.Brokers...)}, k.ClientOpts...)
	cl, err := kgo.NewClient(append(opts, extra...)...)
	if err != nil {
		return nil, fmt.Errorf("kafka: %w", err)
	}
	return cl, nil
}

// OpenCassandra opens a session of s.CassandraHosts through
// [cassandrastore.NewSession] with s.CassandraConsistency (when set; opts
// may override it) and opts, secured by sec (through
// cassandrastore.WithClusterConfig(sec.Apply), after opts). NewSession
// connects, so the session is checked when it returns; a failed
// connection is a [*secure.Error] naming the hosts and the cause, and
// unreadable TLS files an error saying so before any connection. The
// caller closes the session.
func (s Servers) OpenCassandra(ctx context.Context, sec secure.Cassandra, opts ...cassandrastore.SessionOpt) (gocqlx.Session, error) {
	if _, err := sec.TLS.Config(); err != nil {
		return gocqlx.Session{}, fmt.Errorf("cassandra TLS: %w", err)
	}
	var all []cassandrastore.SessionOpt
	if s.CassandraConsistency != "" {
		cons, err := cassandrastore.ParseConsistency(s.CassandraConsistency)
		if err != nil {
			return gocqlx.Session{}, err
		}
		all = append(all, cassandrastore.WithConsistency(cons))
	}
	opts = append(append(all, opts...), cassandrastore.WithClusterConfig(sec.Apply))
	session, err := cassandrastore.NewSession(ctx, s.CassandraHosts, opts...)
	if err != nil {
		return gocqlx.Session{}, sec.Explain(ctx, s.CassandraHosts, err)
	}
	return session, nil
}

// API is a client of the Random User API, and the in-process imitation
// of the API it talks to when opened offline.
type API struct {
	*randomuser.Client
	// BaseURL is the API's base URL the client uses.
	BaseURL string
	server  *randomusertest.Server // offline only
}

// OpenAPI returns a client of the Random User API at baseURL (empty:
// randomuser.DefaultBaseURL) with opts. With offline, it starts an
// in-process compatible server ([randomusertest.NewServer]) and points the
// client at it instead, for machines without internet: the same seed
// gives the same users every time. Neither case sends a request. Close
// the API when done: it stops the offline server.
func OpenAPI(baseURL string, offline bool, opts ...randomuser.Opt) (*API, error) {
	a := &API{BaseURL: baseURL}
	if a.BaseURL == "" {
		a.BaseURL = randomuser.DefaultBaseURL
	}
	if offline {
		srv, err := randomusertest.NewServer()
		if err != nil {
			return nil, fmt.Errorf("offline API server: %w", err)
		}
		a.server, a.BaseURL = srv, srv.BaseURL()
	}
	cl, err := randomuser.New(append(opts[:len(opts):len(opts)], randomuser.WithBaseURL(a.BaseURL))...)
	if err != nil {
		a.Close()
		return nil, err
	}
	a.Client = cl
	return a, nil
}

// Offline reports whether a serves the API in process.
func (a *API) Offline() bool { return a.server != nil }

// Close stops the offline server, if any. The client needs no closing.
func (a *API) Close() {
	if a.server != nil {
		a.server.Close()
	}
}
