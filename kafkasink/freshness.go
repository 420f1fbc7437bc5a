package kafkasink

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// OldestUnstored returns the fetch time of the oldest record of the topic
// that the group has not committed yet, and false when the group has
// committed everything (its lag is 0 on every partition): now minus it is
// how long the oldest user in Kafka has waited to be stored, Kafka's part
// of the pipeline's freshness (userstream_consumer_oldest_unstored_seconds,
// see the package doc). Offsets are committed only after the handler
// stored the records, so an uncommitted record is one not known stored.
//
// Each partition with records not committed contributes its first one,
// the record at the group's committed offset (at the partition's start if
// the group never committed there); the oldest of their fetch times is
// returned. A record's fetch time is its fetched-at header
// ([HeaderFetchedAt]); a record without one (the seed's producer writes
// none) counts from its timestamp, the time it was produced.
//
// The cost is the lag's (three admin requests: end, start and committed
// offsets), plus, only when a partition has records not committed, a
// metadata request and one fetch per such partition, each of one record
// batch (the one holding the record: up to the producer's batch size).
// Like [Consumer.LagByPartition] it counts every member's commits, works
// before and during Run, and fails with [ErrClosed] after Close or once
// Run has returned.
func (c *Consumer) OldestUnstored(ctx context.Context) (time.Time, bool, error) {
	if c.isClosed() {
		return time.Time{}, false, ErrClosed
	}
	spans, err := c.spansRetrying(ctx)
	if err == nil {
		var at time.Time
		var ok bool
		at, ok, err = c.oldestOf(ctx, spans)
		if err == nil {
			return at, ok, nil
		}
	}
	if errors.Is(err, kgo.ErrClientClosed) || c.isClosed() {
		return time.Time{}, false, ErrClosed
	}
	return time.Time{}, false, fmt.Errorf("kafkasink: oldest unstored: %w", err)
}

// oldestOf returns the oldest fetch time of the first records of the spans
// that are not empty; false when all are.
func (c *Consumer) oldestOf(ctx context.Context, spans map[int32]span) (time.Time, bool, error) {
	from := map[int32]int64{}
	for p, s := range spans {
		if s.end > s.from {
			from[p] = s.from
		}
	}
	if len(from) == 0 {
		return time.Time{}, false, nil
	}
	firsts, err := c.firstRecords(ctx, from)
	if err != nil {
		return time.Time{}, false, err
	}
	var oldest time.Time
	for _, t := range firsts {
		if oldest.IsZero() || t.Before(oldest) {
			oldest = t
		}
	}
	return oldest, !oldest.IsZero(), nil
}

// firstRecords reads, for each partition in from, the first record at or
// after its offset, and returns its fetch time (the fetched-at header, or
// the record's timestamp). A partition with no record there (the offset
// reached the end meanwhile) is left out.
//
// Each partition is one Fetch request of its own to its leader, at the
// offset, for at most one byte: the broker then returns the first record
// batch whole, and no more (a larger limit would bring more batches, and a
// limit per partition gives an oversized first batch only to the first
// partition of a request).
func (c *Consumer) firstRecords(ctx context.Context, from map[int32]int64) (map[int32]time.Time, error) {
	topic := c.cfg.topic
	tds, err := kadm.NewClient(c.cl).ListTopics(ctx, topic)
	if err != nil {
		return nil, err
	}
	td, ok := tds[topic]
	if !ok || td.Err != nil {
		return nil, topicErr(topic, cmpErr(td.Err, fmt.Errorf("topic %s not in the metadata", topic)))
	}
	var (
		mu   sync.Mutex
		out  = map[int32]time.Time{}
		errs []error
		wg   sync.WaitGroup
	)
	for p, off := range from {
		pd, ok := td.Partitions[p]
		if !ok || pd.Err != nil || pd.Leader < 0 {
			mu.Lock()
			errs = append(errs, fmt.Errorf("partition %s/%d: no leader known: %v", topic, p, pd.Err))
			mu.Unlock()
			continue
		}
		wg.Go(func() {
			at, found, err := c.firstRecord(ctx, td.ID, p, pd.Leader, off)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err != nil:
				errs = append(errs, fmt.Errorf("partition %s/%d at offset %d: %w", topic, p, off, err))
			case found:
				out[p] = at
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return out, nil
}

// cmpErr returns err, or def when err is nil.
func cmpErr(err, def error) error {
	if err != nil {
		return err
	}
	return def
}

// firstRecord fetches the first record at or after off in partition p
// from its leader; see firstRecords.
func (c *Consumer) firstRecord(ctx context.Context, id kadm.TopicID, p, leader int32, off int64) (time.Time, bool, error) {
	req := kmsg.NewPtrFetchRequest()
	req.MaxWaitMillis = 0 // answer at once: the record is there or it is not
	req.MinBytes = 1
	req.MaxBytes = 1 // the first batch comes whole anyway
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic, rt.TopicID = c.cfg.topic, id
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.Partition, rp.FetchOffset, rp.PartitionMaxBytes = p, off, 1
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	kresp, err := c.cl.Broker(int(leader)).Request(ctx, req)
	if err != nil {
		return time.Time{}, false, err
	}
	resp := kresp.(*kmsg.FetchResponse)
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
		return time.Time{}, false, err
	}
	for i := range resp.Topics {
		for j := range resp.Topics[i].Partitions {
			rpr := &resp.Topics[i].Partitions[j]
			if rpr.Partition != p {
				continue
			}
			fp, _ := kgo.ProcessFetchPartition(kgo.ProcessFetchPartitionOpts{Offset: off, Topic: c.cfg.topic, Partition: p},
				rpr, kgo.DefaultDecompressor(), nil)
			if fp.Err != nil {
				return time.Time{}, false, fp.Err
			}
			for _, r := range fp.Records {
				if r.Offset < off {
					continue
				}
				if t := fetchedAt(r); !t.IsZero() {
					return t, true, nil
				}
				return r.Timestamp, !r.Timestamp.IsZero(), nil
			}
		}
	}
	return time.Time{}, false, nil
}
