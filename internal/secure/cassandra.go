package secure

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/userstream/userstream/cassandrastore"
)

// Cassandra is how a client authenticates to Cassandra nodes
// (PasswordAuthenticator) and encrypts its connections to them. The zero
// value is no authentication over plain TCP.
type Cassandra struct {
	// Username and Password log in through PasswordAuthenticator; both or
	// neither (the default, no login).
	Username string
	Password Secret
	// TLS encrypts the connections; off by default.
	TLS TLS
}

// Enabled reports whether any security setting is on.
func (c Cassandra) Enabled() bool { return c.Username != "" || c.TLS.Enabled }

func (c Cassandra) validate() error {
	if (c.Username == "") != !c.Password.IsSet() {
		return fmt.Errorf("a username needs a password and the reverse (%s, %s or %s)",
			EnvCassandraUsername, EnvCassandraPassword, EnvCassandraPasswordFile)
	}
	return nil
}

// SessionOpts returns the options of [cassandrastore.NewSession] that
// apply the settings: [cassandrastore.WithAuth] and
// [cassandrastore.WithTLS]. None when nothing is enabled.
func (c Cassandra) SessionOpts() ([]cassandrastore.SessionOpt, error) {
	if err := c.validate(); err != nil {
		return nil, fmt.Errorf("secure: cassandra: %w", err)
	}
	var opts []cassandrastore.SessionOpt
	if c.Username != "" {
		opts = append(opts, cassandrastore.WithAuth(c.Username, c.Password.Reveal()))
	}
	cfg, err := c.TLS.Config()
	if err != nil {
		return nil, fmt.Errorf("secure: cassandra TLS: %w", err)
	}
	if cfg != nil {
		// gocql sets ServerName to each node's host when it is empty, and
		// verifies the chain because InsecureSkipVerify is false.
		opts = append(opts, cassandrastore.WithTLS(cfg))
	}
	return opts, nil
}

// Ping opens a session with the settings (plus opts), which needs a
// completed TLS handshake and login, and closes it. A failure is an
// [*Error] naming the hosts and the cause (see [Cassandra.Explain]).
func (c Cassandra) Ping(ctx context.Context, hosts []string, opts ...cassandrastore.SessionOpt) error {
	sec, err := c.SessionOpts()
	if err != nil {
		return err
	}
	s, err := cassandrastore.NewSession(ctx, hosts, append(sec, opts...)...)
	if err != nil {
		return c.Explain(ctx, hosts, err)
	}
	defer s.Close()
	var v string
	if err := s.Query(`SELECT release_version FROM system.local`, nil).WithContext(ctx).Scan(&v); err != nil {
		return c.Explain(ctx, hosts, err)
	}
	if v == "" {
		return c.Explain(ctx, hosts, errors.New("system.local has no release_version"))
	}
	return nil
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
