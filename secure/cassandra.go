package secure

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"time"

	"github.com/gocql/gocql"
)

// Cassandra is how a client authenticates to Cassandra nodes
// (PasswordAuthenticator) and encrypts its connections to them: read by
// [LoadCassandra] or set field by field. The zero value is no
// authentication over plain TCP.
type Cassandra struct {
	// Username and Password log in through PasswordAuthenticator; both or
	// neither (the default, no login).
	Username string
	Password Secret
	// TLS encrypts the connections; off by default.
	TLS TLS

	fromEnv bool // set by the loaders: errors name variables, not fields
}

// Enabled reports whether any security setting is on.
func (c Cassandra) Enabled() bool { return c.Username != "" || c.TLS.Enabled }

func (c Cassandra) validate() error {
	if (c.Username == "") != !c.Password.IsSet() {
		n := settingNames("cassandra", c.fromEnv)
		return fmt.Errorf("a username needs a password and the reverse (%s, %s)", n.user, n.password)
	}
	return nil
}

// Apply sets the settings on cluster, a gocql configuration (one that
// gocqlx.WrapSession or cassandrastore also use): Authenticator when a
// Username is set, SslOpts, with host verification, when TLS is on. It
// leaves every other field, and those two when their setting is off, as
// they are. It reads the TLS files each time; it reads no environment
// variable.
//
// gocql checks each node's certificate against the node's address unless
// TLS.ServerName names another host.
func (c Cassandra) Apply(cluster *gocql.ClusterConfig) error {
	if err := c.validate(); err != nil {
		return fmt.Errorf("secure: cassandra: %w", err)
	}
	cfg, err := c.TLS.Config()
	if err != nil {
		return fmt.Errorf("secure: cassandra TLS: %w", err)
	}
	if c.Username != "" {
		cluster.Authenticator = passwordAuth{user: c.Username, password: c.Password}
	}
	if cfg != nil {
		cluster.SslOpts = &gocql.SslOptions{Config: cfg, EnableHostVerification: true}
	}
	return nil
}

// passwordAuth is gocql.PasswordAuthenticator holding a [Secret]: the
// password is revealed per connection, inside the handshake, so a printed
// or logged ClusterConfig shows "[redacted]".
type passwordAuth struct {
	user     string
	password Secret
}

func (a passwordAuth) Challenge(req []byte) ([]byte, gocql.Authenticator, error) {
	return gocql.PasswordAuthenticator{Username: a.user, Password: a.password.Reveal()}.Challenge(req)
}

func (a passwordAuth) Success([]byte) error { return nil }

// Format serves every fmt verb: fmt would print the unexported fields,
// password included, by reflection.
func (a passwordAuth) Format(f fmt.State, _ rune) {
	fmt.Fprintf(f, "PasswordAuthenticator{Username:%q Password:%s}", a.user, a.password)
}

// pingConnectTimeout bounds each dial and handshake of [Cassandra.Ping];
// gocql's default (11 s) would make a refused TLS handshake slow to show.
const pingConnectTimeout = 5 * time.Second

// Ping opens a gocql session to hosts ("host" or "host:port", port 9042 by
// default) with the settings, which needs a completed TLS handshake and
// login, reads system.local, and closes the session. A failure is an
// [*Error] naming the hosts and the cause (see [Cassandra.Explain]). ctx
// bounds the whole call.
func (c Cassandra) Ping(ctx context.Context, hosts []string) error {
	if len(hosts) == 0 {
		return errors.New("secure: cassandra ping: no hosts")
	}
	cluster := gocql.NewCluster(hosts...)
	cluster.ConnectTimeout = pingConnectTimeout
	cluster.NumConns = 1
	cluster.Logger = log.New(io.Discard, "", 0) // the error says what went wrong
	if err := c.Apply(cluster); err != nil {
		return err
	}
	s, err := createSession(ctx, cluster)
	if err != nil {
		return c.Explain(ctx, hosts, err)
	}
	defer s.Close()
	var v string
	if err := s.Query(`SELECT release_version FROM system.local`).WithContext(ctx).Scan(&v); err != nil {
		return c.Explain(ctx, hosts, err)
	}
	if v == "" {
		return c.Explain(ctx, hosts, errors.New("system.local has no release_version"))
	}
	return nil
}

// createSession is cluster.CreateSession bounded by ctx, which gocql does
// not take: a session that arrives too late is closed.
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

// String describes the settings, password redacted.
func (c Cassandra) String() string {
	auth := "off"
	if c.Username != "" {
		auth = fmt.Sprintf("user=%q password=%s", c.Username, c.Password)
	}
	return fmt.Sprintf("cassandra{auth=%s tls=%s}", auth, c.TLS)
}

// LogValue serves log/slog, password redacted.
func (c Cassandra) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("username", c.Username),
		slog.Any("password", c.Password),
		slog.Any("tls", c.TLS),
	)
}
