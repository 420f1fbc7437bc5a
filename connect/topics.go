package connect

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/userstream/userstream/kafkasink"
)

// Topic returns the spec of a topic of partitions partitions with
// s.Replication replicas. With 3 replicas or more it sets
// min.insync.replicas 2, so that a write acknowledged by acks=all (the
// kafkasink producer's) is on 2 brokers even when the cluster's default
// is 1; a smaller factor keeps the cluster's default, since 2 of 2 would
// stop writes whenever one broker restarts.
func (s Servers) Topic(name string, partitions int) kafkasink.TopicSpec {
	spec := kafkasink.TopicSpec{Name: name, Partitions: int32(partitions), ReplicationFactor: int16(s.Replication)}
	if s.Replication >= 3 {
		spec.Configs = map[string]string{"min.insync.replicas": "2"}
	}
	return spec
}

// EnsureTopics creates each topic of specs that is missing, in order,
// through cl (any client of the cluster, such as a kafkasink producer's),
// and returns the specs of those it created. Existing topics are left as
// they are. Clusters rarely create topics on first use, and one that does
// gives them its default partitions. The first failure stops it: an error
// starting with "kafka: ".
func EnsureTopics(ctx context.Context, cl *kgo.Client, specs ...kafkasink.TopicSpec) ([]kafkasink.TopicSpec, error) {
	var created []kafkasink.TopicSpec
	for _, spec := range specs {
		ok, err := kafkasink.EnsureTopic(ctx, cl, spec)
		if err != nil {
			return created, fmt.Errorf("kafka: %w", err)
		}
		if ok {
			created = append(created, spec)
		}
	}
	return created, nil
}
