package kafkasink

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Errors returned by a [Consumer]. Test for them with errors.Is.
var (
	// ErrTopicNotFound is returned by [Consumer.Run] when the consumed
	// topic or the dead-letter topic does not exist; the error's text
	// names the topic. Run checks both before it joins the group, so a
	// missing dead-letter topic fails Run at its start rather than when
	// the first poison record stalls its partition. A topic counts as
	// missing once the brokers have reported it unknown for 5 seconds: one
	// created a moment ago may not be known to every broker yet.
	// [WithCreateDLQ] creates a missing dead-letter topic instead.
	ErrTopicNotFound = errors.New("topic not found")

	// ErrClosed is returned by [Consumer.Run] called after
	// [Consumer.Close]; by [Consumer.LagByPartition] and [Consumer.Lag]
	// after Close or once Run has returned.
	ErrClosed = errors.New("kafkasink: consumer closed")
)

// HandlerError is the error [Consumer.Run] returns, wrapped, when the
// handler failed [WithMaxHandlerAttempts] times in a row on one batch.
// None of the batch's offsets were committed. Unwrap gives the handler's
// last error, so errors.Is and As see it too.
type HandlerError struct {
	Attempts    int   // failed calls in a row
	FirstOffset int64 // the offset of the batch's first message
	LastOffset  int64 // the offset of the batch's last message
	Err         error // the handler's last error
}

func (e *HandlerError) Error() string {
	return fmt.Sprintf("kafkasink: handler failed %d time(s) in a row on offsets %d-%d: %v", e.Attempts, e.FirstOffset, e.LastOffset, e.Err)
}

func (e *HandlerError) Unwrap() error { return e.Err }

type topicPartition struct {
	topic     string
	partition int32
}

type uncommitted struct {
	last *kgo.Record
	n    int64 // records handled since the partition's last commit
}

// Stats counts what a consumer has done since it started.
type Stats struct {
	Handled      int64 // messages the handler accepted
	DeadLettered int64 // records written to the dead-letter topic: poison and rejected
	Rejected     int64 // messages the handler rejected (counted in DeadLettered too)
	Committed    int64 // records whose offsets were committed
	Retries      int64 // failed handler or dead-letter attempts that were retried
}

// Consumer reads rows in a consumer group and commits their offsets only
// after its handler succeeded. Create it with [NewConsumer], call
// [Consumer.Run] once, and [Consumer.Close] when done with it, whether or
// not it ran. Its methods are safe for concurrent use.
type Consumer struct {
	cfg         config
	group       string
	handler     Handler
	cl          *kgo.Client
	reg         *registryConsumer // nil in plain mode
	log         *slog.Logger
	closeClient func()

	ran       atomic.Bool
	closeOnce sync.Once
	closing   chan struct{} // closed by Close
	runDone   chan struct{} // closed when a started Run returns

	// uncommitted holds, per partition, the last handled record whose
	// commit failed; the next commit retries it. A revoked or lost
	// partition's entry is dropped: its new owner reads from the last
	// committed offset (duplicates, never loss).
	mu          sync.Mutex
	uncommitted map[topicPartition]uncommitted
	// committedTo is the offset after this consumer's last commit, by
	// partition of the topic: how far a bounded Run has come.
	committedTo map[int32]int64

	handled, deadLettered, rejected, committed, retries atomic.Int64

	metrics  *consumerMetrics // nil without WithMetrics
	lagNudge chan struct{}    // a commit asks the lag loop for a refresh
}

// NewConsumer returns a consumer of the topic (default users_created) in
// the consumer group, which hands valid rows to h. opts are the options
// common to both sides ([WithTopic], [WithLogger], [WithClientOpts],
// [WithSchemaRegistry], [WithMetrics]) and the [ConsumerOpt] ones. It does no I/O:
// the group is joined, and records read, only by Run. Its franz-go client's
// goroutines run until Run returns or Close is called.
func NewConsumer(brokers []string, group string, h Handler, opts ...ConsumerOpt) (*Consumer, error) {
	if len(brokers) == 0 {
		return nil, errors.New("kafkasink: no brokers")
	}
	if group == "" {
		return nil, errors.New("kafkasink: empty consumer group")
	}
	if h == nil {
		return nil, errors.New("kafkasink: nil handler")
	}
	cfg := newConfig(opts)
	if !cfg.dlqSet {
		cfg.dlqTopic = DLQTopicFor(cfg.topic)
	}
	if err := cfg.validateConsumer(); err != nil {
		return nil, err
	}
	c := &Consumer{
		cfg: cfg, group: group, handler: h, log: cfg.logger,
		closing: make(chan struct{}), runDone: make(chan struct{}),
		uncommitted: map[topicPartition]uncommitted{}, committedTo: map[int32]int64{},
		lagNudge: make(chan struct{}, 1),
	}
	if cfg.registry != nil {
		c.reg = &registryConsumer{cl: cfg.registry}
	}
	var err error
	if c.metrics, err = newConsumerMetrics(cfg.metrics, group, cfg.topic); err != nil {
		return nil, err
	}
	// The consumer's dialer retries a refused connection (retryRefused);
	// franz-go refuses a dialer beside kgo.DialTLSConfig, so with that
	// option (given through WithClientOpts, as secure.Kafka's are) the
	// client keeps franz-go's TLS dialer. The failed try registers
	// nothing: franz-go checks its options before it runs any hook.
	if c.cl, err = newClient(c.clientOpts(brokers, refusedDialOpts(nil))); err != nil {
		var err2 error
		if c.cl, err2 = newClient(c.clientOpts(brokers, nil)); err2 != nil {
			return nil, err
		}
	}
	c.closeClient = sync.OnceFunc(c.cl.Close)
	return c, nil
}

func (cfg *config) validateConsumer() error {
	switch {
	case cfg.topic == "" || cfg.dlqTopic == "":
		return errors.New("kafkasink: empty topic or dead-letter topic")
	case cfg.topic == cfg.dlqTopic:
		return fmt.Errorf("kafkasink: dead-letter topic %q is the topic consumed", cfg.dlqTopic)
	case cfg.maxPollRecords < 1:
		return fmt.Errorf("kafkasink: WithMaxPollRecords(%d), want at least 1", cfg.maxPollRecords)
	case cfg.createDLQ && (cfg.dlqPartitions < 1 || cfg.dlqReplication < 1):
		return fmt.Errorf("kafkasink: WithCreateDLQ(%d, %d), want at least 1 partition and 1 replica", cfg.dlqPartitions, cfg.dlqReplication)
	case cfg.shutdownTimeout < 0:
		return fmt.Errorf("kafkasink: WithShutdownTimeout(%v), want at least 0", cfg.shutdownTimeout)
	case cfg.maxAttempts < 0:
		return fmt.Errorf("kafkasink: WithMaxHandlerAttempts(%d), want at least 0", cfg.maxAttempts)
	case cfg.sessionTimeout < 0:
		return fmt.Errorf("kafkasink: WithSessionTimeout(%v), want more than 0", cfg.sessionTimeout)
	}
	if err := cfg.backoff.Validate(); err != nil {
		return fmt.Errorf("kafkasink: WithBackoff: %w", err)
	}
	return nil
}

func (c *Consumer) clientOpts(brokers []string, dial []kgo.Opt) []kgo.Opt {
	start := kgo.NewOffset().AtStart()
	if c.cfg.startAtEnd {
		start = kgo.NewOffset().AtEnd()
	}
	var group []kgo.Opt
	if d := c.cfg.sessionTimeout; d > 0 {
		group = append(group, kgo.SessionTimeout(d), kgo.HeartbeatInterval(min(d/6, 3*time.Second)))
	}
	if c.cfg.instanceID != "" {
		group = append(group, kgo.InstanceID(c.cfg.instanceID))
	}
	return slices.Concat([]kgo.Opt{
		kgo.SeedBrokers(brokers...),
		// No ConsumeTopics: franz-go would join the group and fetch as
		// soon as the client exists. Run adds the topic, so a consumer
		// never run holds no partitions.
		kgo.ConsumerGroup(c.group),
		kgo.ConsumeResetOffset(start),
		// Offsets are committed by hand, after the handler; and a
		// rebalance waits until the polled batch is handled and
		// committed, so no partition changes hands with work in flight.
		kgo.DisableAutoCommit(),
		kgo.BlockRebalanceOnPoll(),
		kgo.RequiredAcks(kgo.AllISRAcks()), // for dead-letter writes
		kgo.WithLogger(slogLogger{c.cfg.logger}),
		kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, m map[string][]int32) {
			c.log.Info("kafkasink: partitions assigned", "group", c.group, "partitions", m)
		}),
		kgo.OnPartitionsRevoked(func(_ context.Context, _ *kgo.Client, m map[string][]int32) {
			c.log.Info("kafkasink: partitions revoked", "group", c.group, "partitions", m)
			c.forget(m)
		}),
		kgo.OnPartitionsLost(func(_ context.Context, _ *kgo.Client, m map[string][]int32) {
			c.log.Warn("kafkasink: partitions lost; uncommitted records will be delivered again", "group", c.group, "partitions", m)
			c.forget(m)
		}),
	}, group, failoverOpts(), dial, []kgo.Opt{kgo.RetryTimeoutFn(retryTimeout(c.cfg.sessionTimeout))}, kpromOpts(c.cfg.metrics, "consumer"), c.cfg.clientOpts, c.tlsDial(dial))
}

// tlsDial returns, with [WithDialTLS], the options that replace a dialer
// (dial: the consumer's, or none) by one doing the TLS handshake over the
// same connection, after any kgo.DialTLSConfig of WithClientOpts.
func (c *Consumer) tlsDial(dial []kgo.Opt) []kgo.Opt {
	if c.cfg.dialTLS == nil {
		return nil
	}
	if dial == nil {
		return tlsOpts(c.cfg.dialTLS)
	}
	return append([]kgo.Opt{kgo.DialTLSConfig(nil)}, refusedDialOpts(c.cfg.dialTLS)...)
}

// Client returns the underlying franz-go client, for metrics and
// administration. The consumer owns it: do not close it.
func (c *Consumer) Client() *kgo.Client { return c.cl }

// Topic returns the topic consumed.
func (c *Consumer) Topic() string { return c.cfg.topic }

// DLQTopic returns the dead-letter topic.
func (c *Consumer) DLQTopic() string { return c.cfg.dlqTopic }

// Stats returns the consumer's counters.
func (c *Consumer) Stats() Stats {
	return Stats{
		Handled:      c.handled.Load(),
		DeadLettered: c.deadLettered.Load(),
		Rejected:     c.rejected.Load(),
		Committed:    c.committed.Load(),
		Retries:      c.retries.Load(),
	}
}

// LagByPartition returns the group's lag on the topic by partition: the
// records of each partition that the group has not committed yet (end
// offset minus committed offset, never below 0). A partition the group has
// never committed counts whole: its end offset minus its start offset (the
// records still in the log), also before the group's first commit ever,
// whatever [WithStartAtEnd] says. It counts commits made by every member of
// the group, not only this consumer's, and may be called before, during
// and after Run, from any goroutine.
//
// After [Consumer.Close], or once Run has returned (which releases the
// client), it fails with [ErrClosed]. A topic that does not exist is
// [ErrTopicNotFound]. A retriable broker error (the group's coordinator
// still loading, a leader moving) is retried with the consumer's backoff
// for up to 10 seconds, within ctx.
func (c *Consumer) LagByPartition(ctx context.Context) (map[int32]int64, error) {
	if c.isClosed() {
		return nil, ErrClosed
	}
	lags, err := c.lagRetrying(ctx)
	if err != nil {
		if errors.Is(err, kgo.ErrClientClosed) || c.isClosed() {
			return nil, ErrClosed
		}
		return nil, fmt.Errorf("kafkasink: lag: %w", err)
	}
	return lags, nil
}

// lagRetrying is lagByPartition, retrying a retriable error for up to
// lagRetryFor.
func (c *Consumer) lagRetrying(ctx context.Context) (map[int32]int64, error) {
	spans, err := c.spansRetrying(ctx)
	if err != nil {
		return nil, err
	}
	return lagsOf(spans), nil
}

// spansRetrying is pendingSpans, retrying a retriable error for up
// to lagRetryFor.
func (c *Consumer) spansRetrying(ctx context.Context) (map[int32]span, error) {
	for attempt, start := 1, time.Now(); ; attempt++ {
		spans, err := c.pendingSpans(ctx)
		if err == nil || !retriable(err) || errors.Is(err, ErrTopicNotFound) || errors.Is(err, kgo.ErrClientClosed) ||
			time.Since(start) >= lagRetryFor || c.cfg.backoff.Wait(ctx, attempt) != nil {
			return spans, err
		}
	}
}

// lagRetryFor is how long LagByPartition retries a retriable error, such
// as the group's coordinator still loading.
const lagRetryFor = 10 * time.Second

// Lag returns the group's total lag on its topic: the sum of
// [Consumer.LagByPartition], with its behaviour and errors.
func (c *Consumer) Lag(ctx context.Context) (int64, error) {
	lags, err := c.LagByPartition(ctx)
	if err != nil {
		return 0, err
	}
	var total int64
	for _, l := range lags {
		total += l
	}
	return total, nil
}

// isClosed reports whether Close was called or Run has returned.
func (c *Consumer) isClosed() bool {
	select {
	case <-c.closing:
		return true
	case <-c.runDone:
		return true
	default:
		return false
	}
}

func (c *Consumer) lagByPartition(ctx context.Context) (map[int32]int64, error) {
	spans, err := c.pendingSpans(ctx)
	if err != nil {
		return nil, err
	}
	return lagsOf(spans), nil
}

// span is a partition's records not committed by the group: from the
// first of them (the committed offset, or the partition's start) to the
// end offset.
type span struct{ from, end int64 }

func lagsOf(spans map[int32]span) map[int32]int64 {
	out := make(map[int32]int64, len(spans))
	for p, s := range spans {
		out[p] = max(s.end-s.from, 0)
	}
	return out
}

// pendingSpans returns, by partition of the topic, the span of records
// the group has not committed.
func (c *Consumer) pendingSpans(ctx context.Context) (map[int32]span, error) {
	ends, starts, committed, err := c.offsets(ctx)
	if err != nil {
		return nil, topicErr(c.cfg.topic, err)
	}
	out := map[int32]span{}
	ends.Each(func(end kadm.ListedOffset) {
		start, _ := starts.Lookup(end.Topic, end.Partition)
		from, ok := committed[end.Partition]
		if !ok {
			from = start.Offset // never committed: the whole partition
		}
		out[end.Partition] = span{from: max(from, start.Offset), end: end.Offset}
	})
	return out, nil
}

// topicErr marks an unknown topic as ErrTopicNotFound.
func topicErr(topic string, err error) error {
	if errors.Is(err, kerr.UnknownTopicOrPartition) {
		return fmt.Errorf("topic %q: %w: %w", topic, ErrTopicNotFound, err)
	}
	return err
}

// Close stops the consumer and releases its client. Called during Run, it
// stops Run as cancelling Run's context does (the batch in flight is
// handled and committed, within the shutdown timeout) and returns once Run
// has returned; called before Run, it makes Run return [ErrClosed]. It is
// idempotent, and safe to call concurrently with Run and with itself, but
// not from the handler or the WithOnCommit callback, which Run waits for:
// cancel Run's context there instead.
func (c *Consumer) Close() {
	c.closeOnce.Do(func() { close(c.closing) })
	if c.ran.Load() {
		<-c.runDone
	}
	c.closeClient()
}

// Run consumes until ctx ends or Close is called (or, with
// [WithStopAtEnd], until the end offsets seen at its start are committed),
// then finishes and commits the batch in flight (bounded by the shutdown
// timeout), leaves the group and closes the client. It first checks that
// the topic and the dead-letter topic exist, and fails with
// [ErrTopicNotFound] if one does not (see [WithCreateDLQ]); a broker it
// cannot reach meanwhile is retried with backoff. It returns nil after a
// clean shutdown, and an error when a batch could not be finished before
// the shutdown timeout (its records are delivered again to the group
// later), when the dead-letter topic disappears, when the handler
// rejects a message that is not in its batch, or, with
// [WithMaxHandlerAttempts], when the handler failed that many times in a
// row on one batch (a *[HandlerError], nothing of the batch committed).
// Run may be called once.
func (c *Consumer) Run(ctx context.Context) error {
	if !c.ran.CompareAndSwap(false, true) {
		return errors.New("kafkasink: Run called twice")
	}
	defer close(c.runDone)
	defer c.closeClient() // leaves the group
	select {
	case <-c.closing:
		return ErrClosed
	default:
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-c.closing:
			cancel()
		case <-ctx.Done():
		}
	}()

	if err := c.checkTopics(ctx); err != nil {
		if ctx.Err() != nil {
			return nil // shut down before it started
		}
		return err
	}
	var targets map[int32]int64
	if c.cfg.stopAtEnd {
		var err error
		if targets, err = c.endTargets(ctx); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		if len(targets) == 0 {
			c.log.Info("kafkasink: nothing to consume up to the end offsets; stopping", "group", c.group, "topic", c.cfg.topic)
			return nil
		}
	}
	c.cl.AddConsumeTopics(c.cfg.topic) // joins the group
	if c.metrics != nil {
		lctx, lcancel := context.WithCancel(ctx)
		lagDone := make(chan struct{})
		go func() { defer close(lagDone); c.lagLoop(lctx) }()
		defer func() {
			// Runs before the client is closed: the gauge's last
			// value is the lag after Run's last commit. Best effort:
			// with the brokers down it gives up after
			// finalLagTimeout, and the gauge keeps its last value.
			lcancel()
			<-lagDone
			fctx, fcancel := context.WithTimeout(context.WithoutCancel(ctx), finalLagTimeout)
			c.refreshLag(fctx)
			fcancel()
		}()
	}
	return c.consume(ctx, targets)
}

// finalLagTimeout bounds the last refresh of the lag gauge when Run ends,
// retries included: how much longer than the shutdown timeout Run may take
// when the brokers are down.
const finalLagTimeout = time.Second

// boundedIdlePoll is how long a bounded Run waits for records before it
// looks at the group's commits: the partitions it waits for may belong to
// other members of the group.
const boundedIdlePoll = time.Second

// consume polls and processes until ctx ends or, when targets is not nil,
// until the offsets in targets are committed.
func (c *Consumer) consume(ctx context.Context, targets map[int32]int64) error {
	for {
		pctx, pcancel := ctx, context.CancelFunc(func() {})
		if targets != nil {
			pctx, pcancel = context.WithTimeout(ctx, boundedIdlePoll)
		}
		fs := c.cl.PollRecords(pctx, c.cfg.maxPollRecords)
		pcancel()
		if fs.IsClientClosed() || ctx.Err() != nil {
			// Records polled as ctx ended were not started, and not
			// committed: the group delivers them again. Commits that
			// failed earlier get a last try.
			c.finish(ctx)
			return nil
		}
		fs.EachError(func(topic string, partition int32, err error) {
			if errors.Is(err, context.DeadlineExceeded) {
				return // a bounded Run's idle poll
			}
			c.log.Warn("kafkasink: fetch error", "topic", topic, "partition", partition, "err", err)
		})
		err := c.process(ctx, fs)
		c.cl.AllowRebalance()
		if err != nil {
			return err
		}
		if targets != nil && c.reached(ctx, targets, fs.NumRecords() == 0) {
			c.log.Info("kafkasink: committed up to the end offsets seen at the start; stopping", "group", c.group, "topic", c.cfg.topic)
			c.finish(ctx)
			return nil
		}
	}
}

// finish gives failed commits a last try and lets the group rebalance, so
// that closing the client leaves the group.
func (c *Consumer) finish(ctx context.Context) {
	hctx, cancel := c.handlerContext(ctx)
	c.commit(hctx)
	cancel()
	c.cl.AllowRebalance()
}

// process handles one poll's records, partitions concurrently, and commits
// the partitions whose records were all handled.
func (c *Consumer) process(ctx context.Context, fs kgo.Fetches) error {
	hctx, cancel := c.handlerContext(ctx)
	defer cancel()

	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
	)
	fs.EachPartition(func(p kgo.FetchTopicPartition) {
		if len(p.Records) == 0 {
			return
		}
		wg.Go(func() {
			err := c.processPartition(ctx, hctx, p.Records)
			if err != nil {
				mu.Lock()
				if firstErr == nil {
					firstErr = fmt.Errorf("kafkasink: partition %s/%d: %w", p.Topic, p.Partition, err)
				}
				mu.Unlock()
				return
			}
			c.handledUpTo(p.Records[len(p.Records)-1], int64(len(p.Records)))
		})
	})
	wg.Wait()
	c.commit(hctx)
	return firstErr
}

// handledUpTo notes that the partition's records up to last are handled
// and await their commit.
func (c *Consumer) handledUpTo(last *kgo.Record, n int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	tp := topicPartition{last.Topic, last.Partition}
	u := c.uncommitted[tp]
	c.uncommitted[tp] = uncommitted{last: last, n: u.n + n}
}

// forget drops the uncommitted entries of revoked or lost partitions.
func (c *Consumer) forget(m map[string][]int32) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for topic, ps := range m {
		for _, p := range ps {
			delete(c.uncommitted, topicPartition{topic, p})
		}
	}
}

// commit commits the offsets after every handled record. A failed commit
// is not fatal: it is retried with the next one, and if the partition
// moves to another consumer first, that consumer reads the records again
// (the handler is idempotent).
func (c *Consumer) commit(ctx context.Context) {
	c.mu.Lock()
	recs := make([]*kgo.Record, 0, len(c.uncommitted))
	var n int64
	for _, u := range c.uncommitted {
		recs = append(recs, u.last)
		n += u.n
	}
	c.mu.Unlock()
	if len(recs) == 0 {
		return
	}
	if err := c.cl.CommitRecords(ctx, recs...); err != nil {
		c.log.Warn("kafkasink: commit failed; retried with the next commit", "group", c.group, "err", err)
		return
	}
	c.mu.Lock()
	for _, r := range recs {
		tp := topicPartition{r.Topic, r.Partition}
		if u, ok := c.uncommitted[tp]; ok && u.last == r {
			delete(c.uncommitted, tp)
		}
		if r.Topic == c.cfg.topic {
			c.committedTo[r.Partition] = max(c.committedTo[r.Partition], r.Offset+1)
		}
	}
	c.mu.Unlock()
	c.committed.Add(n)
	if c.metrics != nil {
		select {
		case c.lagNudge <- struct{}{}:
		default: // a refresh is already asked for
		}
	}
	if c.cfg.onCommit != nil {
		offsets := make(map[string]map[int32]int64)
		for _, r := range recs {
			if offsets[r.Topic] == nil {
				offsets[r.Topic] = make(map[int32]int64)
			}
			offsets[r.Topic][r.Partition] = r.Offset + 1
		}
		c.cfg.onCommit(offsets)
	}
}

// handlerContext returns the context for handlers and commits: it outlives
// ctx by the shutdown timeout, so that work in flight can finish.
func (c *Consumer) handlerContext(ctx context.Context) (context.Context, context.CancelFunc) {
	hctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	stop := context.AfterFunc(ctx, func() {
		t := time.AfterFunc(c.cfg.shutdownTimeout, cancel)
		context.AfterFunc(hctx, func() { t.Stop() })
	})
	return hctx, func() { stop(); cancel() }
}

// processPartition dead-letters the poison among recs, hands the rest to
// the handler and dead-letters what it rejects, retrying each step until it
// succeeds or shutdown.
func (c *Consumer) processPartition(ctx, hctx context.Context, recs []*kgo.Record) error {
	msgs := make([]Message, 0, len(recs))
	msgRecs := make([]*kgo.Record, 0, len(recs))
	var poison []*kgo.Record
	var unknown map[int]error
	if c.reg != nil {
		var err error
		if unknown, err = c.resolveBatch(ctx, hctx, recs); err != nil {
			return err
		}
	}
	for _, r := range recs {
		ch, err := decodeChange(r, c.reg, unknown)
		if err != nil {
			reason := ReasonDecode
			var p *PoisonError
			if errors.As(err, &p) {
				reason = p.Reason
			}
			poison = append(poison, deadLetterRecord(c.cfg.dlqTopic, r, reason, err.Error()))
			continue
		}
		msgs = append(msgs, Message{Row: ch.Row, Version: ch.Version, Delete: ch.Delete, Topic: r.Topic, Partition: r.Partition, Offset: r.Offset, Timestamp: r.Timestamp, FetchedAt: fetchedAt(r)})
		msgRecs = append(msgRecs, r)
	}
	if len(poison) > 0 {
		if err := c.deadLetter(ctx, hctx, poison); err != nil {
			return err
		}
		c.deadLettered.Add(int64(len(poison)))
		c.metrics.addDeadLettered(len(poison))
		for _, p := range poison {
			c.log.Warn("kafkasink: poison record dead-lettered", "topic", recs[0].Topic,
				"partition", recs[0].Partition, "offset", headerValue(p, HeaderDLQOffset),
				"reason", headerValue(p, HeaderDLQReason), "err", headerValue(p, HeaderDLQError),
				"redrives", headerValue(p, HeaderDLQRedriveCount))
		}
	}
	if len(msgs) == 0 {
		return nil
	}
	var rej *RejectError
	failures := 0
	err := c.retry(ctx, hctx, "handler", func() error {
		err := c.handler(hctx, msgs)
		if r, ok := asRejectError(err); ok {
			rej = r
			return nil
		}
		if err != nil {
			if hctx.Err() == nil {
				// A failure caused by shutdown's cancellation
				// is no handler error.
				c.metrics.handlerError()
			}
			failures++
			if c.cfg.maxAttempts > 0 && failures >= c.cfg.maxAttempts {
				return &permanentError{&HandlerError{Attempts: failures, FirstOffset: msgs[0].Offset, LastOffset: msgs[len(msgs)-1].Offset, Err: err}}
			}
		}
		return err
	})
	if err != nil {
		return err
	}
	if rej == nil || len(rej.Rejected) == 0 {
		c.handled.Add(int64(len(msgs)))
		c.metrics.stored(msgs, nil)
		return nil
	}
	return c.deadLetterRejected(ctx, hctx, rej, msgs, msgRecs)
}

// deadLetterRejected writes the messages the handler rejected to the
// dead-letter topic; the other messages of the batch are handled.
func (c *Consumer) deadLetterRejected(ctx, hctx context.Context, rej *RejectError, msgs []Message, recs []*kgo.Record) error {
	if err := rej.check(len(msgs)); err != nil {
		return err
	}
	dl := make([]*kgo.Record, len(rej.Rejected))
	for i, r := range rej.Rejected {
		dl[i] = deadLetterRecord(c.cfg.dlqTopic, recs[r.Index], r.reason(), r.errText())
	}
	if err := c.deadLetter(ctx, hctx, dl); err != nil {
		return err
	}
	n := int64(len(rej.Rejected))
	c.rejected.Add(n)
	c.deadLettered.Add(n)
	c.metrics.addDeadLettered(len(rej.Rejected))
	c.handled.Add(int64(len(msgs)) - n)
	if c.metrics != nil { // skip is for the latency histograms only
		skip := make(map[int]bool, len(rej.Rejected))
		for _, r := range rej.Rejected {
			skip[r.Index] = true
		}
		c.metrics.stored(msgs, skip)
	}
	for _, r := range rej.Rejected {
		m := msgs[r.Index]
		c.log.Warn("kafkasink: message rejected by the handler dead-lettered", "topic", m.Topic,
			"partition", m.Partition, "offset", m.Offset, "id", m.Row.ID, "reason", r.reason(), "err", r.errText())
	}
	return nil
}

// deadLetter writes recs to the dead-letter topic, retrying failures until
// they are written or shutdown. Only the records that failed are written
// again, so a retry does not duplicate the others.
func (c *Consumer) deadLetter(ctx, hctx context.Context, recs []*kgo.Record) error {
	pending := recs
	return c.retry(ctx, hctx, "dead-letter write", func() error {
		var failed []*kgo.Record
		var firstErr error
		for _, res := range c.cl.ProduceSync(hctx, pending...) {
			if res.Err == nil {
				continue
			}
			if errors.Is(res.Err, kerr.UnknownTopicOrPartition) {
				// Deleted while Run was running: no retry will
				// write it, and the partition would stall for good.
				return &permanentError{fmt.Errorf("dead-letter topic %q: %w: %w", c.cfg.dlqTopic, ErrTopicNotFound, res.Err)}
			}
			if firstErr == nil {
				firstErr = res.Err
			}
			r := res.Record
			if errors.Is(res.Err, kerr.MessageTooLarge) && (len(r.Value) > 0 || len(r.Key) > maxDLQKeyBytes) {
				// A record near the size limit, plus the dead-letter
				// headers, can never be written: retrying as it is
				// would stall the partition for good. It goes
				// without its value; the headers say where the
				// original is.
				r = withoutValue(r)
			}
			failed = append(failed, r)
		}
		pending = failed
		return firstErr
	})
}

// permanentError is an error that retry must not retry.
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// retry calls fn until it succeeds, waiting between attempts with the
// configured backoff. Once ctx (the consumer's) has ended it stops retrying
// and returns the last error, so shutdown is not held up by a store that is
// down; a *permanentError is returned at once.
func (c *Consumer) retry(ctx, hctx context.Context, what string, fn func() error) error {
	for attempt := 1; ; attempt++ {
		err := fn()
		if err == nil {
			return nil
		}
		var perm *permanentError
		if errors.As(err, &perm) {
			return perm.err
		}
		if ctx.Err() != nil || hctx.Err() != nil {
			return fmt.Errorf("%s not done before shutdown: %w", what, err)
		}
		c.retries.Add(1)
		c.log.Warn("kafkasink: "+what+" failed; retrying", "group", c.group, "attempt", attempt, "err", err)
		if c.cfg.backoff.Wait(ctx, attempt) != nil {
			return fmt.Errorf("%s not done before shutdown: %w", what, err)
		}
	}
}

// deadLetterRecord is r addressed to the dead-letter topic, with its key,
// value and headers, plus headers saying why and where it came from. The
// dlq headers of an earlier dead-lettering that r may still carry (a record
// copied back from the dead-letter topic by a tool that kept them) are
// left out, so that a letter's headers say where it failed this time only; the
// dlq-redrive-count header is kept, so a redriven record that fails again
// comes back with its count.
func deadLetterRecord(topic string, r *kgo.Record, reason, errText string) *kgo.Record {
	headers := make([]kgo.RecordHeader, 0, len(r.Headers)+5)
	for _, h := range r.Headers {
		if !isDLQHeader(h.Key) {
			headers = append(headers, h)
		}
	}
	headers = append(headers,
		kgo.RecordHeader{Key: HeaderDLQReason, Value: []byte(reason)},
		kgo.RecordHeader{Key: HeaderDLQError, Value: []byte(errText)},
		kgo.RecordHeader{Key: HeaderDLQTopic, Value: []byte(r.Topic)},
		kgo.RecordHeader{Key: HeaderDLQPartition, Value: strconv.AppendInt(nil, int64(r.Partition), 10)},
		kgo.RecordHeader{Key: HeaderDLQOffset, Value: strconv.AppendInt(nil, r.Offset, 10)},
	)
	return &kgo.Record{Topic: topic, Key: r.Key, Value: r.Value, Headers: headers}
}

// maxDLQKeyBytes is the longest key a dead-letter record keeps once it is
// too large to be written whole.
const maxDLQKeyBytes = 1024

// withoutValue returns a copy of the dead-letter record r without its value
// (and without its key, if that is long), for a record too large to be
// written whole; its dlq-error header says so and gives the size dropped.
func withoutValue(r *kgo.Record) *kgo.Record {
	headers := make([]kgo.RecordHeader, len(r.Headers))
	copy(headers, r.Headers)
	for i := len(headers) - 1; i >= 0; i-- {
		if headers[i].Key == HeaderDLQError {
			headers[i].Value = fmt.Appendf(nil, "%s; value of %d bytes dropped: too large for the dead-letter topic (the original is at dlq-original-topic/partition/offset)",
				headers[i].Value, len(r.Value))
			break
		}
	}
	headers = append(headers, kgo.RecordHeader{Key: HeaderDLQValueDropped, Value: strconv.AppendInt(nil, int64(len(r.Value)), 10)})
	key := r.Key
	if len(key) > maxDLQKeyBytes {
		key = nil
	}
	return &kgo.Record{Topic: r.Topic, Key: key, Headers: headers}
}

func headerValue(r *kgo.Record, key string) string {
	for i := len(r.Headers) - 1; i >= 0; i-- {
		if r.Headers[i].Key == key {
			return string(r.Headers[i].Value)
		}
	}
	return ""
}
