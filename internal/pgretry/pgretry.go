// Package pgretry tells the PostgreSQL errors a new connection can heal
// (a lost, refused or reset connection, a server shutting down or starting
// up) from those a retry would meet again, for the packages that retry a
// statement across a restart: ingest (staging) and runledger.
package pgretry

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"syscall"

	"github.com/jackc/pgx/v5/pgconn"
)

// Retryable reports whether err is one a new connection can heal: the
// connection was lost, refused or reset, or the server is shutting down,
// starting up or out of connection slots. Not a constraint, permission or
// syntax error (a retry would fail the same way), and nothing once ctx
// has ended.
func Retryable(ctx context.Context, err error) bool {
	if err == nil || ctx.Err() != nil {
		return false
	}
	var pg *pgconn.PgError
	if errors.As(err, &pg) {
		// The server answered: its SQLSTATE says whether it was the
		// connection. Class 08 is "connection exception".
		switch pg.Code {
		case "57P01", // admin_shutdown: pg_terminate_backend, a fast shutdown
			"57P02", // crash_shutdown: another backend crashed
			"57P03", // cannot_connect_now: starting up or in recovery
			"53300": // too_many_connections
			return true
		}
		return strings.HasPrefix(pg.Code, "08")
	}
	// pgx says the error came before anything was sent (a closed
	// connection taken from the pool, for one).
	if pgconn.SafeToRetry(err) {
		return true
	}
	// The connection failed under a statement or could not be made: a
	// network error (refused, reset, a dial or read timeout, a DNS
	// failure) or the server closing the socket.
	var ne net.Error
	return errors.As(err, &ne) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, pgconn.ErrConnClosed) || errors.Is(err, net.ErrClosed) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, syscall.EPIPE)
}
