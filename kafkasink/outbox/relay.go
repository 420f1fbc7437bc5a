package outbox

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/userstream/userstream/kafkasink"
)

// producer is what a relay needs of a *kafkasink.Producer: produce rows in
// their wire form and report, in the order of rows, which the broker
// acknowledged.
type producer interface {
	ProduceEncodedSync(ctx context.Context, rows ...kafkasink.Encoded) ([]kafkasink.Delivery, error)
}

var _ producer = (*kafkasink.Producer)(nil)

// Stats counts what a relay has done since it was created.
type Stats struct {
	Published int64 // rows acknowledged by the broker, the position moved past them
	Failed    int64 // row deliveries that failed; the rows go out again later
	Batches   int64 // batches committed, with at least one row claimed
	Errors    int64 // rounds that failed (Postgres, Kafka, or both)
	Cleaned   int64 // published rows deleted after the retention
}

// Relay publishes the rows of a [Store] to Kafka. Create it with
// [NewRelay]; run it with [Relay.Run], or drive it with [Relay.RelayOnce].
// It is safe for concurrent use, and any number of relays may work on one
// store: one publishes at a time, the others stand by.
type Relay struct {
	store   *Store
	p       producer
	cfg     relayConfig
	log     *slog.Logger
	running atomic.Bool

	published, failed, batches, errs, cleaned atomic.Int64
}

// NewRelay returns a relay from store to p, which is typically a
// *[kafkasink.Producer] (the relay uses only its ProduceSync method, and
// publishes to the producer's topic). It does no I/O. The caller owns store's
// pool and p, and closes them after Run has returned.
func NewRelay(store *Store, p producer, opts ...RelayOpt) (*Relay, error) {
	if store == nil {
		return nil, errors.New("outbox: nil store")
	}
	if p == nil {
		return nil, errors.New("outbox: nil producer")
	}
	cfg := defaultRelayConfig()
	for _, o := range opts {
		o.applyRelay(&cfg)
	}
	switch {
	case cfg.batchSize < 1:
		return nil, fmt.Errorf("outbox: BatchSize %d, want at least 1", cfg.batchSize)
	case cfg.pollInterval <= 0:
		return nil, fmt.Errorf("outbox: PollInterval %v, want more than 0", cfg.pollInterval)
	case cfg.cleanupInterval <= 0:
		return nil, fmt.Errorf("outbox: CleanupInterval %v, want more than 0", cfg.cleanupInterval)
	case cfg.retention < 0:
		return nil, fmt.Errorf("outbox: Retention %v, want 0 (keep) or more", cfg.retention)
	case cfg.minBackoff <= 0 || cfg.maxBackoff < cfg.minBackoff:
		return nil, fmt.Errorf("outbox: Backoff(%v, %v), want 0 < min <= max", cfg.minBackoff, cfg.maxBackoff)
	case cfg.commitTimeout <= 0:
		return nil, fmt.Errorf("outbox: CommitTimeout %v, want more than 0", cfg.commitTimeout)
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
		Errors:    r.errs.Load(),
		Cleaned:   r.cleaned.Load(),
	}
}

// RelayOnce relays one batch: it takes the relay position's lock, reads
// up to [BatchSize] rows staged after the position, produces them, and
// moves the position past the rows the broker acknowledged, in one
// transaction. It returns how many rows it published; 0 and nil mean
// nothing was waiting, or another relay holds the position (this one then
// stands by).
//
// The position moves over acknowledged rows up to the first failed one:
// when some deliveries fail, RelayOnce commits that prefix and returns its
// number with an [*Error] of op "produce" wrapping the producer's error (a
// *[kafkasink.ProduceError] lists the rows); the rows from the first
// failure on go out again in a later round (those of them that were
// acknowledged, twice). A Postgres error is an [*Error] too. Once the batch
// is produced, moving the position and committing use a context detached
// from ctx, bounded by [CommitTimeout]: a canceled ctx then does not turn
// acknowledged rows into duplicates.
func (r *Relay) RelayOnce(ctx context.Context) (n int, err error) {
	res, err := r.round(ctx)
	if err != nil {
		r.errs.Add(1)
	}
	return res.published, err
}

type roundResult struct{ claimed, published int }

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

	var pos int64
	if err := tx.QueryRow(ctx, s.q.lockPosition).Scan(&pos); err != nil {
		var pg *pgconn.PgError
		switch {
		case errors.As(err, &pg) && pg.Code == codeLockNotAvailable:
			return res, nil // another relay is publishing
		case errors.Is(err, pgx.ErrNoRows):
			return res, s.wrap("claim", fmt.Errorf("%w: the outbox_position row is missing", ErrNotMigrated))
		}
		return res, s.wrap("claim", err)
	}
	claimed, err := tx.Query(ctx, s.q.claim, pos, r.cfg.batchSize)
	if err != nil {
		return res, s.wrap("claim", err)
	}
	// The payloads go out as they are, without being decoded: Stage
	// wrote them with transform.Marshal, and a row inserted by other
	// means that is not a valid row is dead-lettered by the consumers.
	// The fetch time travels in a header, for the fetch-to-stored
	// latency wherever the rows are stored.
	var (
		seqs []int64
		rows = make([]kafkasink.Encoded, 0, r.cfg.batchSize)
		seq  int64
		row  kafkasink.Encoded
	)
	for claimed.Next() {
		row = kafkasink.Encoded{} // a fresh Value: the producer keeps it
		if err := claimed.Scan(&seq, &row.ID, &row.Value, &row.FetchedAt); err != nil {
			claimed.Close()
			return res, s.wrap("claim", err)
		}
		seqs = append(seqs, seq)
		rows = append(rows, row)
	}
	if err := claimed.Err(); err != nil {
		return res, s.wrap("claim", err)
	}
	res.claimed = len(rows)
	if res.claimed == 0 {
		return res, nil
	}

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

	// From here on the broker has the acknowledged rows: the position must
	// be committed even if ctx has ended, or they would all be produced
	// again.
	if res.published > 0 {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.cfg.commitTimeout)
		defer cancel()
		if _, err := tx.Exec(cctx, s.q.advance, seqs[res.published-1]); err != nil {
			return roundResult{claimed: res.claimed}, r.lostMarks(s.wrap("advance", err), res.published)
		}
		if err := tx.Commit(cctx); err != nil {
			return roundResult{claimed: res.claimed}, r.lostMarks(s.wrap("commit", err), res.published)
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

// lostMarks logs that a batch the broker acknowledged was not recorded as
// published, so its rows will be produced again, and returns err.
func (r *Relay) lostMarks(err error, acked int) error {
	if acked > 0 {
		r.log.Warn("outbox: acknowledged rows not recorded as published; they will be produced again (duplicates, not loss)",
			"rows", acked, "err", err)
	}
	return err
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
// were staged, or for [PollInterval]. Every [CleanupInterval] it deletes
// rows published longer than [Retention] ago.
//
// A failed round (Postgres or Kafka unavailable, a missing privilege) is
// logged and retried with exponential [Backoff]; Run does not return
// because of it, so a relay outlives outages and a grant or a migration can
// fix it without a restart. A relay runs one Run at a time: a second
// concurrent call returns [ErrRunning].
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
		if err != nil {
			r.errs.Add(1)
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
		if res.claimed == r.cfg.batchSize {
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
func (r *Relay) backoff(failures int) time.Duration {
	d := r.cfg.minBackoff
	for i := 1; i < failures && d < r.cfg.maxBackoff; i++ {
		d *= 2
	}
	d = min(d, r.cfg.maxBackoff)
	return d/2 + rand.N(d/2+1)
}

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
