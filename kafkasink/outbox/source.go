package outbox

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/userstream/userstream/kafkasink"
)

// Source is what a [Relay] needs of an outbox: *[Store] is the one this
// package provides. Implement it to test code that drives a relay (a drain
// loop, a shutdown sequence) without PostgreSQL; the relay's own guarantees
// (stage order, at least once, one publisher at a time) hold only as far as
// the implementation keeps the contract below.
//
// Schema names the outbox in errors, logs and [TopicMismatchError].
//
// Claim begins one relay round for a relay publishing to topic. It takes
// the relay position exclusively, without waiting, and returns up to limit
// rows after it, in stage order, each with a Value the relay may hand to
// its producer. When another round holds the position it returns
// [ErrStandby] at once. An outbox is bound to one topic: if it is bound to
// another, Claim returns a *[TopicMismatchError] and hands out no row; if
// it is bound to none yet, the claim's Commit binds it to topic when it
// moves the position (n > 0), in the same step, so an outbox is bound
// exactly when something has been published from it. A claim that
// publishes nothing (an empty outbox, a produce that failed) binds
// nothing. On success the caller must end the claim.
//
// Listen waits for rows to be staged and calls notify for each
// notification, and once as soon as it is listening (rows staged before
// were not notified), until ctx ends or the connection fails; it returns
// the error that ended it. notify must not block.
//
// DeletePublished deletes the published rows staged more than olderThan
// ago that a newer version of the same user replaced, and returns how
// many; pending rows, and each user's latest version, are never deleted. Pending counts
// the rows after the relay position.
//
// Implementations must be safe for concurrent use: several relays may
// share one.
type Source interface {
	Schema() string
	Claim(ctx context.Context, topic string, limit int) (Claim, error)
	Listen(ctx context.Context, notify func()) error
	DeletePublished(ctx context.Context, olderThan time.Duration) (int64, error)
	Pending(ctx context.Context) (int64, error)
}

// Claim is one relay round's hold on the relay position, from
// [Source.Claim] until Commit or Release, with the rows it read.
//
// Rows returns the rows claimed, in stage order (possibly none). Commit
// moves the position past the first n of them (0 <= n <= len(Rows())) and
// ends the claim: once it returns nil, those rows count as published for
// every relay. Release ends the claim without moving the position; it is a
// no-op after Commit, and may be called more than once. Both must complete
// even when the round's context has ended (the relay passes them a
// context of their own): until the claim ends, no other relay can publish.
type Claim interface {
	Rows() []kafkasink.Encoded
	Commit(ctx context.Context, n int) error
	Release(ctx context.Context)
}

// *Store is the Source of every relay of this package's tables.
var _ Source = (*Store)(nil)

// TopicMismatchError is returned by [Store.Claim], and so by every call of
// a [Relay] that relays, when the outbox (its Schema) is bound to the
// topic Bound and the relay's [Producer] publishes to Got. Nothing was
// published. errors.Is(err, [ErrTopicMismatch]) is true for it.
//
// An outbox is bound to the topic of the first relay round that publishes
// from it (see the package doc). Publishing one outbox to two topics would split
// its rows between them, and two services sharing a schema would publish
// each other's users, so the second topic is refused rather than served.
type TopicMismatchError struct {
	Schema string // the outbox's schema
	Bound  string // the topic the outbox is bound to
	Got    string // the relay producer's topic
}

func (e *TopicMismatchError) Error() string {
	return fmt.Sprintf("outbox: schema %s is bound to topic %q, not %q: give each service (each topic) an outbox schema of its own (WithSchema)",
		e.Schema, e.Bound, e.Got)
}

// Is makes errors.Is(err, ErrTopicMismatch) true.
func (e *TopicMismatchError) Is(target error) bool { return target == ErrTopicMismatch }

// Claim begins a relay round on the store, as [Source] says: in one
// transaction it locks the position row (SELECT ... FOR UPDATE NOWAIT),
// checks the topic the outbox is bound to, if any, and reads up to limit
// rows after the position; the claim's Commit records the topic with the
// position. The transaction, and with it the position's
// lock, lasts until the claim's Commit or Release. [Relay] calls it; call
// it yourself only to build a relay of your own.
func (s *Store) Claim(ctx context.Context, topic string, limit int) (_ Claim, err error) {
	if topic == "" {
		return nil, errors.New("outbox: claim: empty topic")
	}
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return nil, s.wrap("begin", err)
	}
	c := &claim{s: s, tx: tx, topic: topic}
	defer func() {
		if err != nil {
			c.Release(context.WithoutCancel(ctx))
		}
	}()
	pos, err := c.lock(ctx, topic)
	if err != nil {
		return nil, err
	}
	if err := c.read(ctx, pos, limit); err != nil {
		return nil, err
	}
	return c, nil
}

// claim is the Store's Claim: an open transaction holding the position row.
type claim struct {
	s     *Store
	tx    pgx.Tx
	topic string // the relay's; bound (if unbound) by a Commit that advances
	seqs  []int64
	rows  []kafkasink.Encoded
	dels  []kafkasink.Delivery // the broker's reports of rows, if the relay gave them
}

// deliveryRecorder is the optional capability of a [Claim] to record where
// its rows went in Kafka when it commits: the Store's claim has it, and
// [Relay] gives it the producer's reports (one per row, in row order)
// before Commit.
type deliveryRecorder interface {
	recordDeliveries(dels []kafkasink.Delivery)
}

func (c *claim) recordDeliveries(dels []kafkasink.Delivery) { c.dels = dels }

// lock locks the position row and returns the position, ErrStandby when
// another relay holds the lock, or a *TopicMismatchError. NOWAIT: waiting
// would only queue this relay behind one that is already publishing.
func (c *claim) lock(ctx context.Context, topic string) (int64, error) {
	s := c.s
	var (
		pos   int64
		bound *string
	)
	err := c.tx.QueryRow(ctx, s.q.lockPosition).Scan(&pos, &bound)
	var pg *pgconn.PgError
	switch {
	case err == nil:
	case errors.As(err, &pg) && pg.Code == codeLockNotAvailable:
		return 0, ErrStandby
	case errors.Is(err, pgx.ErrNoRows):
		return 0, s.wrap("lock position", fmt.Errorf("%w: the outbox_position row is missing", ErrNotMigrated))
	default:
		return 0, s.wrap("lock position", err)
	}
	// An unbound outbox is bound by Commit, with the position: binding
	// here would let a round that publishes nothing (an empty outbox, a
	// mistyped topic whose produce fails) bind it for good.
	if bound != nil && *bound != topic {
		return 0, &TopicMismatchError{Schema: s.schema, Bound: *bound, Got: topic}
	}
	return pos, nil
}

// read reads the rows after pos, in seq order, up to limit. Rows become
// visible in seq order (the outbox_serialize trigger), so no row can appear
// later at or below a seq read here.
func (c *claim) read(ctx context.Context, pos int64, limit int) error {
	s := c.s
	found, err := c.tx.Query(ctx, s.q.read, pos, limit)
	if err != nil {
		return s.wrap("read", err)
	}
	defer found.Close()
	// The payloads go out as they are, without being decoded: Stage
	// wrote them with transform.Marshal, and a row inserted by other
	// means that is not a valid row is dead-lettered by the consumers.
	// The fetch time travels in a header, for the fetch-to-stored
	// latency wherever the rows are stored, and so does the version; a
	// deletion (a NULL payload, so a nil Value) goes out as a tombstone.
	var seq int64
	for found.Next() {
		row := kafkasink.Encoded{} // a fresh Value: the producer may keep it
		if err := found.Scan(&seq, &row.ID, &row.Value, &row.FetchedAt, &row.Version, &row.Delete); err != nil {
			return s.wrap("read", err)
		}
		c.seqs = append(c.seqs, seq)
		c.rows = append(c.rows, row)
	}
	return s.wrap("read", found.Err())
}

func (c *claim) Rows() []kafkasink.Encoded { return c.rows }

// Commit moves the position to the n-th row's seq, binds an unbound outbox
// to the claim's topic in the same statement (lock checked that it is
// unbound or bound to that topic), records where the n rows went in Kafka
// when the relay gave their deliveries (outbox_rounds, also in that
// statement), and commits.
func (c *claim) Commit(ctx context.Context, n int) error {
	s := c.s
	if n < 0 || n > len(c.rows) {
		c.Release(ctx)
		return fmt.Errorf("outbox: commit %d rows of a claim of %d", n, len(c.rows))
	}
	if n > 0 {
		var err error
		if len(c.dels) >= n {
			_, err = c.tx.Exec(ctx, s.q.advanceRecorded, c.seqs[n-1], c.topic, c.seqs[0], c.seqs[:n], partitionsOf(c.dels[:n]), offsetsOf(c.dels[:n]))
		} else {
			_, err = c.tx.Exec(ctx, s.q.advance, c.seqs[n-1], c.topic)
		}
		if err != nil {
			c.Release(ctx)
			return s.wrap("advance", err)
		}
	}
	return s.wrap("commit", c.tx.Commit(ctx))
}

func partitionsOf(dels []kafkasink.Delivery) []int32 {
	out := make([]int32, len(dels))
	for i, d := range dels {
		out[i] = d.Partition
	}
	return out
}

func offsetsOf(dels []kafkasink.Delivery) []int64 {
	out := make([]int64, len(dels))
	for i, d := range dels {
		out[i] = d.Offset
	}
	return out
}

// Release rolls the transaction back, and so releases the position's lock.
// It is a no-op once the transaction has ended.
func (c *claim) Release(ctx context.Context) { _ = c.tx.Rollback(ctx) }

// BoundTopic returns the topic the outbox is bound to, or "" while no
// relay round has published from it (see the package doc).
func (s *Store) BoundTopic(ctx context.Context) (string, error) {
	var topic *string
	if err := s.pool.QueryRow(ctx, s.q.boundTopic).Scan(&topic); err != nil {
		return "", s.wrap("read topic", err)
	}
	if topic == nil {
		return "", nil
	}
	return *topic, nil
}

// Listen LISTENs on the store's channel ([Store.Channel]) on a connection
// of its own, taken out of the pool and closed at the end, as [Source]
// says: it calls notify once when listening, then for each notification,
// until ctx ends or the connection fails. [Relay.Run] calls it.
func (s *Store) Listen(ctx context.Context, notify func()) error {
	pc, err := s.pool.Acquire(ctx)
	if err != nil {
		return s.wrap("listen", err)
	}
	// The connection leaves the pool for good: a connection that LISTENs
	// must not be handed to anyone else, and it is busy waiting anyway.
	conn := pc.Hijack()
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		_ = conn.Close(cctx)
		cancel()
	}()
	if _, err := conn.Exec(ctx, s.q.listen); err != nil {
		return s.wrap("listen", err)
	}
	// Rows staged before LISTEN took effect sent no notification to us.
	notify()
	for {
		if _, err := conn.WaitForNotification(ctx); err != nil {
			return s.wrap("listen", err)
		}
		notify()
	}
}
