package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/userstream/userstream/kafkasink"
	"github.com/userstream/userstream/kafkasink/outbox"
)

// consumerFetchOpts bound what a consumer buffers while Cassandra falls
// behind: with franz-go's defaults (1 MiB per partition, 50 MiB per fetch)
// a 4 s stall took the pipeline from about 60 to 70 MB resident, and
// 256 KiB per partition is still hundreds of rows per fetch.
var consumerFetchOpts = []kgo.Opt{kgo.FetchMaxPartitionBytes(256 << 10), kgo.FetchMaxBytes(2 << 20)}

// instanceID returns consumer i's static group member id (-instance-id):
// the id itself, or id-i when the process runs several consumers, since
// two live members with one id fence each other. Empty: a dynamic member.
func instanceID(id string, consumers, i int) string {
	if id == "" || consumers <= 1 {
		return id
	}
	return fmt.Sprintf("%s-%d", id, i)
}

// newConsumers creates the -consumers consumers of the group; each takes
// a share of the partitions once it runs.
func (p *pipeline) newConsumers() error {
	// The store's bulk write is the handler, at each change's version (a
	// newer version wins, a delete sticks); the rows it can never write
	// go to the dead-letter topic, any other failure is retried (a
	// Cassandra outage holds the partition). observe times the run's rows.
	handler := p.observe(kafkasink.ChangesHandler(p.store.ApplyMany, kafkasink.RejectedRows))
	for i := range max(p.cfg.consumers, 1) {
		opts := []kafkasink.ConsumerOpt{kafkasink.WithTopic(p.cfg.topic), kafkasink.WithDLQTopic(p.cfg.dlqTopic), kafkasink.WithLogger(p.log),
			kafkasink.WithSessionTimeout(p.cfg.sessionTimeout), kafkasink.WithMetrics(p.reg), kafkasink.WithClientOpts(consumerFetchOpts...)}
		if id := instanceID(p.cfg.instanceID, p.cfg.consumers, i); id != "" {
			opts = append(opts, kafkasink.WithInstanceID(id))
		}
		// Registry mode, with a registry, reads the Confluent wire format,
		// and the plain records written before the topic switched.
		c, err := p.kafka.NewConsumer(p.cfg.group, handler, opts...)
		if err != nil {
			return err
		}
		p.consumers = append(p.consumers, c)
	}
	return nil
}

// observe wraps the consumers' handler to record each stored message's
// latency from its user's fetch (its fetched-at header), for the run's p50
// and p99 in the summary: the consumers' own histogram on /metrics has
// the same samples, in buckets too wide for a summary, and no runs.
func (p *pipeline) observe(h kafkasink.Handler) kafkasink.Handler {
	return func(ctx context.Context, msgs []kafkasink.Message) error {
		if err := h(ctx, msgs); err != nil {
			return err
		}
		now := time.Now()
		lat := make([]time.Duration, 0, len(msgs))
		for _, m := range msgs {
			if !m.FetchedAt.IsZero() {
				lat = append(lat, now.Sub(m.FetchedAt))
			}
		}
		p.latency.add(lat...)
		return nil
	}
}

// drain returns once the relay has published everything staged and the
// consumer group has committed everything in the topic. Relay.Drain runs
// beside the relay's Run (they share the position, a round at a time) and
// ends at a failed round, where Run retries: the run waits the outage out
// as Run does. A group that has not committed yet, or not joined, counts
// whole partitions as lag (Consumer.Lag), so the drain cannot end before
// the consumers start.
func (p *pipeline) drain(ctx context.Context) error {
	relayed := false
	for {
		err := ctx.Err()
		if !relayed && err == nil {
			err = p.relay.Drain(ctx)
			relayed = err == nil
		}
		if relayed {
			var lag int64
			if lag, err = p.consumers[0].Lag(ctx); err == nil && lag == 0 {
				return nil
			}
		}
		if ctx.Err() != nil || errors.Is(err, outbox.ErrTopicMismatch) || errors.Is(err, outbox.ErrNotMigrated) {
			return cmp.Or(ctx.Err(), err)
		}
		if err != nil {
			p.log.Warn("waiting for the pipeline to drain", "err", err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// deadLetters returns the number of records in the dead-letter topic.
func (p *pipeline) deadLetters(ctx context.Context) (int64, error) {
	adm := kadm.NewClient(p.producer.Client())
	starts, err := adm.ListStartOffsets(ctx, p.cfg.dlqTopic)
	ends, eerr := adm.ListEndOffsets(ctx, p.cfg.dlqTopic)
	if err = errors.Join(err, eerr); err != nil {
		return 0, err
	}
	var n int64
	ends.Each(func(o kadm.ListedOffset) { s, _ := starts.Lookup(o.Topic, o.Partition); n += o.Offset - s.Offset })
	return n, nil
}

// startBackground runs the relay and the consumers until stop is called.
// The first to fail ends p.work, with its error as the cause: the run in
// progress stops too, since nothing would drain. stop ends them gracefully
// (the relay commits its batch, the consumers finish and commit theirs)
// and returns what failed.
func (p *pipeline) startBackground(ctx context.Context) (stop func() error) {
	work, cancel := context.WithCancelCause(ctx)
	p.work = work
	var wg sync.WaitGroup
	errs := make([]error, len(p.consumers)+1)
	start := func(i int, name string, run func(context.Context) error) {
		wg.Go(func() {
			if err := run(work); err != nil {
				errs[i] = fmt.Errorf("%s: %w", name, err)
				cancel(errs[i])
			}
		})
	}
	start(0, "relay", p.relay.Run)
	for i, c := range p.consumers {
		start(i+1, fmt.Sprintf("consumer %d", i), c.Run)
	}
	return func() error {
		cancel(nil)
		wg.Wait()
		return errors.Join(errs...)
	}
}

// latencyHist counts latencies in buckets 1% wide, from 100µs to about an
// hour, for quantiles within 1% in constant memory, however many rows a run
// has: a run of a million rows would otherwise keep a million samples.
type latencyHist struct {
	mu     sync.Mutex
	counts [latBuckets]int64
	n      int64
}

const (
	latMin     = 100 * time.Microsecond
	latGrowth  = 1.01
	latBuckets = 1760 // latMin × 1.01^1760 ≈ 1.04 hours
)

var logLatGrowth = math.Log(latGrowth)

func latBucket(d time.Duration) int {
	if d <= latMin {
		return 0
	}
	return min(int(math.Log(float64(d)/float64(latMin))/logLatGrowth)+1, latBuckets-1)
}

// add records latencies.
func (h *latencyHist) add(ds ...time.Duration) {
	h.mu.Lock()
	for _, d := range ds {
		h.counts[latBucket(d)]++
	}
	h.n += int64(len(ds))
	h.mu.Unlock()
}

// reset forgets every latency.
func (h *latencyHist) reset() {
	h.mu.Lock()
	h.counts, h.n = [latBuckets]int64{}, 0
	h.mu.Unlock()
}

// quantile returns the q-quantile (0 < q < 1) as the upper bound of its
// bucket, at most 1% above the true value; 0 when empty.
func (h *latencyHist) quantile(q float64) time.Duration {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.n == 0 {
		return 0
	}
	rank := int64(math.Ceil(q * float64(h.n)))
	var seen int64
	for i, c := range h.counts {
		if seen += c; seen >= max(rank, 1) {
			return time.Duration(float64(latMin) * math.Pow(latGrowth, float64(i)))
		}
	}
	return time.Duration(float64(latMin) * math.Pow(latGrowth, latBuckets-1))
}
