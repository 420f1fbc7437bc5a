package main

import (
	"context"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/userstream/userstream/kafkasink"
	"github.com/userstream/userstream/transform"
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

// upsert is the consumers' RowWriter: cassandrastore's bulk upsert, timed
// and counted.
func (p *pipeline) upsert(ctx context.Context, rows []transform.Row) error {
	start := time.Now()
	err := p.store.UpsertMany(ctx, rows)
	written := len(rows)
	if err != nil {
		// Rows the store can never write go to the dead-letter topic (and
		// count there) and the others were written; any other failure
		// retries the batch: a store error, what an alert watches.
		rejected := kafkasink.RejectedRows(err)
		if len(rejected) == 0 {
			p.m.storeErrors.Inc()
			return err
		}
		written -= len(rejected)
	}
	p.m.storeBatch.Observe(time.Since(start).Seconds())
	p.counts.stored.Add(int64(written))
	return err
}

// observe wraps the consumers' handler to record, for every message stored,
// the latency from its produce time and from its user's fetch (the
// fetched-at header the relay sets from the outbox's fetch time, so it is
// measured wherever the producer runs).
func (p *pipeline) observe(h kafkasink.Handler) kafkasink.Handler {
	return func(ctx context.Context, msgs []kafkasink.Message) error {
		if err := h(ctx, msgs); err != nil {
			return err
		}
		now := time.Now()
		lat := make([]time.Duration, 0, len(msgs))
		for _, m := range msgs {
			p.m.produceToEnd.Observe(now.Sub(m.Timestamp).Seconds())
			if !m.FetchedAt.IsZero() {
				p.m.fetchToEnd.Observe(now.Sub(m.FetchedAt).Seconds())
				lat = append(lat, now.Sub(m.FetchedAt))
			}
		}
		p.latency.add(lat...)
		return nil
	}
}

// drain waits until the relay has published everything staged and the
// consumer group has committed everything in the topic.
func (p *pipeline) drain(ctx context.Context) error {
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		pending, err := p.outbox.Pending(ctx)
		if err == nil && pending == 0 {
			var lag map[int32]int64
			if lag, err = p.lag(ctx); err == nil && p.m.setLag(lag) == 0 {
				return nil
			}
		}
		if err != nil && ctx.Err() == nil {
			p.log.Warn("waiting for the pipeline to drain", "err", err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

// lag returns the group's lag on the topic by partition: the records not
// yet committed. (kafkasink.Consumer.Lag gives the total of a group that
// has committed; here a group that has not, or has not joined yet, counts
// the whole topic as lag, so that a drain cannot end before it starts.)
func (p *pipeline) lag(ctx context.Context) (map[int32]int64, error) {
	adm := kadm.NewClient(p.producer.Client())
	lags, err := adm.Lag(ctx, p.cfg.group)
	if err != nil {
		return nil, err
	}
	l := lags[p.cfg.group]
	if err := l.Error(); err != nil {
		return nil, err
	}
	out := map[int32]int64{}
	for part, ml := range l.Lag[p.cfg.topic] {
		if ml.Err != nil {
			return nil, ml.Err
		}
		out[part] = max(ml.Lag, 0)
	}
	if len(out) == 0 {
		ends, err := adm.ListEndOffsets(ctx, p.cfg.topic)
		if err != nil {
			return nil, err
		}
		ends.Each(func(o kadm.ListedOffset) { out[o.Partition] = o.Offset })
	}
	return out, nil
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
