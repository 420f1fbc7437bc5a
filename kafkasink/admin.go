package kafkasink

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TopicSpec describes a topic for [EnsureTopic].
type TopicSpec struct {
	Name              string
	Partitions        int32             // at least 1
	ReplicationFactor int16             // at least 1
	Configs           map[string]string // topic configs, e.g. "retention.ms"
}

// EnsureTopic creates the topic unless it exists. created tells the two
// apart; an existing topic is left as it is, whatever its partitions and
// configs. cl may be any client, such as [Producer.Client].
//
// A topic it creates is ready when it returns: the broker it asks lists
// the topic with a leader for every partition, so that a producer started
// right after it does not meet UNKNOWN_TOPIC_OR_PARTITION while the new
// topic's metadata spreads (a loaded broker takes longer than a client's
// few retries of that error). ctx bounds the wait.
func EnsureTopic(ctx context.Context, cl *kgo.Client, spec TopicSpec) (created bool, err error) {
	if spec.Name == "" || spec.Partitions < 1 || spec.ReplicationFactor < 1 {
		return false, fmt.Errorf("kafkasink: invalid topic spec %+v", spec)
	}
	var configs map[string]*string
	if len(spec.Configs) > 0 {
		configs = make(map[string]*string, len(spec.Configs))
		for k, v := range spec.Configs {
			configs[k] = kadm.StringPtr(v)
		}
	}
	resp, err := kadm.NewClient(cl).CreateTopic(ctx, spec.Partitions, spec.ReplicationFactor, configs, spec.Name)
	if err == nil {
		err = resp.Err
	}
	switch {
	case err == nil:
		created = true
	case errors.Is(err, kerr.TopicAlreadyExists):
	default:
		return false, fmt.Errorf("kafkasink: create topic %s: %w", spec.Name, err)
	}
	if created { // an existing topic's metadata has spread already
		if err := waitForLeaders(ctx, kadm.NewClient(cl), spec.Name); err != nil {
			return true, err
		}
	}
	return created, nil
}

// waitForLeaders polls the topic's metadata until it lists the topic with
// a leader for every partition, or ctx ends.
func waitForLeaders(ctx context.Context, adm *kadm.Client, topic string) error {
	const every = 100 * time.Millisecond
	for {
		topics, err := adm.ListTopics(ctx, topic)
		if err == nil {
			td, ok := topics[topic]
			if ok && td.Err == nil && len(td.Partitions) > 0 && allLed(td.Partitions) {
				return nil
			}
			if ok && td.Err != nil && !errors.Is(td.Err, kerr.UnknownTopicOrPartition) && !errors.Is(td.Err, kerr.LeaderNotAvailable) {
				return fmt.Errorf("kafkasink: topic %s: %w", topic, td.Err)
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("kafkasink: topic %s has no leader for every partition yet: %w", topic, context.Cause(ctx))
		case <-time.After(every):
		}
	}
}

func allLed(ps kadm.PartitionDetails) bool {
	for _, p := range ps {
		if p.Leader < 0 || p.Err != nil {
			return false
		}
	}
	return true
}
