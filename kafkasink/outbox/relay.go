package outbox

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/userstream/userstream/kafkasink"
)

// Producer is what a [Relay] publishes through: *[kafkasink.Producer]
// satisfies it, and a decorator (metrics, tracing, a fake in tests) can wrap
// one. The relay calls only ProduceEncodedSync.
//
// ProduceEncodedSync produces rows, in their order, and returns once the
// broker has acknowledged or refused each of them, or ctx has ended. It
// reports one [kafkasink.Delivery] per row, in the order of rows and with
// the row's ID; a Delivery with a nil Err is a row the broker acknowledged
// (it is in the topic). The relay moves its position over the acknowledged
// rows up to the first one that is not, and produces that row and every
// row after it again in a later round: a row is counted as published only
// on its own acknowledgement, so a doubtful report causes duplicates, never
// a loss.
//
// A non-nil error fails the relay's round ([Relay.RelayOnce] returns it in
// an [*Error] of op "produce"). When it is, or wraps, a
// *[kafkasink.ProduceError], the per-row report still counts: the rows
// acknowledged before the first failure are published. Any other error, or
// a report of another length or order than rows, counts every row as not
// acknowledged, and the position does not move. A decorator should
// therefore return the inner error as it is, or wrap it with %w.
//
// The relay gives each row a Value of its own and never touches it again,
// so the producer may keep it. Implementations must be safe for concurrent
// use: relays of several stores may share one producer.
type Producer interface {
	ProduceEncodedSync(ctx context.Context, rows ...kafkasink.Encoded) ([]kafkasink.Delivery, error)
}

// Stats counts what a relay has done since it was created.
type Stats struct {
	Published int64 // rows acknowledged by the broker, the position moved past them
	Failed    int64 // row deliveries that failed; the rows go out again later
	Batches   int64 // rounds that read at least one row and produced it
	Standby   int64 // rounds that found another relay holding the position
	Errors    int64 // rounds that failed (Postgres, Kafka, or both)
	Cleaned   int64 // published rows deleted after the retention
}

// Relay publishes the rows of a [Store] to Kafka through a [Producer], in
// seq order. Create it with [NewRelay]; run it with [Relay.Run], or drive
// it with [Relay.RelayOnce]. It is safe for concurrent use.
//
// Any number of relays, in one process or many, may work on one store, but
// one publishes at a time: each round begins by locking the store's
// position row (SELECT ... FOR UPDATE NOWAIT), and a relay that finds it
// locked stands by ([ErrStandby]) and tries again later. Running several is
// for availability, not throughput: when the publishing relay stops, or its
// connection drops, Postgres releases the lock and one of the others takes
// over at the position it left.
type Relay struct {
	store   *Store
	p       Producer
	cfg     relayConfig
	log     *slog.Logger
	running atomic.Bool

	published, failed, batches, standby, errs, cleaned atomic.Int64
}

// NewRelay returns a relay that publishes store's rows through p, typically
// a *[kafkasink.Producer], which publishes to its own topic. It does no
// I/O. The caller owns store's pool and p, and closes them after Run has
// returned.
func NewRelay(store *Store, p Producer, opts ...RelayOpt) (*Relay, error) {
	if store == nil {
		return nil, errors.New("outbox: nil store")
	}
	if p == nil {
		return nil, errors.New("outbox: nil producer")
	}
	all := config{relay: defaultRelayConfig()}
	for _, o := range opts {
		o.apply(&all)
	}
	cfg := all.relay
	switch {
	case cfg.roundSize < 1:
		return nil, fmt.Errorf("outbox: WithRoundSize(%d): want at least 1", cfg.roundSize)
	case cfg.pollInterval <= 0:
		return nil, fmt.Errorf("outbox: WithPollInterval(%v): want more than 0", cfg.pollInterval)
	case cfg.cleanupInterval <= 0:
		return nil, fmt.Errorf("outbox: WithCleanupInterval(%v): want more than 0", cfg.cleanupInterval)
	case cfg.retention < 0:
		return nil, fmt.Errorf("outbox: WithRetention(%v): want 0 (keep) or more", cfg.retention)
	case cfg.backoff.Validate() != nil:
		return nil, fmt.Errorf("outbox: WithBackoff: %w", cfg.backoff.Validate())
	case cfg.commitTimeout <= 0:
		return nil, fmt.Errorf("outbox: WithCommitTimeout(%v): want more than 0", cfg.commitTimeout)
	}
	if cfg.logger == nil {
		cfg.logger = slog.New(slog.DiscardHandler)
	}
	return &Relay{store: store, p: p, cfg: cfg, log: cfg.logger.With("schema", store.schema)}, nil
}

// Stats returns the relay's counters.
func (r *Relay) Stats() Stats {
	return Stats{
		Published: r.published.Load(),
		Failed:    r.failed.Load(),
		Batches:   r.batches.Load(),
		Standby:   r.standby.Load(),
		Errors:    r.errs.Load(),
		Cleaned:   r.cleaned.Load(),
	}
}

// RelayOnce relays one batch: in one transaction it locks the relay
// position, reads up to [WithRoundSize] rows after it in seq order,
// produces them, and moves the position past the rows the broker
// acknowledged. It returns how many rows it published. The outcomes:
//
//   - n > 0, nil: n rows published; call again, more may be waiting.
//   - 0, nil: nothing was pending.
//   - 0, [ErrStandby]: another relay holds the position and is publishing;
//     this one did nothing. It is not a failure, and not counted as one.
//   - n >= 0, an [*Error] of op "produce" wrapping the producer's error (a
//     *[kafkasink.ProduceError] lists the failed rows): some deliveries
//     failed. The position moved over the n acknowledged rows before the
//     first failure; the rows from that failure on go out again in a later
//     round (those of them that were acknowledged, twice).
//   - 0, another [*Error]: Postgres failed; the position did not move.
//
// Once the batch is produced, moving the position and committing use a
// context detached from ctx, bounded by [WithCommitTimeout]: a canceled ctx
// then does not turn acknowledged rows into duplicates.
func (r *Relay) RelayOnce(ctx context.Context) (n int, err error) {
	res, err := r.round(ctx)
	r.count(err)
	return res.published, err
}

// count records a round's outcome other than its rows.
func (r *Relay) count(err error) {
	switch {
	case errors.Is(err, ErrStandby):
		r.standby.Add(1)
	case err != nil:
		r.errs.Add(1)
	}
}

type roundResult struct{ read, published int }

// round is one RelayOnce. The position's lock is held from the first
// statement to the commit, so no other relay reads, produces or moves the
// position meanwhile.
func (r *Relay) round(ctx context.Context) (roundResult, error) {
	var res roundResult
	s := r.store
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return res, s.wrap("begin", err)
	}
	defer func() {
		// Rolling back a committed transaction is a no-op. The rollback
		// must not depend on ctx: it releases the position's lock.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.cfg.commitTimeout)
		_ = tx.Rollback(rctx)
		cancel()
	}()

	pos, err := r.lockPosition(ctx, tx)
	if err != nil {
		return res, err
	}
	seqs, rows, err := r.read(ctx, tx, pos)
	if err != nil || len(rows) == 0 {
		return res, err
	}
	res.read = len(rows)

	start := time.Now()
	dels, err := r.p.ProduceEncodedSync(ctx, rows...)
	ok, failed, produceErr := sortDeliveries(rows, dels, err)
	r.log.Debug("outbox: batch produced", "rows", len(rows), "failed", failed, "took", time.Since(start))
	if h := r.cfg.afterProduce; h != nil {
		h()
	}
	// The position moves over the acknowledged rows up to the first
	// failed one.
	for res.published < len(rows) && ok[res.published] {
		res.published++
	}
	if res.published > 0 {
		if err := r.advance(ctx, tx, seqs[res.published-1]); err != nil {
			r.log.Warn("outbox: acknowledged rows not recorded as published; they will be produced again (duplicates, not loss)",
				"rows", res.published, "err", err)
			return roundResult{read: res.read}, err
		}
	}
	r.published.Add(int64(res.published))
	r.failed.Add(int64(failed))
	r.batches.Add(1)
	if produceErr != nil {
		return res, &Error{Op: "produce", Schema: s.schema, Err: produceErr}
	}
	return res, nil
}

// lockPosition locks the position row and returns the position, or
// ErrStandby when another relay holds the lock. NOWAIT: waiting would only
// queue this relay behind one that is already publishing.
func (r *Relay) lockPosition(ctx context.Context, tx pgx.Tx) (int64, error) {
	s := r.store
	var pos int64
	err := tx.QueryRow(ctx, s.q.lockPosition).Scan(&pos)
	var pg *pgconn.PgError
	switch {
	case err == nil:
		return pos, nil
	case errors.As(err, &pg) && pg.Code == codeLockNotAvailable:
		return 0, ErrStandby
	case errors.Is(err, pgx.ErrNoRows):
		return 0, s.wrap("lock position", fmt.Errorf("%w: the outbox_position row is missing", ErrNotMigrated))
	}
	return 0, s.wrap("lock position", err)
}

// read returns the rows after pos, in seq order, up to a batch. Rows become
// visible in seq order (the outbox_serialize trigger), so no row can appear
// later at or below a seq read here.
func (r *Relay) read(ctx context.Context, tx pgx.Tx, pos int64) ([]int64, []kafkasink.Encoded, error) {
	s := r.store
	found, err := tx.Query(ctx, s.q.read, pos, r.cfg.roundSize)
	if err != nil {
		return nil, nil, s.wrap("read", err)
	}
	defer found.Close()
	// The payloads go out as they are, without being decoded: Stage
	// wrote them with transform.Marshal, and a row inserted by other
	// means that is not a valid row is dead-lettered by the consumers.
	// The fetch time travels in a header, for the fetch-to-stored
	// latency wherever the rows are stored.
	var (
		seqs []int64
		rows = make([]kafkasink.Encoded, 0, r.cfg.roundSize)
		seq  int64
	)
	for found.Next() {
		row := kafkasink.Encoded{} // a fresh Value: the producer may keep it
		if err := found.Scan(&seq, &row.ID, &row.Value, &row.FetchedAt); err != nil {
			return nil, nil, s.wrap("read", err)
		}
		seqs = append(seqs, seq)
		rows = append(rows, row)
	}
	if err := found.Err(); err != nil {
		return nil, nil, s.wrap("read", err)
	}
	return seqs, rows, nil
}

// advance moves the position to seq and commits. From here on the broker
// has the acknowledged rows, so this must happen even if ctx has ended, or
// they would all be produced again: it runs on a context of its own,
// bounded by the commit timeout.
func (r *Relay) advance(ctx context.Context, tx pgx.Tx, seq int64) error {
	s := r.store
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.cfg.commitTimeout)
	defer cancel()
	if _, err := tx.Exec(cctx, s.q.advance, seq); err != nil {
		return s.wrap("advance", err)
	}
	if err := tx.Commit(cctx); err != nil {
		return s.wrap("commit", err)
	}
	return nil
}

// sortDeliveries tells, for each row of a produce call, whether the broker
// acknowledged it, and counts the others. A row counts as acknowledged only
// when its own delivery report says so: when in doubt it is failed, since a
// row produced again is a duplicate, while a row wrongly taken as published
// is lost.
func sortDeliveries(rows []kafkasink.Encoded, dels []kafkasink.Delivery, err error) (ok []bool, failed int, _ error) {
	var pe *kafkasink.ProduceError
	perRow := err == nil || errors.As(err, &pe)
	if len(dels) != len(rows) {
		perRow = false
		if err == nil {
			err = fmt.Errorf("producer reported %d deliveries for %d rows", len(dels), len(rows))
		}
	}
	ok = make([]bool, len(rows))
	for i, row := range rows {
		switch {
		case !perRow:
		case dels[i].ID != row.ID:
			if err == nil {
				err = errors.New("producer reported deliveries out of order")
			}
		case dels[i].Err != nil:
		default:
			ok[i] = true
			continue
		}
		failed++
	}
	return ok, failed, err
}

// Run relays until ctx ends, then returns nil. It relays batch after batch
// while full batches come back, then waits for a notification that rows
// were staged (it LISTENs on [Store.Channel]), or for [WithPollInterval].
// While another relay holds the position, Run stands by the same way, and
// takes over at the first round after that relay stops. Every
// [WithCleanupInterval] it deletes the published rows staged more than
// [WithRetention] ago.
//
// A failed round (Postgres or Kafka unavailable, a missing privilege, a
// failed delivery) is logged and retried after a backoff ([WithBackoff]);
// Run does not return because of it, so a relay outlives outages and a
// grant or a migration can fix it without a restart. A relay runs one Run
// at a time: a second concurrent call returns [ErrRunning].
func (r *Relay) Run(ctx context.Context) error {
	if !r.running.CompareAndSwap(false, true) {
		return ErrRunning
	}
	defer r.running.Store(false)

	wake := make(chan struct{}, 1)
	lctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { r.listen(lctx, wake) })
	defer func() {
		stop()
		wg.Wait()
	}()

	timer := time.NewTimer(0)
	defer timer.Stop()
	var (
		failures    int
		nextCleanup time.Time // zero: clean up at start
	)
	for {
		if ctx.Err() != nil {
			return nil
		}
		if r.cfg.retention > 0 && !time.Now().Before(nextCleanup) {
			r.cleanup(ctx)
			nextCleanup = time.Now().Add(r.cfg.cleanupInterval)
		}
		res, err := r.round(ctx)
		if ctx.Err() != nil {
			return nil
		}
		r.count(err)
		if err != nil && !errors.Is(err, ErrStandby) {
			failures++
			d := r.backoff(failures)
			lvl := slog.LevelWarn
			if IsPermissionDenied(err) || errors.Is(err, ErrNotMigrated) {
				lvl = slog.LevelError // needs a person, not time
			}
			r.log.Log(ctx, lvl, "outbox: relay round failed; retrying", "err", err, "failures", failures, "retry_in", d)
			// Wake-ups are ignored while backing off, or a stream of
			// notifications would defeat the backoff.
			if !sleep(ctx, d) {
				return nil
			}
			continue
		}
		if failures > 0 {
			r.log.Info("outbox: relay recovered", "after_failures", failures)
			failures = 0
		}
		if res.read == r.cfg.roundSize {
			continue // more may be waiting
		}
		wait := r.cfg.pollInterval
		if r.cfg.retention > 0 {
			wait = min(wait, time.Until(nextCleanup))
		}
		timer.Reset(max(wait, 0))
		select {
		case <-ctx.Done():
			return nil
		case <-wake:
			// Since Go 1.23 a stopped timer delivers no stale value, so
			// there is nothing to drain before the next Reset.
			timer.Stop()
		case <-timer.C:
		}
	}
}

// cleanup deletes rows published before the retention; a failure is logged
// and left to the next cleanup.
func (r *Relay) cleanup(ctx context.Context) {
	n, err := r.store.DeletePublished(ctx, r.cfg.retention)
	r.cleaned.Add(n)
	switch {
	case err != nil && ctx.Err() == nil:
		r.log.Warn("outbox: cleanup failed; retrying at the next interval", "err", err)
	case n > 0:
		r.log.Debug("outbox: cleaned up published rows", "rows", n, "retention", r.cfg.retention)
	}
}

// backoff returns the wait after the failures-th failed round in a row:
// doubling from the minimum up to the maximum, with jitter so that relays
// failing together do not retry together.
func (r *Relay) backoff(failures int) time.Duration { return r.cfg.backoff.Delay(failures) }

// sleep waits d or until ctx ends, and reports whether ctx is still live.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// listen LISTENs on the store's channel and signals wake for every
// notification, until ctx ends. A lost connection is re-established with
// backoff; meanwhile Run polls.
func (r *Relay) listen(ctx context.Context, wake chan<- struct{}) {
	failures := 0
	for {
		err := r.listenOnce(ctx, wake, func() { failures = 0 })
		if ctx.Err() != nil {
			return
		}
		failures++
		d := r.backoff(failures)
		r.log.Warn("outbox: LISTEN connection failed; polling until it is back", "err", err, "retry_in", d)
		if !sleep(ctx, d) {
			return
		}
	}
}

func (r *Relay) listenOnce(ctx context.Context, wake chan<- struct{}, listening func()) error {
	s := r.store
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
	listening()
	// Rows staged before LISTEN took effect sent no notification to us.
	signal(wake)
	if h := r.cfg.onListening; h != nil {
		h()
	}
	for {
		if _, err := conn.WaitForNotification(ctx); err != nil {
			return s.wrap("listen", err)
		}
		signal(wake)
	}
}

// signal sends on a channel with a buffer of one without blocking: wake-ups
// that arrive while one is pending are merged into it.
func signal(c chan<- struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}
