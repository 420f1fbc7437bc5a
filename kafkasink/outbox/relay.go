package outbox

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/userstream/userstream/kafkasink"
)

// Producer is what a [Relay] publishes through: *[kafkasink.Producer]
// satisfies it, and a decorator (metrics, tracing, a fake in tests) can wrap
// one. The relay calls Topic and ProduceEncodedSync.
//
// Topic returns the topic the producer publishes to, never "", and always
// the same: the relay checks it against the topic its outbox is bound to
// before it produces anything ([TopicMismatchError]).
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
	Topic() string
	ProduceEncodedSync(ctx context.Context, rows ...kafkasink.Encoded) ([]kafkasink.Delivery, error)
}

// Stats counts what a relay has done since it was created.
type Stats struct {
	Published int64 // rows acknowledged by the broker, the position moved past them
	Failed    int64 // row deliveries that failed; the rows go out again later
	Batches   int64 // rounds that read at least one row and produced it
	Standby   int64 // rounds that found another relay holding the position
	Errors    int64 // rounds that failed (Postgres, Kafka, or both)
	Cleaned   int64 // published versions, replaced by newer ones, deleted after the retention
}

// Relay publishes the rows of an outbox (a [Store], or any [Source]) to
// Kafka through a [Producer], in seq order. Create it with [NewRelay], then
// use one of three calls:
//
//   - [Relay.Run] in a service: relays as rows are staged, until ctx ends.
//   - [Relay.Drain] in a batch job: relays until nothing is pending, then
//     cleans up and returns.
//   - [Relay.RelayOnce] for one round, under a scheduler of your own.
//
// It is safe for concurrent use.
//
// Any number of relays, in one process or many, may work on one store, but
// one publishes at a time: each round begins by locking the store's
// position row (SELECT ... FOR UPDATE NOWAIT), and a relay that finds it
// locked stands by ([ErrStandby]) and tries again later. Running several is
// for availability, not throughput: when the publishing relay stops, or its
// connection drops, Postgres releases the lock and one of the others takes
// over at the position it left.
type Relay struct {
	src     Source
	p       Producer
	topic   string
	cfg     relayConfig
	log     *slog.Logger
	running atomic.Bool
	m       *relayMetrics // nil without WithMetrics

	published, failed, batches, standby, errs, cleaned atomic.Int64
}

// NewRelay returns a relay that publishes src's rows (src is usually a
// *[Store]) through p, typically a *[kafkasink.Producer], to p's topic. It
// does no I/O: the outbox's topic is checked by every round, and bound by
// the first that publishes.
// It fails if p's topic is "", an option is out of range, or [WithMetrics]'
// registry refuses a series. The caller owns src (the store's pool) and
// p, and closes them after the relay's last call has returned.
func NewRelay(src Source, p Producer, opts ...RelayOpt) (*Relay, error) {
	if src == nil || isNilStore(src) {
		return nil, errors.New("outbox: nil store")
	}
	if p == nil {
		return nil, errors.New("outbox: nil producer")
	}
	topic := p.Topic()
	if topic == "" {
		return nil, errors.New("outbox: the producer's Topic() is empty")
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
	r := &Relay{src: src, p: p, topic: topic, cfg: cfg, log: cfg.logger.With("schema", src.Schema(), "topic", topic)}
	if cfg.metrics != nil {
		m, err := newRelayMetrics(cfg.metrics)
		if err != nil {
			return nil, err
		}
		r.m = m
	}
	return r, nil
}

// isNilStore reports whether src is a nil *Store in a non-nil interface.
func isNilStore(src Source) bool {
	s, ok := src.(*Store)
	return ok && s == nil
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

// RelayOnce relays one round: it claims the relay position
// ([Source.Claim]: in one transaction, with the position row locked),
// reads up to [WithRoundSize] rows after it in seq order, produces them,
// and moves the position past the rows the broker acknowledged. It returns
// how many rows it published. The outcomes:
//
//   - n > 0, nil: n rows published; call again, more may be waiting.
//   - 0, nil: nothing was pending.
//   - 0, [ErrStandby]: another relay holds the position and is publishing;
//     this one did nothing. It is not a failure, and not counted as one.
//   - 0, a *[TopicMismatchError]: the outbox is bound to another topic
//     than the producer's; nothing was read or produced.
//   - n >= 0, an [*Error] of op "produce" wrapping the producer's error (a
//     *[kafkasink.ProduceError] lists the failed rows): some deliveries
//     failed. The position moved over the n acknowledged rows before the
//     first failure; the rows from that failure on go out again in a later
//     round (those of them that were acknowledged, twice).
//   - 0, another [*Error]: Postgres failed; the position did not move.
//
// Once the rows are produced, moving the position and committing use a
// context detached from ctx, bounded by [WithCommitTimeout]: a canceled ctx
// then does not turn acknowledged rows into duplicates.
//
// For a batch job, [Relay.Drain] calls RelayOnce until nothing is pending.
func (r *Relay) RelayOnce(ctx context.Context) (n int, err error) {
	res, err := r.round(ctx)
	r.count(ctx, err)
	return res.published, err
}

// roundDone records a round that held the position: its rows, and what is
// left pending. A round that read less than a full round read every
// visible row, so what is left is what it did not publish; after a full
// round the rows are counted, at most once per poll interval.
func (r *Relay) roundDone(ctx context.Context, res roundResult) {
	r.published.Add(int64(res.published))
	if r.m == nil {
		return
	}
	r.m.published.Add(float64(res.published))
	// The oldest pending row is the first the round left unpublished,
	// if any; after a round that read less than a full round, with all
	// of it published, there is none; after a full one it is looked up.
	switch {
	case res.published < res.read:
		r.m.setOldest(res.oldest, true)
	case res.read < r.cfg.roundSize:
		r.m.setOldest(time.Time{}, false)
	default:
		r.refreshOldest(ctx)
	}
	if res.read < r.cfg.roundSize {
		r.m.pending.Set(float64(res.read - res.published))
		return
	}
	if r.m.countDue(r.cfg.pollInterval) {
		if n, err := r.src.Pending(ctx); err == nil {
			r.m.pending.Set(float64(n))
		}
	}
}

// oldestPender is the optional capability of a [Source] to say the fetch
// time of its oldest pending row: *Store has it ([Store.OldestPending]).
type oldestPender interface {
	OldestPending(ctx context.Context) (time.Time, bool, error)
}

// refreshOldest looks the oldest pending row up, at most once per poll
// interval, for the userstream_outbox_oldest_pending_seconds gauge; when
// it is not due, or fails, the gauge ages from the oldest last known.
func (r *Relay) refreshOldest(ctx context.Context) {
	if r.m == nil || !r.m.oldestDue(r.cfg.pollInterval) {
		return
	}
	src, ok := r.src.(oldestPender)
	if !ok {
		r.m.ageOldest()
		return
	}
	t, ok, err := src.OldestPending(ctx)
	if err != nil {
		r.m.ageOldest()
		return
	}
	r.m.setOldest(t, ok)
}

// count records a round's outcome other than its rows. A round that did
// not hold the position (standing by, or failed before it read) learned
// nothing of the oldest pending row: refreshOldest looks it up.
func (r *Relay) count(ctx context.Context, err error) {
	switch {
	case errors.Is(err, ErrStandby):
		r.standby.Add(1)
	case err != nil:
		r.errs.Add(1)
		if r.m != nil {
			r.m.errors.Inc()
		}
	}
	if err != nil {
		r.refreshOldest(ctx)
	}
}

// roundResult is what a round did: rows read and published, and the fetch
// time of the first row read and not published (zero when all were).
type roundResult struct {
	read, published int
	oldest          time.Time
}

// endContext is the context that ends a claim: detached from ctx, bounded
// by WithCommitTimeout from now.
func (r *Relay) endContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), r.cfg.commitTimeout)
}

// round is one RelayOnce. The claim holds the position's lock from its
// first statement to its end, so no other relay reads, produces or moves
// the position meanwhile.
func (r *Relay) round(ctx context.Context) (roundResult, error) {
	var res roundResult
	c, err := r.src.Claim(ctx, r.topic, r.cfg.roundSize)
	if err != nil {
		return res, err
	}
	// Ending the claim must not depend on ctx: it releases the
	// position's lock, and after a produce it records what the broker
	// has. Its time (WithCommitTimeout) starts when it is needed, after
	// the produce: a window opened before would have been spent by a
	// produce that waited out a broker outage, and the commit of rows the
	// broker had acknowledged would fail, to be produced again.
	defer func() {
		rctx, cancel := r.endContext(ctx)
		c.Release(rctx) // a no-op after Commit
		cancel()
	}()
	rows := c.Rows()
	if len(rows) == 0 {
		r.roundDone(ctx, res)
		return res, nil
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
	if res.published < len(rows) {
		res.oldest = rows[res.published].FetchedAt
	}
	if res.published > 0 {
		// The acknowledged rows' partitions and offsets go with the
		// position, for Store.History; a report of another shape was
		// counted as not acknowledged above, so published is 0 then.
		if rec, isRec := c.(deliveryRecorder); isRec && len(dels) == len(rows) {
			rec.recordDeliveries(dels)
		}
		cctx, cancel := r.endContext(ctx)
		err := c.Commit(cctx, res.published)
		cancel()
		if err != nil {
			r.log.Warn("outbox: acknowledged rows not recorded as published; they will be produced again (duplicates, not loss)",
				"rows", res.published, "err", err)
			return roundResult{read: res.read}, err
		}
	}
	r.roundDone(ctx, res)
	r.failed.Add(int64(failed))
	r.batches.Add(1)
	if produceErr != nil {
		return res, &Error{Op: "produce", Schema: r.src.Schema(), Err: produceErr}
	}
	return res, nil
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

// Run relays until ctx ends, then returns nil: the call for a service. It
// relays round after round while full rounds come back, then waits for a
// notification that rows were staged (it LISTENs on [Store.Channel]), or
// for [WithPollInterval]. While another relay holds the position, Run
// stands by the same way, and takes over at the first round after that
// relay stops. Every [WithCleanupInterval] it runs [Relay.Cleanup].
//
// A failed round (Postgres or Kafka unavailable, a missing privilege, a
// failed delivery) is logged and retried after a backoff ([WithBackoff]);
// Run does not return because of it, so a relay outlives outages and a
// grant or a migration can fix it without a restart. The exception is a
// *[TopicMismatchError]: the relay is pointed at another topic than its
// outbox's, which time does not fix, and Run returns it. A relay runs one
// Run at a time: a second concurrent call returns [ErrRunning].
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
		r.count(ctx, err)
		if errors.Is(err, ErrTopicMismatch) {
			return err
		}
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

// Drain relays until nothing is pending, then deletes the published rows
// past the retention once ([Relay.Cleanup]) and returns nil: the call for
// a batch job (stage, then drain, then exit), where [Relay.Run] is the one
// for a service and [Relay.RelayOnce] the one for a scheduler of your own.
//
// It relays round after round until a round reads fewer rows than
// [WithRoundSize] and publishes all of them; rows staged meanwhile are
// relayed too, so a drain beside a busy stager may last. While another
// relay holds the position ([ErrStandby]), Drain waits [WithPollInterval]
// and tries again, until that relay stops or releases it, so two jobs
// draining one outbox both finish.
//
// Any other failed round ends Drain with its error (an [*Error], or a
// *[TopicMismatchError]): a batch job fails and its scheduler retries it;
// the position keeps what was published, so the next run resumes there. So
// does a failed cleanup (an [*Error] of op "cleanup"), after every row was
// published. When ctx ends, Drain returns ctx's error. Drain may run
// beside Run or another Drain of the same relay.
func (r *Relay) Drain(ctx context.Context) error {
	for {
		res, err := r.round(ctx)
		r.count(ctx, err)
		if errors.Is(err, ErrStandby) {
			if !sleep(ctx, r.cfg.pollInterval) {
				return ctx.Err()
			}
			continue
		}
		if err != nil {
			return err
		}
		if res.read < r.cfg.roundSize {
			break // nothing was left after this round's rows
		}
	}
	_, err := r.Cleanup(ctx)
	return err
}

// Cleanup deletes the published versions staged more than [WithRetention]
// ago that a newer version of the same user replaced
// ([Store.DeletePublished]), and returns how many it deleted; with a
// retention of 0 it deletes nothing. Pending versions, and each user's
// latest version, are never deleted. [Relay.Run] calls it every
// [WithCleanupInterval] and [Relay.Drain] once at its end; a job that
// drives the relay with [Relay.RelayOnce] calls it itself, or its outbox
// grows forever.
//
// It is the relay's, not the store's, because the retention is a relay
// setting: replaced versions are kept after publishing for as long as
// the relay's owner chose (to inspect or replay them).
// [Store.DeletePublished] deletes by an age given at each call.
func (r *Relay) Cleanup(ctx context.Context) (deleted int64, err error) {
	if r.cfg.retention == 0 {
		return 0, nil
	}
	n, err := r.src.DeletePublished(ctx, r.cfg.retention)
	r.cleaned.Add(n)
	if n > 0 {
		r.log.Debug("outbox: cleaned up published rows", "rows", n, "retention", r.cfg.retention)
	}
	return n, err
}

// cleanup is Run's Cleanup: a failure is logged and left to the next
// cleanup.
func (r *Relay) cleanup(ctx context.Context) {
	if _, err := r.Cleanup(ctx); err != nil && ctx.Err() == nil {
		r.log.Warn("outbox: cleanup failed; retrying at the next interval", "err", err)
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
		listening := false
		err := r.src.Listen(ctx, func() {
			signal(wake)
			if !listening { // the first call: LISTEN is in effect
				listening, failures = true, 0
				if h := r.cfg.onListening; h != nil {
					h()
				}
			}
		})
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

// signal sends on a channel with a buffer of one without blocking: wake-ups
// that arrive while one is pending are merged into it.
func signal(c chan<- struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}
