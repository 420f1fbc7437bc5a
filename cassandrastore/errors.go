package cassandrastore

import (
	"context"
	"errors"
	"fmt"
	"net"

	"github.com/gocql/gocql"
)

// Errors returned by this package. Test for them with errors.Is.
var (
	// ErrNotFound is returned by [Store.Get] when no row has the id. It
	// wraps gocql.ErrNotFound, so errors.Is matches either.
	ErrNotFound = fmt.Errorf("cassandrastore: row not found: %w", gocql.ErrNotFound)

	// ErrInvalidName is returned by [New] when a keyspace or table name is
	// not a CQL identifier this package accepts: a letter, then up to 47
	// letters, digits or underscores, and not a reserved word.
	ErrInvalidName = errors.New("cassandrastore: invalid keyspace or table name")

	// ErrInvalidID is the error of a row whose id is not a UUID. Such a row
	// is never sent, and retrying it cannot succeed.
	ErrInvalidID = errors.New("cassandrastore: id is not a UUID")

	// ErrInvalidVersion is the error of a change whose Version is
	// negative (0 is unversioned, a positive Version a write time in
	// microseconds). Such a change is never sent, and retrying it cannot
	// succeed.
	ErrInvalidVersion = errors.New("cassandrastore: negative version")

	// ErrIncompatibleSchema is returned by [Store.Migrate] when the existing
	// table has a column of the wrong type or a different primary key; the
	// migration only adds columns, it never rewrites them.
	ErrIncompatibleSchema = errors.New("cassandrastore: existing table is incompatible")
)

// RowError is the failure of one row (or change) of a bulk write.
type RowError struct {
	Index int    // position of the row in the slice given to UpsertMany, or of the change given to ApplyMany
	ID    string // the row's id
	Err   error
}

func (e RowError) Error() string { return fmt.Sprintf("row %d (id %q): %v", e.Index, e.ID, e.Err) }

// Unwrap returns the row's error.
func (e RowError) Unwrap() error { return e.Err }

// WriteError is returned by [Store.UpsertMany] and [Store.ApplyMany] when
// some rows (or changes) were not written. Rows not listed in Failed were written. Because upserts are
// idempotent, writing the failed rows again (or all of them) is safe.
type WriteError struct {
	Rows   int        // rows given to UpsertMany, or changes to ApplyMany
	Failed []RowError // in the order of the input
}

func (e *WriteError) Error() string {
	if len(e.Failed) == 0 {
		return "cassandrastore: bulk write failed"
	}
	return fmt.Sprintf("cassandrastore: %d of %d rows not written; first: %v", len(e.Failed), e.Rows, e.Failed[0])
}

// Unwrap returns one RowError per failed row, so errors.Is and errors.As
// look through every row's error.
func (e *WriteError) Unwrap() []error {
	errs := make([]error, len(e.Failed))
	for i, f := range e.Failed {
		errs[i] = f
	}
	return errs
}

// IsTimeout reports whether err is a timeout: a coordinator's read or write
// timeout (replicas did not answer in time), the client-side request
// timeout, a context deadline, or a network timeout. A timed-out write may
// or may not have been applied; upserts can be retried. For a *WriteError it
// reports whether every failed row timed out.
func IsTimeout(err error) bool { return every(err, isTimeout) }

// IsUnavailable reports whether err means the cluster could not take the
// request: too few replicas alive for the consistency level, no connection
// to any host, or a coordinator that is overloaded or still bootstrapping.
// The request was not applied. For a *WriteError it reports whether every
// failed row was refused so.
func IsUnavailable(err error) bool { return every(err, isUnavailable) }

// IsRetryable reports whether retrying after a backoff may succeed: a
// timeout, unavailability, or a lost connection. Callers should back off
// and retry such failures rather than drop the rows. Invalid rows, schema
// errors, authentication failures and cancellation are not retryable. For a
// *WriteError it reports whether every failed row is retryable; inspect
// [WriteError.Failed] to retry some rows and reject the others.
func IsRetryable(err error) bool { return every(err, retryable) }

// every applies pred to err, or to each failed row's error when err holds a
// *WriteError: a bulk write is only as retryable as its worst row.
func every(err error, pred func(error) bool) bool {
	if err == nil {
		return false
	}
	var we *WriteError
	if errors.As(err, &we) && len(we.Failed) > 0 {
		for _, f := range we.Failed {
			if !pred(f.Err) {
				return false
			}
		}
		return true
	}
	return pred(err)
}

func isTimeout(err error) bool {
	var (
		wt *gocql.RequestErrWriteTimeout
		rt *gocql.RequestErrReadTimeout
		ne net.Error
	)
	switch {
	case errors.As(err, &wt), errors.As(err, &rt):
		return true
	case errors.Is(err, gocql.ErrTimeoutNoResponse), errors.Is(err, context.DeadlineExceeded):
		return true
	case errors.As(err, &ne) && ne.Timeout():
		return true
	}
	return false
}

func isUnavailable(err error) bool {
	var (
		un *gocql.RequestErrUnavailable
		re gocql.RequestError
	)
	switch {
	case errors.As(err, &un):
		return true
	case errors.Is(err, gocql.ErrNoConnections), errors.Is(err, gocql.ErrUnavailable),
		errors.Is(err, gocql.ErrNoConnectionsStarted):
		return true
	case errors.As(err, &re):
		return re.Code() == gocql.ErrCodeOverloaded || re.Code() == gocql.ErrCodeBootstrapping
	}
	return false
}

func retryable(err error) bool {
	if errors.Is(err, context.Canceled) || errors.Is(err, gocql.ErrSessionClosed) {
		return false
	}
	if isTimeout(err) || isUnavailable(err) {
		return true
	}
	if errors.Is(err, gocql.ErrConnectionClosed) || errors.Is(err, gocql.ErrNoStreams) {
		return true
	}
	// Anything else from the network (connection refused or reset) is
	// transient from the client's point of view.
	var ne net.Error
	return errors.As(err, &ne)
}

// RejectedRows returns the rows of the write that can never be written,
// by their index in the slice given to UpsertMany (or ApplyMany), with
// their errors: rows whose id is not a UUID ([ErrInvalidID]) and changes
// with a negative version ([ErrInvalidVersion]), which are never sent. It returns
// nil unless every failed row is of that kind: when any failure may heal by
// retrying (a timeout, an unavailable replica, a lost connection), the
// whole write should be retried, and rejecting some rows would let a retry
// skip the others. Errors Cassandra returns for a request it finds invalid
// are not counted as the row's fault either: with rows that passed
// transform's validation they come from the table (a column dropped, a type
// changed), would refuse every row alike, and are for an operator to fix,
// not for the dead-letter topic. kafkasink.RejectedRows uses it.
func (e *WriteError) RejectedRows() map[int]error {
	if len(e.Failed) == 0 {
		return nil
	}
	out := make(map[int]error, len(e.Failed))
	for _, f := range e.Failed {
		if !errors.Is(f.Err, ErrInvalidID) && !errors.Is(f.Err, ErrInvalidVersion) {
			return nil
		}
		out[f.Index] = f.Err
	}
	return out
}
