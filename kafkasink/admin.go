package kafkasink

import (
	"context"
	"errors"
	"fmt"

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
		return true, nil
	case errors.Is(err, kerr.TopicAlreadyExists):
		return false, nil
	default:
		return false, fmt.Errorf("kafkasink: create topic %s: %w", spec.Name, err)
	}
}
