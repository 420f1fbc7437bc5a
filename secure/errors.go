package secure

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/twmb/franz-go/pkg/kerr"
)

// The causes an [*Error] names; match them with errors.Is.
var (
	// ErrAuthentication: the server rejected the credentials (wrong user
	// or password, a SASL mechanism it does not enable, none given where
	// some are required).
	ErrAuthentication = errors.New("authentication failed")
	// ErrUntrustedCertificate: the server's certificate did not verify:
	// signed by an authority that is not trusted, issued for another host
	// name, or expired.
	ErrUntrustedCertificate = errors.New("server certificate not trusted")
	// ErrTLSRequired: the client spoke plaintext to a server that requires
	// TLS.
	ErrTLSRequired = errors.New("server requires TLS")
	// ErrTLSUnsupported: the client asked for TLS from a server, or a
	// listener, that does not offer it.
	ErrTLSUnsupported = errors.New("server does not offer TLS")
)

// Error is a connection failure explained: the service ("kafka",
// "cassandra" or "postgres"), the server it is about, the cause, a hint
// naming the settings to check, and the driver's own error. Secrets never
// appear in it: drivers do not echo passwords, and the hint names
// settings, not values: the USERSTREAM_* variables when a loader read
// them, the struct fields (Kafka.Username, ...) when the caller set them.
type Error struct {
	Service string
	// Addr is the server whose answer showed the cause, or the servers
	// tried ("host:port", comma-separated) when no single one did.
	Addr string
	// Cause is one of ErrAuthentication, ErrUntrustedCertificate,
	// ErrTLSRequired and ErrTLSUnsupported, or nil when the failure is
	// none of those (a server that is down, a timeout).
	Cause error
	Hint  string
	Err   error
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Service)
	if e.Addr != "" {
		b.WriteString(" " + e.Addr)
	}
	b.WriteString(": ")
	if e.Cause != nil {
		b.WriteString(e.Cause.Error())
		if e.Hint != "" {
			b.WriteString(" (" + e.Hint + ")")
		}
		b.WriteString(": ")
	}
	b.WriteString(e.Err.Error())
	return b.String()
}

// Unwrap returns the cause and the driver's error, so errors.Is and
// errors.As see both.
func (e *Error) Unwrap() []error {
	if e.Cause == nil {
		return []error{e.Err}
	}
	return []error{e.Cause, e.Err}
}

// LogValue serves log/slog.
func (e *Error) LogValue() slog.Value {
	attrs := []slog.Attr{slog.String("service", e.Service), slog.String("addr", e.Addr)}
	if e.Cause != nil {
		attrs = append(attrs, slog.String("cause", e.Cause.Error()), slog.String("hint", e.Hint))
	}
	return slog.GroupValue(append(attrs, slog.String("error", e.Err.Error()))...)
}

// probeTimeout bounds all the handshakes one Explain call makes.
const probeTimeout = 3 * time.Second

// Explain turns err, a failure of a client configured with k, into an
// [*Error] naming a broker and the cause. franz-go reports a rejected SASL
// exchange and a failed certificate check itself; when err does not show
// the cause (a listener that hangs up on the wrong protocol looks like
// any dropped connection), Explain makes one TLS handshake with each
// broker, within 3 s in all and even if ctx is already done (the driver's
// error is often the expired ctx itself), to tell which. It returns nil
// for nil and err as is when it is already an *Error.
func (k Kafka) Explain(ctx context.Context, brokers []string, err error) error {
	n := settingNames("kafka", k.fromEnv)
	hints := hints{
		auth:        fmt.Sprintf("check %s, %s and %s (now %s as %q)", n.user, n.password, n.mechanism, orNone(string(k.Mechanism)), k.Username),
		untrusted:   fmt.Sprintf("set %s to the authority that signed the broker's certificate, and use a host name the certificate lists", n.ca),
		required:    "the listener expects TLS: " + n.tlsOn,
		unsupported: "the listener is plaintext: use the broker's TLS listener, or " + n.tlsOff,
	}
	return explain(ctx, "kafka", brokers, k.TLS, hints, kafkaAuthFailed, err)
}

func kafkaAuthFailed(err error) bool {
	return errors.Is(err, kerr.SaslAuthenticationFailed) || errors.Is(err, kerr.UnsupportedSaslMechanism) ||
		errors.Is(err, kerr.IllegalSaslState)
}

// Explain turns err, a failure of a session configured with c, into an
// [*Error] naming the hosts and the cause. gocql reports failures as text,
// so Explain recognises a rejected login by its message and finds TLS
// problems by making one TLS handshake with each host (as
// [Kafka.Explain] does). It returns nil for nil and err as is when it is
// already an *Error.
func (c Cassandra) Explain(ctx context.Context, hosts []string, err error) error {
	n := settingNames("cassandra", c.fromEnv)
	hints := hints{
		auth:        fmt.Sprintf("check %s and %s (now user %q)", n.user, n.password, c.Username),
		untrusted:   fmt.Sprintf("set %s to the authority that signed the node's certificate, and use a host name the certificate lists", n.ca),
		required:    "the native port expects TLS: " + n.tlsOn,
		unsupported: "the native port is plaintext: use the node's TLS port, or " + n.tlsOff,
	}
	return explain(ctx, "cassandra", withPort(hosts, "9042"), c.TLS, hints, cassandraAuthFailed, err)
}

func cassandraAuthFailed(err error) bool {
	msg := strings.ToLower(err.Error())
	for _, s := range []string{
		"provided username",            // PasswordAuthenticator: "Provided username x and/or password are incorrect"
		"password are incorrect",       //
		"authentication required",      // gocql: the server wants credentials, none configured
		"unauthorized",                 // a role that may not log in
		"is not permitted to log in",   // LOGIN = false
		"failed to authenticate",       //
		"authenticator not configured", //
	} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

// Explain turns err, a failure of a pgx connection configured with p, into
// an [*Error] naming the server and the cause. pgx keeps the server's
// SQLSTATE and the TLS error, so no extra handshake is made. It returns
// nil for nil and err as is when it is already an *Error.
func (p Postgres) Explain(err error) error {
	if err == nil {
		return nil
	}
	if e, ok := asType[*Error](err); ok {
		return e
	}
	n := settingNames("postgres", p.fromEnv)
	e := &Error{Service: "postgres", Addr: pgAddr(err), Err: err}
	var pgErr *pgconn.PgError
	switch {
	case errors.As(err, &pgErr) && pgErr.Code == "28000" && strings.Contains(pgErr.Message, "no encryption"):
		e.Cause, e.Hint = ErrTLSRequired, "the server admits this role over TLS only: "+n.tlsOn+", or sslmode=verify-full in the DSN"
	case errors.As(err, &pgErr) && (pgErr.Code == "28P01" || pgErr.Code == "28000"):
		e.Cause, e.Hint = ErrAuthentication, "check the user in the DSN and "+n.password
	case isCertError(err):
		e.Cause, e.Hint = ErrUntrustedCertificate, fmt.Sprintf("set %s to the authority that signed the server's certificate, and put a host name the certificate lists in the DSN", n.ca)
	case strings.Contains(err.Error(), "server refused TLS connection"):
		e.Cause, e.Hint = ErrTLSUnsupported, "the server has ssl = off"
	}
	return e
}

type hints struct{ auth, untrusted, required, unsupported string }

// explain classifies err from what it carries, then, when that is not
// enough, from one TLS handshake per address.
func explain(ctx context.Context, service string, addrs []string, t TLS, h hints, authFailed func(error) bool, err error) error {
	if err == nil {
		return nil
	}
	if e, ok := asType[*Error](err); ok {
		return e
	}
	e := &Error{Service: service, Addr: strings.Join(addrs, ","), Err: err}
	switch {
	case authFailed(err):
		e.Cause, e.Hint = ErrAuthentication, h.auth
		return e
	case isCertError(err):
		e.Cause, e.Hint = ErrUntrustedCertificate, h.untrusted
		return e
	case isNotTLS(err):
		e.Cause, e.Hint = ErrTLSUnsupported, h.unsupported
		return e
	}
	// The driver's error does not say: ask the servers. The caller's ctx
	// may be the very deadline that ended the attempt, so the probe has a
	// budget of its own.
	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), probeTimeout)
	defer cancel()
	for _, addr := range addrs {
		cause := probe(pctx, addr, t)
		if cause == nil {
			continue
		}
		e.Addr = addr
		switch {
		case errors.Is(cause, ErrTLSRequired):
			e.Cause, e.Hint = ErrTLSRequired, h.required
		case isCertError(cause):
			e.Cause, e.Hint = ErrUntrustedCertificate, h.untrusted
			e.Err = fmt.Errorf("%w (TLS handshake: %v)", err, cause)
		default:
			e.Cause, e.Hint = ErrTLSUnsupported, h.unsupported
			e.Err = fmt.Errorf("%w (TLS handshake: %v)", err, cause)
		}
		return e
	}
	return e
}

// probe makes one TLS handshake with addr. With TLS off it reports
// ErrTLSRequired when the server completes a handshake (so it expects
// TLS). With TLS on it reports the handshake's failure: a certificate
// error, or the server hanging up or answering in plaintext. It returns
// nil when the probe shows nothing (the server is down, or it is fine).
func probe(ctx context.Context, addr string, t TLS) error {
	cfg := &tls.Config{InsecureSkipVerify: true} //nolint:gosec // only asks whether the server speaks TLS; nothing is sent after the handshake
	if t.Enabled {
		var err error
		if cfg, err = t.Config(); err != nil {
			return nil
		}
		if cfg.ServerName == "" {
			host, _, _ := net.SplitHostPort(addr)
			cfg.ServerName = host
		}
	}
	d := tls.Dialer{NetDialer: &net.Dialer{Timeout: probeTimeout}, Config: cfg}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err == nil {
		_ = conn.Close()
		if !t.Enabled {
			return ErrTLSRequired
		}
		return nil
	}
	if !t.Enabled {
		return nil
	}
	var opErr *net.OpError
	if errors.As(err, &opErr) && opErr.Op == "dial" {
		return nil // nothing listens: the driver's error says so already
	}
	if isCertError(err) || isNotTLS(err) || errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) {
		return err
	}
	return nil
}

func isCertError(err error) bool {
	var (
		verr *tls.CertificateVerificationError
		uerr x509.UnknownAuthorityError
		herr x509.HostnameError
		ierr x509.CertificateInvalidError
	)
	return errors.As(err, &verr) || errors.As(err, &uerr) || errors.As(err, &herr) || errors.As(err, &ierr)
}

// isNotTLS: the server answered a ClientHello with something that is not
// TLS.
func isNotTLS(err error) bool {
	var rerr tls.RecordHeaderError
	return errors.As(err, &rerr)
}

func asType[T error](err error) (T, bool) {
	var t T
	ok := errors.As(err, &t)
	return t, ok
}

// withPort adds def to hosts that have no port.
func withPort(hosts []string, def string) []string {
	out := make([]string, len(hosts))
	for i, h := range hosts {
		if _, _, err := net.SplitHostPort(h); err != nil {
			h = net.JoinHostPort(h, def)
		}
		out[i] = h
	}
	return out
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}
