package kafkasink

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/userstream/userstream/transform"
)

type topicPartition struct {
	topic     string
	partition int32
}

type uncommitted struct {
	last *kgo.Record
	n    int64 // records handled since the partition's last commit
}

// Message is a decoded, valid row with where it was read from.
type Message struct {
	Row       transform.Row
	Topic     string
	Partition int32
	Offset    int64
	Timestamp time.Time // the record's timestamp, set by its producer
	FetchedAt time.Time // from the fetched-at header; zero without one
}

// Handler processes the messages of one partition, in offset order. It is
// called concurrently for different partitions, so it must be safe for
// concurrent use. Returning an error means none of msgs is done: the call is
// retried with backoff, with the same messages, until it succeeds or the
// consumer shuts down. It must therefore be idempotent, as an upsert by id
// is. ctx ends when the consumer's shutdown timeout runs out.
type Handler func(ctx context.Context, msgs []Message) error

// Stats counts what a consumer has done since it started.
type Stats struct {
	Handled      int64 // messages the handler accepted
	DeadLettered int64 // poison records written to the dead-letter topic
	Committed    int64 // records whose offsets were committed
	Retries      int64 // failed handler or dead-letter attempts that were retried
}

// Consumer reads rows in a consumer group and commits their offsets only
// after its handler succeeded. Create it with [NewConsumer] and call
// [Consumer.Run] once.
type Consumer struct {
	cfg     consumerConfig
	group   string
	handler Handler
	cl      *kgo.Client
	log     *slog.Logger
	ran     atomic.Bool

	// uncommitted holds, per partition, the last handled record whose
	// commit failed; the next commit retries it. A revoked or lost
	// partition's entry is dropped: its new owner reads from the last
	// committed offset (duplicates, never loss).
	mu          sync.Mutex
	uncommitted map[topicPartition]uncommitted

	handled, deadLettered, committed, retries atomic.Int64
}

// NewConsumer returns a consumer of the topic (default users_created) in
// the consumer group, which hands valid rows to h. Like franz-go, it
// connects lazily; nothing is read until Run.
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
	cfg := consumerConfig{
		common:          common{topic: DefaultTopic, logger: slog.Default()},
		dlqTopic:        DefaultDLQTopic,
		maxPollRecords:  2000,
		minBackoff:      100 * time.Millisecond,
		maxBackoff:      10 * time.Second,
		shutdownTimeout: 30 * time.Second,
	}
	for _, o := range opts {
		o.applyConsumer(&cfg)
	}
	switch {
	case cfg.topic == "" || cfg.dlqTopic == "":
		return nil, errors.New("kafkasink: empty topic or dead-letter topic")
	case cfg.topic == cfg.dlqTopic:
		return nil, fmt.Errorf("kafkasink: dead-letter topic %q is the topic consumed", cfg.dlqTopic)
	case cfg.maxPollRecords < 1:
		return nil, fmt.Errorf("kafkasink: MaxPollRecords %d, want at least 1", cfg.maxPollRecords)
	case cfg.minBackoff <= 0 || cfg.maxBackoff < cfg.minBackoff:
		return nil, fmt.Errorf("kafkasink: invalid backoff %v..%v", cfg.minBackoff, cfg.maxBackoff)
	}
	c := &Consumer{cfg: cfg, group: group, handler: h, log: cfg.logger, uncommitted: map[topicPartition]uncommitted{}}
	start := kgo.NewOffset().AtStart()
	if cfg.startAtEnd {
		start = kgo.NewOffset().AtEnd()
	}
	cl, err := kgo.NewClient(append([]kgo.Opt{
		kgo.SeedBrokers(brokers...),
		kgo.ConsumerGroup(group),
		kgo.ConsumeTopics(cfg.topic),
		kgo.ConsumeResetOffset(start),
		// Offsets are committed by hand, after the handler; and a
		// rebalance waits until the polled batch is handled and
		// committed, so no partition changes hands with work in flight.
		kgo.DisableAutoCommit(),
		kgo.BlockRebalanceOnPoll(),
		kgo.RequiredAcks(kgo.AllISRAcks()), // for dead-letter writes
		kgo.WithLogger(slogLogger{cfg.logger}),
		kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, m map[string][]int32) {
			c.log.Info("kafkasink: partitions assigned", "group", group, "partitions", m)
		}),
		kgo.OnPartitionsRevoked(func(_ context.Context, _ *kgo.Client, m map[string][]int32) {
			c.log.Info("kafkasink: partitions revoked", "group", group, "partitions", m)
			c.forget(m)
		}),
		kgo.OnPartitionsLost(func(_ context.Context, _ *kgo.Client, m map[string][]int32) {
			c.log.Warn("kafkasink: partitions lost; uncommitted records will be delivered again", "group", group, "partitions", m)
			c.forget(m)
		}),
	}, cfg.common.clientOpts...)...)
	if err != nil {
		return nil, fmt.Errorf("kafkasink: new client: %w", err)
	}
	c.cl = cl
	return c, nil
}

// Client returns the underlying franz-go client, for metrics and
// administration. The consumer owns it: do not close it.
func (c *Consumer) Client() *kgo.Client { return c.cl }

// Stats returns the consumer's counters.
func (c *Consumer) Stats() Stats {
	return Stats{
		Handled:      c.handled.Load(),
		DeadLettered: c.deadLettered.Load(),
		Committed:    c.committed.Load(),
		Retries:      c.retries.Load(),
	}
}

// Lag returns the group's total lag on its topic: records produced but not
// yet committed, over all partitions.
func (c *Consumer) Lag(ctx context.Context) (int64, error) {
	lags, err := kadm.NewClient(c.cl).Lag(ctx, c.group)
	if err != nil {
		return 0, fmt.Errorf("kafkasink: lag: %w", err)
	}
	l, ok := lags[c.group]
	if !ok {
		return 0, fmt.Errorf("kafkasink: lag: group %s not described", c.group)
	}
	if err := l.Error(); err != nil {
		return 0, fmt.Errorf("kafkasink: lag: %w", err)
	}
	var total int64
	for _, p := range l.Lag[c.cfg.topic] {
		if p.Lag > 0 {
			total += p.Lag
		}
	}
	return total, nil
}

// Run consumes until ctx ends, then finishes and commits the batch in
// flight (bounded by the shutdown timeout), leaves the group and closes the
// client. It returns nil after a clean shutdown, and an error when a batch
// could not be finished before the shutdown timeout (its records are
// delivered again to the group later). Run may be called once.
func (c *Consumer) Run(ctx context.Context) error {
	if !c.ran.CompareAndSwap(false, true) {
		return errors.New("kafkasink: Run called twice")
	}
	defer c.cl.Close() // leaves the group
	for {
		fs := c.cl.PollRecords(ctx, c.cfg.maxPollRecords)
		if fs.IsClientClosed() || ctx.Err() != nil {
			// Records polled as ctx ended were not started, and not
			// committed: the group delivers them again. Commits that
			// failed earlier get a last try.
			hctx, cancel := c.handlerContext(ctx)
			c.commit(hctx)
			cancel()
			c.cl.AllowRebalance()
			return nil
		}
		fs.EachError(func(topic string, partition int32, err error) {
			c.log.Warn("kafkasink: fetch error", "topic", topic, "partition", partition, "err", err)
		})
		err := c.process(ctx, fs)
		c.cl.AllowRebalance()
		if err != nil {
			return err
		}
	}
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
	}
	c.mu.Unlock()
	c.committed.Add(n)
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

// processPartition dead-letters the poison among recs and hands the rest to
// the handler, retrying each step until it succeeds or shutdown.
func (c *Consumer) processPartition(ctx, hctx context.Context, recs []*kgo.Record) error {
	msgs := make([]Message, 0, len(recs))
	var poison []*kgo.Record
	for _, r := range recs {
		row, err := DecodeRecord(r)
		if err != nil {
			poison = append(poison, deadLetterRecord(c.cfg.dlqTopic, r, err))
			continue
		}
		msgs = append(msgs, Message{Row: row, Topic: r.Topic, Partition: r.Partition, Offset: r.Offset, Timestamp: r.Timestamp, FetchedAt: fetchedAt(r)})
	}
	if len(poison) > 0 {
		// Only the records that failed are written again, so a retry does
		// not duplicate the others in the dead-letter topic.
		pending := poison
		err := c.retry(ctx, hctx, "dead-letter write", func() error {
			var failed []*kgo.Record
			var firstErr error
			for _, res := range c.cl.ProduceSync(hctx, pending...) {
				if res.Err == nil {
					continue
				}
				if firstErr == nil {
					firstErr = res.Err
				}
				r := res.Record
				if errors.Is(res.Err, kerr.MessageTooLarge) && (len(r.Value) > 0 || len(r.Key) > maxDLQKeyBytes) {
					// A record near the size limit, plus the
					// dead-letter headers, can never be written:
					// retrying as it is would stall the partition
					// for good. It goes without its value; the
					// headers say where the original is.
					r = withoutValue(r)
				}
				failed = append(failed, r)
			}
			pending = failed
			return firstErr
		})
		if err != nil {
			return err
		}
		c.deadLettered.Add(int64(len(poison)))
		for _, p := range poison {
			c.log.Warn("kafkasink: poison record dead-lettered", "topic", recs[0].Topic,
				"partition", recs[0].Partition, "offset", headerValue(p, HeaderDLQOffset),
				"reason", headerValue(p, HeaderDLQReason), "err", headerValue(p, HeaderDLQError))
		}
	}
	if len(msgs) == 0 {
		return nil
	}
	if err := c.retry(ctx, hctx, "handler", func() error { return c.handler(hctx, msgs) }); err != nil {
		return err
	}
	c.handled.Add(int64(len(msgs)))
	return nil
}

// retry calls fn until it succeeds, waiting between attempts with
// exponential backoff and jitter. Once ctx (the consumer's) has ended it
// stops retrying and returns the last error, so shutdown is not held up by a
// store that is down.
func (c *Consumer) retry(ctx, hctx context.Context, what string, fn func() error) error {
	wait := c.cfg.minBackoff
	for attempt := 1; ; attempt++ {
		err := fn()
		if err == nil {
			return nil
		}
		if ctx.Err() != nil || hctx.Err() != nil {
			return fmt.Errorf("%s not done before shutdown: %w", what, err)
		}
		c.retries.Add(1)
		// Full jitter over the upper half keeps consumers from retrying in
		// lockstep against a store that is coming back.
		d := wait/2 + rand.N(wait/2+1)
		c.log.Warn("kafkasink: "+what+" failed; retrying", "group", c.group, "attempt", attempt, "in", d, "err", err)
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%s not done before shutdown: %w", what, err)
		}
		wait = min(2*wait, c.cfg.maxBackoff)
	}
}

// deadLetterRecord is r addressed to the dead-letter topic, with its key,
// value and headers, plus headers saying why and where it came from.
func deadLetterRecord(topic string, r *kgo.Record, err error) *kgo.Record {
	reason := ReasonDecode
	var p *PoisonError
	if errors.As(err, &p) {
		reason = p.Reason
	}
	headers := make([]kgo.RecordHeader, 0, len(r.Headers)+5)
	headers = append(headers, r.Headers...)
	headers = append(headers,
		kgo.RecordHeader{Key: HeaderDLQReason, Value: []byte(reason)},
		kgo.RecordHeader{Key: HeaderDLQError, Value: []byte(err.Error())},
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
