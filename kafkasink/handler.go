package kafkasink

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/userstream/userstream/transform"
)

// Message is a decoded, valid record with where it was read from: a
// user's row or, when Delete is set, the user's deletion.
type Message struct {
	// Row is the user's row; for a delete, only Row.ID (the record's
	// key) is set.
	Row transform.Row
	// Version is the version of the row or deletion, from the record's
	// row-version header ([HeaderRowVersion]): microseconds since the
	// Unix epoch, a larger one newer ([transform.Change.Version]). 0 for
	// a record without the header: unversioned.
	Version int64
	// Delete says the record is a tombstone (a row-version header and no
	// value): the user Row.ID was deleted at Version. [ChangesHandler]
	// hands it to the store; [RowsHandler] cannot, and dead-letters it.
	Delete    bool
	Topic     string
	Partition int32
	Offset    int64
	Timestamp time.Time // the record's timestamp, set by its producer
	FetchedAt time.Time // from the fetched-at header; zero without one
}

// Change returns the change m carries, for a store's [ChangeWriter]: its
// row or deletion, and its version.
func (m Message) Change() transform.Change {
	return transform.Change{Row: m.Row, Delete: m.Delete, Version: m.Version}
}

// Handler processes the messages of one partition, in offset order. It is
// called concurrently for different partitions, so it must be safe for
// concurrent use. ctx ends when the consumer's shutdown timeout runs out
// after Run's context ended or [Consumer.Close] was called.
//
// What it returns decides what happens to msgs:
//
//   - nil: every message is handled; the offsets are committed.
//   - an error that is, or wraps in a chain of single-error wraps (%w), a
//     *[RejectError] (see [Reject]): the messages it names are written to
//     the dead-letter topic with the reason and error given, every other
//     message of msgs counts as handled, and the offsets are committed once
//     the dead-letter writes succeeded. Use it for a row the store refuses
//     for good, never for a store that is down.
//   - any other error, including an errors.Join of a *RejectError and
//     another error: none of msgs is done. Nothing is dead-lettered or
//     committed, and the call is retried with backoff ([WithBackoff]), with
//     the same messages, until it succeeds or the consumer shuts down: a
//     store outage is backpressure, not data loss.
//
// The handler must therefore be idempotent, as an upsert by id is. A handler
// that meets both a permanently bad row and an outage in one call returns
// the plain error; the bad row is rejected on a later call, once the
// outage is over.
type Handler func(ctx context.Context, msgs []Message) error

// Rejection names a message of a [Handler]'s batch that can never be
// stored, for the dead-letter topic.
type Rejection struct {
	Index  int    // the message's position in the slice given to the handler
	Reason string // the dlq-reason header; empty means [ReasonRejected]
	Err    error  // why; its text is the dlq-error header
}

// RejectError is the error a [Handler] returns to dead-letter some messages
// of its batch and have the others counted as handled. Build it with
// [Reject]. Run fails, with an error naming the handler's mistake, when a
// Rejection's Index is outside the batch or repeated.
type RejectError struct {
	Rejected []Rejection
}

// Reject returns a *[RejectError] for the messages rejected, or nil when
// there are none, so that a handler may end with `return
// kafkasink.Reject(rejected...)`.
func Reject(rejected ...Rejection) error {
	if len(rejected) == 0 {
		return nil
	}
	return &RejectError{Rejected: rejected}
}

func (e *RejectError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "kafkasink: %d message(s) rejected", len(e.Rejected))
	for i, r := range e.Rejected {
		if i == 3 {
			fmt.Fprintf(&b, "; and %d more", len(e.Rejected)-i)
			break
		}
		fmt.Fprintf(&b, "; message %d (%s): %s", r.Index, r.reason(), r.errText())
	}
	return b.String()
}

// Unwrap returns the rejections' errors, for errors.Is and As.
func (e *RejectError) Unwrap() []error {
	errs := make([]error, 0, len(e.Rejected))
	for _, r := range e.Rejected {
		if r.Err != nil {
			errs = append(errs, r.Err)
		}
	}
	return errs
}

func (r Rejection) reason() string {
	if r.Reason == "" {
		return ReasonRejected
	}
	return r.Reason
}

func (r Rejection) errText() string {
	if r.Err == nil {
		return "rejected by the handler"
	}
	return r.Err.Error()
}

// asRejectError finds a *RejectError in err's chain of single wraps. It
// does not look into joined errors: a join may carry an outage beside the
// rejections, and an outage must not be committed.
func asRejectError(err error) (*RejectError, bool) {
	for err != nil {
		if r, ok := err.(*RejectError); ok {
			return r, true
		}
		err = errors.Unwrap(err)
	}
	return nil, false
}

// check reports a rejection that does not name exactly one message of a
// batch of n.
func (e *RejectError) check(n int) error {
	seen := make(map[int]bool, len(e.Rejected))
	for _, r := range e.Rejected {
		switch {
		case r.Index < 0 || r.Index >= n:
			return fmt.Errorf("handler rejected message %d of a batch of %d", r.Index, n)
		case seen[r.Index]:
			return fmt.Errorf("handler rejected message %d twice", r.Index)
		}
		seen[r.Index] = true
	}
	return nil
}

// RowWriter stores rows, for [RowsHandler]: for example the UpsertMany
// method of a cassandrastore.Store. It returns nil when every row is stored.
// It may be called again with the same rows, so writing a row twice must be
// harmless (an upsert by id).
type RowWriter func(ctx context.Context, rows []transform.Row) error

// RejectFunc classifies an error of a [RowWriter] for [RowsHandler], or
// of a [ChangeWriter] for [ChangesHandler]. When the write failed only
// because some rows (or changes) can never be stored (a row the store
// refuses as invalid, say), it returns one [Rejection] per such row, with
// Index the row's position in the slice written, which the handler maps
// to the message's position in the batch. When any failure may heal by
// retrying (a timeout, an unavailable store), it returns nil, and the
// whole batch is retried. It must be safe for concurrent use.
type RejectFunc func(err error) []Rejection

// RejectedRows is a [RejectFunc] for stores whose bulk-write error knows
// which rows can never be written: it looks in err's chain for an error
// with a method
//
//	RejectedRows() map[int]error
//
// (cassandrastore's *WriteError has one), which returns those rows by their
// index in the slice written, with their errors, or nil when any failure
// may heal by retrying. Without such an error it returns nil, and the batch
// is retried:
//
//	kafkasink.RowsHandler(store.UpsertMany, kafkasink.RejectedRows)
func RejectedRows(err error) []Rejection {
	var r interface{ RejectedRows() map[int]error }
	if !errors.As(err, &r) {
		return nil
	}
	rows := r.RejectedRows()
	if len(rows) == 0 {
		// nil, as documented, not an empty slice: callers test for nil
		// to tell a failure that may heal from rows rejected for good.
		return nil
	}
	out := make([]Rejection, 0, len(rows))
	for i, err := range rows {
		out = append(out, Rejection{Index: i, Err: err})
	}
	slices.SortFunc(out, func(a, b Rejection) int { return a.Index - b.Index })
	return out
}

// RowsHandler returns a [Handler] that passes the rows of its messages, in
// order, to write, so a store's bulk write serves as the handler without a
// copy loop. reject, if not nil, maps the rows a failed write rejected for
// good back to their messages, which go to the dead-letter topic while the
// others are committed; with a nil reject every error is retried. An error
// while ctx has ended is always retried, never rejected: rows cut off by
// shutdown are not bad rows.
//
// A RowWriter writes rows only. A versioned row ([Message.Version]) is
// written as a row, its version ignored: the last write wins, whatever the
// versions' order. A delete ([Message.Delete]) cannot be written: it is
// never dropped silently nor written as an empty row, but dead-lettered
// with the reason [ReasonUnsupported] once the batch's rows are written;
// redrive it after switching to [ChangesHandler], which applies versions
// and deletes.
func RowsHandler(write RowWriter, reject RejectFunc) Handler {
	return func(ctx context.Context, msgs []Message) error {
		rows := make([]transform.Row, 0, len(msgs))
		var deletes []Rejection
		var index []int // the message of each row, when some are deletes
		for i := range msgs {
			if msgs[i].Delete {
				if deletes == nil {
					index = make([]int, 0, len(msgs))
					for j := range i {
						index = append(index, j)
					}
				}
				deletes = append(deletes, Rejection{Index: i, Reason: ReasonUnsupported, Err: errDeleteUnsupported})
				continue
			}
			rows = append(rows, msgs[i].Row)
			if index != nil {
				index = append(index, i)
			}
		}
		if len(rows) > 0 {
			if err := writeBatch(ctx, func(ctx context.Context) error { return write(ctx, rows) }, reject, index, deletes); err != nil {
				return err
			}
		}
		return Reject(deletes...)
	}
}

// errDeleteUnsupported is the error of a delete met by RowsHandler.
var errDeleteUnsupported = errors.New("a delete (tombstone) cannot be applied by a RowWriter, which writes rows only: consume with ChangesHandler and a ChangeWriter")

// ChangeWriter applies changes, for [ChangesHandler]: for example the
// ApplyMany method of a cassandrastore.Store. Each change is a user's row
// or deletion with its version ([transform.Change]); a store that writes
// at the version lets the newest win whatever order the changes arrive in.
// It returns nil when every change is applied. It may be called again
// with the same changes, so applying one twice must be harmless.
type ChangeWriter func(ctx context.Context, changes []transform.Change) error

// ChangesHandler returns a [Handler] that passes the changes of its
// messages ([Message.Change]: rows and deletes, with their versions), in
// order, to write:
//
//	kafkasink.ChangesHandler(store.ApplyMany, kafkasink.RejectedRows)
//
// reject and ctx are as for [RowsHandler]: reject, if not nil, maps the
// changes a failed write rejected for good (by their index in the slice
// written, which is the message's index) to rejections, which go to the
// dead-letter topic while the others are committed; with a nil reject,
// and while ctx has ended, every error is retried.
func ChangesHandler(write ChangeWriter, reject RejectFunc) Handler {
	return func(ctx context.Context, msgs []Message) error {
		changes := make([]transform.Change, len(msgs))
		for i := range msgs {
			changes[i] = msgs[i].Change()
		}
		return writeBatch(ctx, func(ctx context.Context) error { return write(ctx, changes) }, reject, nil, nil)
	}
}

// writeBatch calls write and classifies its error with reject. index, if
// not nil, maps the position of an item written to its message; extra
// rejections (of messages not written) join those of the write.
func writeBatch(ctx context.Context, write func(context.Context) error, reject RejectFunc, index []int, extra []Rejection) error {
	err := write(ctx)
	if err == nil || reject == nil || ctx.Err() != nil {
		return err
	}
	rejected := reject(err)
	if len(rejected) == 0 {
		return err
	}
	if index != nil {
		for i := range rejected {
			if r := rejected[i].Index; r >= 0 && r < len(index) {
				rejected[i].Index = index[r]
			} else {
				// Not a row written: Run reports the mistake.
				rejected[i].Index = -1
			}
		}
	}
	return &RejectError{Rejected: append(rejected, extra...)}
}
