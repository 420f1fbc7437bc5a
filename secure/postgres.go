package secure

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Postgres is the password and TLS settings of PostgreSQL connections,
// kept out of the connection string (a DSN is easily printed; the password
// then stays out of it): read by [LoadPostgres] or set field by field. They
// reach pgx through [Postgres.PoolConfig] or [Postgres.ConnConfig], which
// parse a DSN with them merged in, or [Postgres.Apply], which sets them on
// a configuration already parsed. The zero value leaves the DSN as it is.
type Postgres struct {
	// Password replaces any password in the DSN.
	Password Secret
	// TLS, when enabled, sets sslmode=verify-full, replacing any sslmode in
	// the DSN (a stronger mode never weakens), and sslrootcert, sslcert and
	// sslkey from its files. TLS.ServerName is not supported: the host in
	// the DSN is the name checked.
	TLS TLS

	fromEnv bool // set by the loaders: errors name variables, not fields
}

// Enabled reports whether any setting is on.
func (p Postgres) Enabled() bool { return p.Password.IsSet() || p.TLS.Enabled }

// DSN returns dsn with the TLS settings merged in. It never adds the
// password, so the result is safe to log (as far as dsn itself is). Both
// URL (postgres://...) and keyword/value forms are accepted.
func (p Postgres) DSN(dsn string) (string, error) {
	if err := p.validate(); err != nil {
		return "", err
	}
	if !p.TLS.Enabled {
		return dsn, nil
	}
	params := [][2]string{{"sslmode", "verify-full"}}
	if p.TLS.CAFile != "" {
		// Without it pgx trusts the system's roots (or the DSN's own
		// sslrootcert).
		params = append(params, [2]string{"sslrootcert", p.TLS.CAFile})
	}
	if p.TLS.CertFile != "" {
		params = append(params, [2]string{"sslcert", p.TLS.CertFile}, [2]string{"sslkey", p.TLS.KeyFile})
	}
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			// url's errors quote the whole string, password included.
			return "", fmt.Errorf("secure: postgres DSN is not a valid URL")
		}
		q := u.Query()
		for _, kv := range params {
			q.Set(kv[0], kv[1])
		}
		u.RawQuery = q.Encode()
		return u.String(), nil
	}
	// Keyword/value: a later keyword overrides an earlier one.
	var b strings.Builder
	b.WriteString(dsn)
	for _, kv := range params {
		fmt.Fprintf(&b, " %s='%s'", kv[0], strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(kv[1]))
	}
	return b.String(), nil
}

func (p Postgres) validate() error {
	if p.TLS.ServerName != "" {
		return errors.New("secure: postgres TLS: a server name is not supported; put the host to verify in the DSN")
	}
	if (p.TLS.CertFile == "") != (p.TLS.KeyFile == "") {
		return errors.New("secure: postgres TLS: a client certificate needs both a certificate file and a key file")
	}
	return nil
}

// PoolConfig parses dsn with the settings merged in ([Postgres.DSN]) and
// sets the password on the result, for pgxpool.NewWithConfig. Change the
// pool's other fields on it as usual. It reads no environment variable.
func (p Postgres) PoolConfig(dsn string) (*pgxpool.Config, error) {
	merged, err := p.DSN(dsn)
	if err != nil {
		return nil, err
	}
	cfg, err := pgxpool.ParseConfig(merged)
	if err != nil {
		// pgx redacts the password in its parse errors.
		return nil, fmt.Errorf("secure: postgres DSN: %w", err)
	}
	if p.Password.IsSet() {
		cfg.ConnConfig.Password = p.Password.Reveal()
	}
	return cfg, nil
}

// ConnConfig is [Postgres.PoolConfig] for a single connection
// (pgx.ConnectConfig).
func (p Postgres) ConnConfig(dsn string) (*pgx.ConnConfig, error) {
	merged, err := p.DSN(dsn)
	if err != nil {
		return nil, err
	}
	cfg, err := pgx.ParseConfig(merged)
	if err != nil {
		return nil, fmt.Errorf("secure: postgres DSN: %w", err)
	}
	if p.Password.IsSet() {
		cfg.Password = p.Password.Reveal()
	}
	return cfg, nil
}

// Apply sets the settings on cfg, a configuration pgx has parsed already:
// &poolConfig.ConnConfig.Config for pgxpool, &connConfig.Config for pgx.
// The password replaces cfg's when set. With TLS on, every host (cfg's and
// its fallbacks') gets a TLS configuration that verifies the chain and the
// host name, what sslmode=verify-full gives; the plaintext fallbacks of
// sslmode=prefer or allow are dropped, and Unix sockets stay plain, as in
// pgx. Prefer [Postgres.PoolConfig] when you hold the DSN: it leaves the
// TLS set-up to pgx and the result's ConnString shows it. Apply reads the
// TLS files each time; it reads no environment variable.
func (p Postgres) Apply(cfg *pgconn.Config) error {
	if err := p.validate(); err != nil {
		return err
	}
	if p.Password.IsSet() {
		cfg.Password = p.Password.Reveal()
	}
	if !p.TLS.Enabled {
		return nil
	}
	base, err := p.TLS.Config()
	if err != nil {
		return fmt.Errorf("secure: postgres TLS: %w", err)
	}
	if cfg.SSLNegotiation == "direct" {
		base.NextProtos = []string{"postgresql"} // as pgx sets it
	}
	forHost := func(host string, port uint16) *tls.Config {
		if network, _ := pgconn.NetworkAddress(host, port); network == "unix" {
			return nil
		}
		c := base.Clone()
		c.ServerName = host // verified; pgx's verify-full does the same
		return c
	}
	// One entry per host: sslmode=prefer and allow list each host twice,
	// with and without TLS.
	type hostPort struct {
		host string
		port uint16
	}
	seen := map[hostPort]bool{{cfg.Host, cfg.Port}: true}
	cfg.TLSConfig = forHost(cfg.Host, cfg.Port)
	var fallbacks []*pgconn.FallbackConfig
	for _, fb := range cfg.Fallbacks {
		if seen[hostPort{fb.Host, fb.Port}] {
			continue
		}
		seen[hostPort{fb.Host, fb.Port}] = true
		fallbacks = append(fallbacks, &pgconn.FallbackConfig{Host: fb.Host, Port: fb.Port, TLSConfig: forHost(fb.Host, fb.Port)})
	}
	cfg.Fallbacks = fallbacks
	return nil
}

// Ping connects once with the settings and runs a query. A failure is an
// [*Error] naming the server and the cause (see [Postgres.Explain]).
func (p Postgres) Ping(ctx context.Context, dsn string) error {
	cfg, err := p.ConnConfig(dsn)
	if err != nil {
		return err
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return p.Explain(err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, `SELECT 1`); err != nil {
		return p.Explain(err)
	}
	return nil
}

// String describes the settings, password redacted.
func (p Postgres) String() string {
	return fmt.Sprintf("postgres{password=%s tls=%s}", p.Password, p.TLS)
}

// LogValue serves log/slog, password redacted.
func (p Postgres) LogValue() slog.Value {
	return slog.GroupValue(slog.Any("password", p.Password), slog.Any("tls", p.TLS))
}

// pgAddr is the server a pgx error is about, from the error's own config.
func pgAddr(err error) string {
	if ce, ok := asType[*pgconn.ConnectError](err); ok && ce.Config != nil {
		return fmt.Sprintf("%s:%d", ce.Config.Host, ce.Config.Port)
	}
	return ""
}
