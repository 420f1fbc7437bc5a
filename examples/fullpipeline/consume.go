package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/userstream/userstream/kafkasink"
	"github.com/userstream/userstream/kafkasink/outbox"
)

// consumerFetchOpts bound what a consumer buffers while Cassandra falls
// behind. franz-go's defaults (1 MiB per partition, 50 MiB per fetch) let
// a buffered fetch of the six partitions hold about 15 MB of decompressed
// rows; with a Cassandra stall of 4 s in a 150,000-user run that took the
// pipeline from 58-61 to 67-70 MB resident and, near the soft memory
// limit, from 5.7-6.0 to 8.1-8.4 CPU-seconds of mostly garbage
// collection. 256 KiB per partition is still hundreds of rows per fetch.
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
	// The store's bulk write is the handler. RowsHandler passes it each
	// batch's rows, and RejectedRows sends the rows it can never write to
	// the dead-letter topic; any other failure is retried, so a Cassandra
	// outage holds the partition instead of losing rows. The store and the
	// consumers record their own metrics; observe times the run's rows for
	// its summary (consume.go).
	handler := p.observe(kafkasink.RowsHandler(p.store.UpsertMany, kafkasink.RejectedRows))
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

// observe wraps the consumers' handler to record, for every message
// stored, the latency from its user's fetch (the fetched-at header the
// relay sets from the outbox's fetch time, so it is measured wherever the
// producer runs): the run's p50 and p99 in the summary. The consumers'
// own histogram on /metrics, userstream_fetch_to_store_seconds, has the
// same samples, in buckets too wide for a summary, and no runs.
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
		if ctx.Err() != nil || errors.Is(err, outbox.ErrTopicMismatch) {
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
	ends, err := adm.ListEndOffsets(ctx, p.cfg.dlqTopic)
	if err != nil {
		return 0, err
	}
	starts, err := adm.ListStartOffsets(ctx, p.cfg.dlqTopic)
	if err != nil {
		return 0, err
	}
	var n int64
	ends.Each(func(o kadm.ListedOffset) {
		s, _ := starts.Lookup(o.Topic, o.Partition)
		n += o.Offset - s.Offset
	})
	return n, nil
}

// background runs the relay and the consumers until stopped. When one
// fails, the others and the run in progress stop too: nothing would drain.
type background struct {
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	mu     sync.Mutex
	err    error
}

func (p *pipeline) startBackground(ctx context.Context) {
	b := &background{}
	b.ctx, b.cancel = context.WithCancel(ctx)
	b.start("relay", p.relay.Run)
	for i, c := range p.consumers {
		b.start(fmt.Sprintf("consumer %d", i), c.Run)
	}
	p.bg = b
}

func (b *background) start(name string, run func(context.Context) error) {
	b.wg.Go(func() {
		if err := run(b.ctx); err != nil {
			b.mu.Lock()
			b.err = errors.Join(b.err, fmt.Errorf("%s: %w", name, err))
			b.mu.Unlock()
			b.cancel()
		}
	})
}

func (b *background) failure() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.err
}

// stop ends the relay and the consumers gracefully (the relay commits its
// batch, the consumers finish and commit theirs) and returns what failed.
func (b *background) stop() error {
	b.cancel()
	b.wg.Wait()
	return b.failure()
}
