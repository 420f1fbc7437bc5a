package outbox

import (
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5/pgconn"
)

var (
	// ErrNotMigrated matches (with errors.Is) an [*Error] caused by a
	// missing schema, table, column or function: [Store.Migrate] has not
	// run on this database and schema, or not since this release (a
	// schema of an older version lacks the newer columns).
	ErrNotMigrated = errors.New("outbox: schema not migrated (run Store.Migrate)")
	// ErrSchemaTooNew is returned by [Store.Migrate] when the database's
	// schema version is newer than this package knows: a newer release
	// migrated it, and this one must not write to it.
	ErrSchemaTooNew = errors.New("outbox: database schema is newer than this package")
	// ErrRunning is returned by [Relay.Run] when the relay is already
	// running.
	ErrRunning = errors.New("outbox: relay already running")
	// ErrStandby is returned by [Relay.RelayOnce] when another relay holds
	// the relay position's lock and is publishing: this relay read and
	// produced nothing, and may try again later. It is not a failure;
	// [Relay.Run] waits and tries again without backing off.
	ErrStandby = errors.New("outbox: another relay holds the position; standing by")
	// ErrTopicMismatch matches (with errors.Is) a *[TopicMismatchError]:
	// the outbox is bound to another topic than the relay's producer.
	ErrTopicMismatch = errors.New("outbox: the outbox is bound to another topic")
)

// SQLSTATE codes this package tells apart.
const (
	codeInsufficientPrivilege = "42501"
	codeUndefinedTable        = "42P01"
	codeUndefinedColumn       = "42703"
	codeInvalidSchemaName     = "3F000"
	codeUndefinedFunction     = "42883"
	codeLockNotAvailable      = "55P03"
)

// Error is a failed operation of a [Store] or [Relay]. Op names it: "ping",
// "migrate", "stage", "count", "cleanup" and "read topic" for a Store;
// "begin", "lock position", "read", "produce", "advance",
// "commit" and "listen" for a relay's round (a [Claim]) or its LISTEN
// connection. Schema is the store's schema, and
// Err is the cause: for database operations the pgx error (a
// *pgconn.PgError from the server, a *pgconn.ConnectError when no
// connection could be made, or a context error); for "produce" the
// [Producer]'s error, usually a *kafkasink.ProduceError.
//
// Error's text never contains the connection string: the store only sees a
// pool, and pgx redacts passwords in its own connection errors.
type Error struct {
	Op     string
	Schema string
	Err    error
}

func (e *Error) Error() string {
	msg := fmt.Sprintf("outbox: %s (schema %s): %v", e.Op, e.Schema, e.Err)
	var pg *pgconn.PgError
	if errors.As(e.Err, &pg) {
		switch pg.Code {
		case codeInsufficientPrivilege:
			msg += "; the database role lacks a privilege on the outbox schema (grant it, or run Migrate as the schema's owner)"
		case codeUndefinedTable, codeInvalidSchemaName, codeUndefinedColumn, codeUndefinedFunction:
			msg += "; run Store.Migrate first"
		}
	}
	return msg
}

func (e *Error) Unwrap() error { return e.Err }

// Is makes errors.Is(err, ErrNotMigrated) true for a missing schema, table,
// column or function. This package's statements name only its own tables'
// columns, so a missing column means a schema older than the package: a
// binary deployed before Store.Migrate ran on its database.
func (e *Error) Is(target error) bool {
	if target != ErrNotMigrated {
		return false
	}
	var pg *pgconn.PgError
	if !errors.As(e.Err, &pg) {
		return false
	}
	switch pg.Code {
	case codeUndefinedTable, codeInvalidSchemaName, codeUndefinedColumn, codeUndefinedFunction:
		return true
	}
	return false
}

// IsPermissionDenied reports whether err was caused by the database
// refusing the role a privilege (SQLSTATE 42501). Retrying does not help;
// a grant does.
func IsPermissionDenied(err error) bool {
	var pg *pgconn.PgError
	return errors.As(err, &pg) && pg.Code == codeInsufficientPrivilege
}

// wrap returns err as an *Error of op, or nil.
func (s *Store) wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	return &Error{Op: op, Schema: s.schema, Err: err}
}
