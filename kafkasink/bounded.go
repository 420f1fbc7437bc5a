package kafkasink

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// checkTopics makes sure the topic and the dead-letter topic exist,
// creating the dead-letter topic when asked to. Without it, the first
// poison record would stall its partition in a loop of failed dead-letter
// writes, and Run would only say so at shutdown.
func (c *Consumer) checkTopics(ctx context.Context) error {
	err := c.startRetry(ctx, "topic check", func() error {
		missing, err := c.missingTopics(ctx)
		if err != nil {
			return err
		}
		for _, t := range missing {
			switch {
			case t == c.cfg.dlqTopic && c.cfg.createDLQ:
				if err := c.createDLQTopic(ctx); err != nil {
					return err
				}
			case t == c.cfg.dlqTopic:
				return fmt.Errorf("dead-letter topic %q: %w (create it, or use WithCreateDLQ)", t, ErrTopicNotFound)
			default:
				return fmt.Errorf("topic %q: %w", t, ErrTopicNotFound)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("kafkasink: %w", err)
	}
	return nil
}

// missingTopics asks a broker, bypassing the client's metadata cache, which
// of the topic and the dead-letter topic do not exist.
func (c *Consumer) missingTopics(ctx context.Context) ([]string, error) {
	want := []string{c.cfg.topic, c.cfg.dlqTopic}
	req := kmsg.NewPtrMetadataRequest() // AllowAutoTopicCreation stays false
	for _, t := range want {
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = kmsg.StringPtr(t)
		req.Topics = append(req.Topics, rt)
	}
	resp, err := req.RequestWith(ctx, c.cl)
	if err != nil {
		return nil, err
	}
	found := map[string]bool{}
	for _, t := range resp.Topics {
		if t.Topic == nil {
			continue
		}
		err := kerr.ErrorForCode(t.ErrorCode)
		if err != nil && !errors.Is(err, kerr.UnknownTopicOrPartition) {
			return nil, fmt.Errorf("topic %q: %w", *t.Topic, err)
		}
		found[*t.Topic] = err == nil
	}
	var missing []string
	for _, t := range want {
		if !found[t] {
			missing = append(missing, t)
		}
	}
	return missing, nil
}

// createDLQTopic creates the dead-letter topic, and waits a little for the
// brokers to know it: a first dead-letter write that finds it unknown would
// wait for the client's next metadata refresh (5s by default).
func (c *Consumer) createDLQTopic(ctx context.Context) error {
	spec := TopicSpec{Name: c.cfg.dlqTopic, Partitions: c.cfg.dlqPartitions, ReplicationFactor: c.cfg.dlqReplication}
	created, err := EnsureTopic(ctx, c.cl, spec)
	if err != nil {
		return err
	}
	if created {
		c.log.Info("kafkasink: created the dead-letter topic", "topic", spec.Name,
			"partitions", spec.Partitions, "replication_factor", spec.ReplicationFactor)
	}
	for attempt, start := 1, time.Now(); time.Since(start) < missingGrace; attempt++ {
		missing, err := c.missingTopics(ctx)
		if err == nil && !slices.Contains(missing, spec.Name) {
			return nil
		}
		if c.cfg.backoff.Wait(ctx, attempt) != nil {
			return ctx.Err()
		}
	}
	return nil // known soon; the dead-letter writes retry meanwhile
}

// endTargets returns, by partition, the end offset a bounded Run must
// commit up to: those of the topic's partitions that hold records the
// group has not consumed when Run starts.
func (c *Consumer) endTargets(ctx context.Context) (map[int32]int64, error) {
	var ends, starts kadm.ListedOffsets
	var committed map[int32]int64
	err := c.startRetry(ctx, "end offsets", func() error {
		var err error
		ends, starts, committed, err = c.offsets(ctx)
		return err
	})
	if err != nil {
		if errors.Is(err, kerr.UnknownTopicOrPartition) {
			return nil, fmt.Errorf("kafkasink: topic %q: %w", c.cfg.topic, ErrTopicNotFound)
		}
		return nil, fmt.Errorf("kafkasink: %w", err)
	}
	targets := map[int32]int64{}
	ends.Each(func(end kadm.ListedOffset) {
		start, _ := starts.Lookup(end.Topic, end.Partition)
		// Where the group reads this partition from: its commit, or
		// without one the reset offset; never before the log start
		// (older records are gone).
		from, ok := committed[end.Partition]
		if !ok {
			from = start.Offset
			if c.cfg.startAtEnd {
				from = end.Offset
			}
		}
		if max(from, start.Offset) < end.Offset {
			targets[end.Partition] = end.Offset
		}
	})
	return targets, nil
}

// reached reports whether the group has committed every partition up to
// its target, and drops the partitions that are done. This consumer's own
// commits are known; other members' are fetched when a poll came back idle,
// as the partitions still awaited then likely belong to them.
func (c *Consumer) reached(ctx context.Context, targets map[int32]int64, idle bool) bool {
	c.mu.Lock()
	for p, end := range targets {
		if c.committedTo[p] >= end {
			delete(targets, p)
		}
	}
	c.mu.Unlock()
	if len(targets) == 0 || !idle {
		return len(targets) == 0
	}
	committed, err := c.groupOffsets(ctx)
	if err != nil {
		c.log.Warn("kafkasink: fetching the group's offsets failed; retried after the next poll", "group", c.group, "err", err)
		return false
	}
	for p, end := range targets {
		if committed[p] >= end {
			delete(targets, p)
		}
	}
	return len(targets) == 0
}

// offsets returns the topic's end and start offsets and the group's
// committed offsets on it: what its lag and a bounded Run's targets are
// computed from.
func (c *Consumer) offsets(ctx context.Context) (ends, starts kadm.ListedOffsets, committed map[int32]int64, err error) {
	adm := kadm.NewClient(c.cl)
	if ends, err = adm.ListEndOffsets(ctx, c.cfg.topic); err == nil {
		err = ends.Error()
	}
	if err == nil {
		if starts, err = adm.ListStartOffsets(ctx, c.cfg.topic); err == nil {
			err = starts.Error()
		}
	}
	if err == nil {
		committed, err = c.groupOffsets(ctx)
	}
	return ends, starts, committed, err
}

// groupOffsets returns the group's committed offsets on the topic by
// partition; a partition without a commit is absent.
func (c *Consumer) groupOffsets(ctx context.Context) (map[int32]int64, error) {
	return committedOffsets(ctx, kadm.NewClient(c.cl), c.group, c.cfg.topic)
}

// missingGrace is how long a topic must be found missing, look after
// look, before Run believes it: a topic created a moment ago may not be
// known yet to the broker asked (each broker learns of it from the
// controller, later when the cluster is busy). It is a span of time, not a
// count of looks, so that a short WithBackoff does not shorten it.
const missingGrace = 5 * time.Second

// startRetry calls fn until it succeeds, fails for good, or ctx ends,
// waiting with the configured backoff: a broker that is down when Run
// starts is waited for, as the poll loop would, while a topic still
// missing after missingGrace, or a refused authorization, fails Run.
func (c *Consumer) startRetry(ctx context.Context, what string, fn func() error) error {
	var missingSince time.Time
	for attempt := 1; ; attempt++ {
		err := fn()
		if err == nil || ctx.Err() != nil {
			return err
		}
		if errors.Is(err, ErrTopicNotFound) || errors.Is(err, kerr.UnknownTopicOrPartition) {
			if missingSince.IsZero() {
				missingSince = time.Now()
			} else if time.Since(missingSince) >= missingGrace {
				return err
			}
		} else if !retriable(err) {
			return err
		} else {
			c.log.Warn("kafkasink: "+what+" failed; retrying", "group", c.group, "attempt", attempt, "err", err)
		}
		if c.cfg.backoff.Wait(ctx, attempt) != nil {
			return err
		}
	}
}

// retriable reports whether a failed request may succeed later: any error
// but a Kafka error code marked not retriable (such as an authorization
// failure) and a kadm authorization error.
func retriable(err error) bool {
	var ke *kerr.Error
	var ae *kadm.AuthError
	switch {
	case errors.As(err, &ae):
		return false
	case errors.As(err, &ke):
		return ke.Retriable
	}
	return true
}
