package cassandrastore

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/gocql/gocql"
	"github.com/scylladb/gocqlx/v2"
)

// A SessionOpt configures [NewSession].
type SessionOpt interface {
	applySession(*sessionConfig)
}

type sessionOptFunc func(*sessionConfig)

func (f sessionOptFunc) applySession(c *sessionConfig) { f(c) }

type sessionConfig struct {
	port           int
	localDC        string
	username       string
	password       string
	tls            *tls.Config
	consistency    gocql.Consistency
	timeout        time.Duration
	connectTimeout time.Duration
	retries        int
	retryMin       time.Duration
	retryMax       time.Duration
	logger         *slog.Logger
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
		retries:        3,
		retryMin:       100 * time.Millisecond,
		retryMax:       2 * time.Second,
		logger:         discard,
	}
}

// WithPort sets the native-protocol port used for hosts given without one,
// overriding the default 9042.
func WithPort(port int) SessionOpt {
	return sessionOptFunc(func(c *sessionConfig) { c.port = port })
}

// WithLocalDC names the data center whose nodes coordinate requests,
// overriding the default of none, which round-robins over every node in the
// cluster. Set it in any multi-DC deployment: LOCAL_QUORUM is counted in the
// coordinator's data center.
func WithLocalDC(dc string) SessionOpt {
	return sessionOptFunc(func(c *sessionConfig) { c.localDC = dc })
}

// WithAuth authenticates with PasswordAuthenticator, overriding the default
// of no authentication.
func WithAuth(username, password string) SessionOpt {
	return sessionOptFunc(func(c *sessionConfig) { c.username, c.password = username, password })
}

// WithTLS encrypts connections with cfg, overriding the default of plain
// TCP. The config is cloned; set ServerName, RootCAs and Certificates on it
// as for any TLS client.
func WithTLS(cfg *tls.Config) SessionOpt {
	return sessionOptFunc(func(c *sessionConfig) { c.tls = cfg.Clone() })
}

// WithConsistency sets the consistency level of every request, overriding
// the default LOCAL_QUORUM.
func WithConsistency(cons gocql.Consistency) SessionOpt {
	return sessionOptFunc(func(c *sessionConfig) { c.consistency = cons })
}

// WithTimeout bounds each request on the client side, overriding the default
// 11 s. A context deadline, when shorter, wins.
func WithTimeout(d time.Duration) SessionOpt {
	return sessionOptFunc(func(c *sessionConfig) { c.timeout = d })
}

// WithConnectTimeout bounds dialling and the connection handshake,
// overriding the default 5 s.
func WithConnectTimeout(d time.Duration) SessionOpt {
	return sessionOptFunc(func(c *sessionConfig) { c.connectTimeout = d })
}

// WithRetry sets how often, and with what exponential backoff, the driver
// retries a failed idempotent request on the next host, overriding the
// default of 3 retries starting at 100 ms and capped at 2 s. Zero retries
// disables retrying. Every statement of this package is idempotent; the
// driver never retries statements that are not marked idempotent.
func WithRetry(retries int, minBackoff, maxBackoff time.Duration) SessionOpt {
	return sessionOptFunc(func(c *sessionConfig) {
		c.retries, c.retryMin, c.retryMax = retries, minBackoff, maxBackoff
	})
}

// NewSession connects to the cluster through the contact points hosts
// ("host" or "host:port") and returns a session configured for this package:
// token-aware routing over DC-aware round robin, consistency LOCAL_QUORUM,
// exponential retries of idempotent requests, and the driver's own log lines
// sent to the [WithLogger] logger at Warn (discarded by default).
//
// Unlike [New], NewSession does I/O: it dials the hosts and discovers the
// ring. It returns when connected or when ctx is done. gocql reports a
// failed connect as text, without the underlying error, so [IsRetryable]
// cannot classify it; a process that may start before the cluster should
// retry NewSession with a backoff. The caller owns the
// session and closes it with Close once every [Store] using it is done.
func NewSession(ctx context.Context, hosts []string, opts ...SessionOpt) (gocqlx.Session, error) {
	cfg := defaultSessionConfig()
	for _, o := range opts {
		o.applySession(&cfg)
	}
	if len(hosts) == 0 {
		return gocqlx.Session{}, fmt.Errorf("cassandrastore: new session: no hosts")
	}
	if cfg.timeout <= 0 || cfg.connectTimeout <= 0 {
		return gocqlx.Session{}, fmt.Errorf("cassandrastore: new session: timeouts must be positive")
	}
	if cfg.retries < 0 || cfg.retryMin < 0 || cfg.retryMax < cfg.retryMin {
		return gocqlx.Session{}, fmt.Errorf("cassandrastore: new session: invalid retry settings")
	}

	cluster := gocql.NewCluster(hosts...)
	cluster.Port = cfg.port
	cluster.Consistency = cfg.consistency
	cluster.Timeout = cfg.timeout
	cluster.ConnectTimeout = cfg.connectTimeout
	cluster.Logger = slog.NewLogLogger(cfg.logger.Handler(), slog.LevelWarn)
	fallback := gocql.RoundRobinHostPolicy()
	if cfg.localDC != "" {
		fallback = gocql.DCAwareRoundRobinPolicy(cfg.localDC)
	}
	// Token awareness sends each write straight to a replica of its
	// partition, saving the coordinator hop that round robin alone costs.
	cluster.PoolConfig.HostSelectionPolicy = gocql.TokenAwareHostPolicy(fallback)
	if cfg.retries > 0 {
		cluster.RetryPolicy = &retryPolicy{retries: cfg.retries, min: cfg.retryMin, max: cfg.retryMax, logger: cfg.logger}
	} else {
		cluster.RetryPolicy = nil
	}
	if cfg.username != "" {
		cluster.Authenticator = gocql.PasswordAuthenticator{Username: cfg.username, Password: cfg.password}
	}
	if cfg.tls != nil {
		// The config is used as given: host verification follows its
		// InsecureSkipVerify.
		cluster.SslOpts = &gocql.SslOptions{Config: cfg.tls}
	}

	// gocql's CreateSession takes no context; run it aside so ctx still
	// bounds the wait, and close a session that arrives too late.
	type result struct {
		s   *gocql.Session
		err error
	}
	done := make(chan result, 1)
	go func() {
		s, err := cluster.CreateSession()
		done <- result{s, err}
	}()
	select {
	case r := <-done:
		if r.err != nil {
			return gocqlx.Session{}, fmt.Errorf("cassandrastore: new session: %w", r.err)
		}
		return gocqlx.NewSession(r.s), nil
	case <-ctx.Done():
		go func() {
			if r := <-done; r.s != nil {
				r.s.Close()
			}
		}()
		return gocqlx.Session{}, fmt.Errorf("cassandrastore: new session: %w", ctx.Err())
	}
}

// retryPolicy retries idempotent requests on the next host with exponential
// backoff and jitter. Unlike gocql.ExponentialBackoffRetryPolicy it gives up
// at once on errors that a retry cannot fix (invalid query, unauthorized),
// it never retries a request that is not idempotent (a timed-out write may
// have been applied), and its backoff ends early when the request's context
// is done.
type retryPolicy struct {
	retries  int
	min, max time.Duration
	logger   *slog.Logger
}

func (p *retryPolicy) Attempt(q gocql.RetryableQuery) bool {
	if iq, ok := q.(interface{ IsIdempotent() bool }); !ok || !iq.IsIdempotent() {
		return false
	}
	n := q.Attempts()
	if n > p.retries {
		return false
	}
	// gocql asks Attempt before it shows the error to GetRetryType, so the
	// backoff is paid even for errors that are then rethrown; the store
	// rejects malformed ids before sending to keep that path rare.
	d := p.backoff(n)
	t := time.NewTimer(d)
	defer t.Stop()
	ctx := q.Context()
	if ctx == nil {
		ctx = context.Background()
	}
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

func (p *retryPolicy) backoff(attempt int) time.Duration {
	d := p.min << max(attempt-1, 0)
	if d <= 0 || d > p.max {
		d = p.max
	}
	// Full jitter over the upper half spreads the retries of many
	// concurrent writers that failed together.
	return d/2 + rand.N(d/2+1)
}

func (p *retryPolicy) GetRetryType(err error) gocql.RetryType {
	if !retryable(err) {
		return gocql.Rethrow
	}
	p.logger.Warn("cassandrastore: request failed, retrying on the next host", "err", err)
	return gocql.RetryNextHost
}
