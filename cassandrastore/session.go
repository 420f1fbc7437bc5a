package cassandrastore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/gocql/gocql"
	"github.com/scylladb/gocqlx/v2"

	"github.com/userstream/userstream/internal/backoff"
)

// NewSession connects to the cluster through the contact points hosts
// ("host" or "host:port") and returns a session configured for this package:
// token-aware routing over DC-aware round robin, consistency LOCAL_QUORUM,
// exponential retries of idempotent requests, and the driver's own log lines
// sent to the [WithLogger] logger at Warn (discarded by default).
//
// When every host is given with the same port ("10.0.0.5:19042") and
// [WithPort] is not, that port is also the one of the nodes the driver
// discovers from the cluster's system tables: gocql takes 9042 for a node
// whose port those tables do not give (system.local never does), which
// would send the session past a proxy or port mapping in front of the
// cluster, straight to the node's own address.
//
// Unlike [New], NewSession does I/O: it dials the hosts and discovers the
// ring. A connect that fails (refused, reset, closed or timed out during
// the handshake: a cluster starting, restarting or briefly unreachable) is
// tried again, with a backoff from 250 ms doubling to 5 s, each failure
// logged at Warn, until [WithConnectRetry] (default [DefaultConnectRetry])
// has passed since the first attempt; a failure of the credentials or of
// TLS is returned at once, since another try cannot fix it, as is the last
// failure once the time is up. NewSession returns when connected, on such an error, or when ctx
// is done. The caller owns the session and closes it with Close once
// every [Store] using it is done.
func NewSession(ctx context.Context, hosts []string, opts ...SessionOpt) (gocqlx.Session, error) {
	all := config{session: defaultSessionConfig()}
	for _, o := range opts {
		o.apply(&all)
	}
	cfg := all.session
	if len(hosts) == 0 {
		return gocqlx.Session{}, fmt.Errorf("cassandrastore: new session: no hosts")
	}
	if cfg.timeout <= 0 || cfg.connectTimeout <= 0 {
		return gocqlx.Session{}, fmt.Errorf("cassandrastore: new session: timeouts must be positive")
	}
	if cfg.retries < 0 || cfg.retryMin < 0 || cfg.retryMax < cfg.retryMin {
		return gocqlx.Session{}, fmt.Errorf("cassandrastore: new session: invalid retry settings")
	}

	cluster, err := cfg.cluster(hosts)
	if err != nil {
		return gocqlx.Session{}, fmt.Errorf("cassandrastore: new session: %w", err)
	}
	retry := backoff.Backoff{Min: 250 * time.Millisecond, Max: 5 * time.Second}
	until := time.Now().Add(cfg.connectRetry)
	for attempt := 1; ; attempt++ {
		if attempt > 1 {
			// A config whose session failed cannot serve another: its
			// token-aware policy stays bound to that session.
			if cluster, err = cfg.cluster(hosts); err != nil {
				return gocqlx.Session{}, fmt.Errorf("cassandrastore: new session: %w", err)
			}
		}
		s, err := createSession(ctx, cluster)
		if err == nil {
			return gocqlx.NewSession(s), nil
		}
		if ctx.Err() != nil || !connectRetryable(err) || !time.Now().Before(until) {
			if attempt > 1 {
				return gocqlx.Session{}, fmt.Errorf("cassandrastore: new session: %d attempts: %w", attempt, err)
			}
			return gocqlx.Session{}, fmt.Errorf("cassandrastore: new session: %w", err)
		}
		cfg.logger.Warn("cassandrastore: connecting failed; retrying", "attempt", attempt, "err", err)
		if retry.Wait(ctx, attempt) != nil {
			return gocqlx.Session{}, fmt.Errorf("cassandrastore: new session: %w (after %d attempts: %w)", ctx.Err(), attempt, err)
		}
	}
}

// cluster returns the driver's configuration of a session of hosts.
func (cfg sessionConfig) cluster(hosts []string) (*gocql.ClusterConfig, error) {
	cluster := gocql.NewCluster(hosts...)
	cluster.Port = cfg.port
	if p, ok := commonPort(hosts); ok && !cfg.portSet {
		cluster.Port = p
	}
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
	for _, fn := range cfg.configure {
		if fn == nil {
			continue
		}
		if err := fn(cluster); err != nil {
			return nil, err
		}
	}

	return cluster, nil
}

// createSession runs gocql's CreateSession, which takes no context, aside,
// so that ctx still bounds the wait, and closes a session that arrives too
// late.
func createSession(ctx context.Context, cluster *gocql.ClusterConfig) (*gocql.Session, error) {
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
		return r.s, r.err
	case <-ctx.Done():
		go func() {
			if r := <-done; r.s != nil {
				r.s.Close()
			}
		}()
		return nil, ctx.Err()
	}
}

// connectRetryable reports whether a failed CreateSession may succeed if
// tried again: anything but credentials and TLS, which another try cannot
// fix (a connection refused, reset, closed during the handshake or timed
// out, a host not resolving yet). gocql formats the cause into its
// error's text (%v), so the text is all there is to read.
func connectRetryable(err error) bool {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	msg := strings.ToLower(err.Error())
	for _, s := range []string{"x509", "tls:", "certificate", "authenticat", "credentials", "unauthorized", "password"} {
		if strings.Contains(msg, s) {
			return false
		}
	}
	return true
}

// commonPort returns the port every one of hosts is given with, if they
// all have one and it is the same.
func commonPort(hosts []string) (int, bool) {
	port := 0
	for _, h := range hosts {
		_, ps, err := net.SplitHostPort(h)
		if err != nil {
			return 0, false
		}
		p, err := strconv.Atoi(ps)
		if err != nil || p <= 0 || (port != 0 && p != port) {
			return 0, false
		}
		port = p
	}
	return port, port != 0
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
