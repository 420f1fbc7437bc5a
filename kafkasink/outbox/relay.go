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

	"github.com/userstream/userstream/kafkasink"
	"github.com/userstream/userstream/transform"
)

// producer is what a relay needs of a *kafkasink.Producer: produce rows and
// report, in the order of rows, which the broker acknowledged.
type producer interface {
	ProduceSync(ctx context.Context, rows ...transform.Row) ([]kafkasink.Delivery, error)
}

var _ producer = (*kafkasink.Producer)(nil)

// Stats counts what a relay has done since it was created.
type Stats struct {
	Published int64 // rows acknowledged by the broker and marked published
	Failed    int64 // row deliveries that failed; the rows stay unpublished
	Rejected  int64 // rows set aside because their payload is not a valid row
	Batches   int64 // batches committed, with at least one row claimed
	Errors    int64 // rounds that failed (Postgres, Kafka, or both)
	Cleaned   int64 // published rows deleted after the retention
}

// Relay publishes the rows of a [Store] to Kafka. Create it with
// [NewRelay]; run it with [Relay.Run], or drive it with [Relay.RelayOnce].
// It is safe for concurrent use, and any number of relays may work on one
// store.
type Relay struct {
	store   *Store
	p       producer
	cfg     relayConfig
	log     *slog.Logger
	running atomic.Bool

	published, failed, rejected, batches, errs, cleaned atomic.Int64
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
		Rejected:  r.rejected.Load(),
		Batches:   r.batches.Load(),
		Errors:    r.errs.Load(),
		Cleaned:   r.cleaned.Load(),
	}
}

// RelayOnce relays one batch: it claims up to [BatchSize] unpublished rows,
// produces them, and marks the rows the broker acknowledged published, in
// one transaction. It returns how many rows it published; 0 and nil mean
// nothing was waiting.
//
// When some deliveries fail, RelayOnce still commits the acknowledged rows
// and returns their number with an [*Error] of op "produce" wrapping the
// producer's error (a *[kafkasink.ProduceError] lists the rows); the failed
// rows stay unpublished for a later call. A Postgres error is an [*Error]
// too. Once the batch is produced, marking and committing it use a context
// detached from ctx, bounded by [CommitTimeout]: a canceled ctx then does
// not turn acknowledged rows into duplicates.
func (r *Relay) RelayOnce(ctx context.Context) (n int, err error) {
	res, err := r.round(ctx)
	if err != nil {
		r.errs.Add(1)
	}
	return res.published, err
}

type roundResult struct{ claimed, published int }

// rejectedRow is a claimed row whose payload is not a valid row.
type rejectedRow struct {
	id  string
	err error
}

func (r *Relay) round(ctx context.Context) (roundResult, error) {
	var res roundResult
	s := r.store
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return res, s.wrap("begin", err)
	}
	defer func() {
		// Rolling back a committed transaction is a no-op. The rollback
		// must not depend on ctx: it releases the batch's row locks.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.cfg.commitTimeout)
		_ = tx.Rollback(rctx)
		cancel()
	}()

	claimed, err := tx.Query(ctx, s.q.claim, r.cfg.batchSize)
	if err != nil {
		return res, s.wrap("claim", err)
	}
	var (
		ids      []string
		rows     []transform.Row
		rejected []rejectedRow
		id       string
		payload  []byte
	)
	for claimed.Next() {
		if err := claimed.Scan(&id, &payload); err != nil {
			claimed.Close()
			return res, s.wrap("claim", err)
		}
		row, err := transform.Unmarshal(payload)
		if err == nil {
			err = row.Validate()
		}
		if err != nil {
			// Stage validates, so only a row inserted by other means
			// gets here. Retrying cannot fix it; it is set aside.
			rejected = append(rejected, rejectedRow{id: id, err: err})
			continue
		}
		ids = append(ids, id)
		rows = append(rows, row)
	}
	if err := claimed.Err(); err != nil {
		return res, s.wrap("claim", err)
	}
	res.claimed = len(ids) + len(rejected)
	if res.claimed == 0 {
		return res, nil
	}

	var acked []string
	var failed []failedRow
	var produceErr error
	if len(rows) > 0 {
		start := time.Now()
		dels, err := r.p.ProduceSync(ctx, rows...)
		acked, failed, produceErr = sortDeliveries(ids, rows, dels, err)
		r.log.Debug("outbox: batch produced", "rows", len(rows), "acked", len(acked), "failed", len(failed), "took", time.Since(start))
	}
	if h := r.cfg.afterProduce; h != nil {
		h()
	}

	// From here on the broker has the acknowledged rows: the marks must be
	// committed even if ctx has ended, or they would all be produced again.
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.cfg.commitTimeout)
	defer cancel()
	if err := r.mark(cctx, tx, acked, failed, rejected); err != nil {
		return res, r.lostMarks(err, len(acked))
	}
	if err := tx.Commit(cctx); err != nil {
		return res, r.lostMarks(s.wrap("commit", err), len(acked))
	}

	res.published = len(acked)
	r.published.Add(int64(len(acked)))
	r.failed.Add(int64(len(failed)))
	r.rejected.Add(int64(len(rejected)))
	r.batches.Add(1)
	for _, rj := range rejected {
		r.log.Error("outbox: row set aside: its payload is not a valid row", "id", rj.id, "err", rj.err)
	}
	if produceErr != nil {
		return res, &Error{Op: "produce", Schema: s.schema, Err: produceErr}
	}
	return res, nil
}

// lostMarks logs that a batch the broker acknowledged was not marked, so
// its rows will be published again, and returns err.
func (r *Relay) lostMarks(err error, acked int) error {
	if acked > 0 {
		r.log.Warn("outbox: acknowledged rows not marked published; they will be produced again (duplicates, not loss)",
			"rows", acked, "err", err)
	}
	return err
}

// mark records the batch's outcome in tx: acknowledged rows published,
// failed rows with one more attempt and their error, rejected rows set
// aside.
func (r *Relay) mark(ctx context.Context, tx pgx.Tx, acked []string, failed []failedRow, rejected []rejectedRow) error {
	s := r.store
	if len(acked) > 0 {
		if _, err := tx.Exec(ctx, s.q.markPublished, acked); err != nil {
			return s.wrap("mark published", err)
		}
	}
	if len(failed) > 0 {
		ids, errs := make([]string, len(failed)), make([]string, len(failed))
		for i, f := range failed {
			ids[i], errs[i] = f.id, f.err
		}
		if _, err := tx.Exec(ctx, s.q.markFailed, ids, errs); err != nil {
			return s.wrap("mark failed", err)
		}
	}
	if len(rejected) > 0 {
		ids, errs := make([]string, len(rejected)), make([]string, len(rejected))
		for i, rj := range rejected {
			ids[i], errs[i] = rj.id, rj.err.Error()
		}
		if _, err := tx.Exec(ctx, s.q.markRejected, ids, errs); err != nil {
			return s.wrap("mark rejected", err)
		}
	}
	return nil
}

// failedRow is a row whose delivery failed, with the error's text.
type failedRow struct{ id, err string }

// sortDeliveries splits the rows of a ProduceSync call into acknowledged
// and failed ones. ids are the rows' ids as the table has them. A row counts
// as acknowledged only when its own delivery report says so: when in doubt
// it is failed, since a row produced again is a duplicate, while a row
// wrongly marked published is lost.
func sortDeliveries(ids []string, rows []transform.Row, dels []kafkasink.Delivery, err error) (acked []string, failed []failedRow, _ error) {
	var pe *kafkasink.ProduceError
	perRow := err == nil || errors.As(err, &pe)
	if len(dels) != len(rows) {
		perRow = false
		if err == nil {
			err = fmt.Errorf("producer reported %d deliveries for %d rows", len(dels), len(rows))
		}
	}
	for i, row := range rows {
		switch {
		case !perRow:
			failed = append(failed, failedRow{ids[i], err.Error()})
		case dels[i].ID != row.ID:
			failed = append(failed, failedRow{ids[i], fmt.Sprintf("delivery report for row %q, want %q", dels[i].ID, row.ID)})
			if err == nil {
				err = errors.New("producer reported deliveries out of order")
			}
		case dels[i].Err != nil:
			failed = append(failed, failedRow{ids[i], dels[i].Err.Error()})
		default:
			acked = append(acked, ids[i])
		}
	}
	return acked, failed, err
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
