//go:build cluster

package faults_test

// The cluster scenarios (make test-cluster): the pipeline on three Kafka
// brokers and a ring of three Cassandra nodes (make cluster-up), topics
// and keyspace with replication factor 3, writes and the verification
// read at LOCAL_QUORUM, Cassandra on its default periodic commit log.
// With one node of three, a killed node's unsynced writes are still on
// the other two replicas: nothing acknowledged may be lost, where on one
// node the suite has to switch to the group commit log (TestCassandraKilled).
//
// Each scenario offers its users as a steady stream over a minute, two
// for the rolling restart (the producer's -rate, pages of 1,000), so the fault strikes while rows flow,
// and the API holds the last page until the fault is over (a node back
// and seen up by every other, or left down): however fast the machine,
// the stream cannot end before it.

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/userstream/userstream/internal/devstack"
)

const clusterNodes = 3

// clusterSetup is a scenario's pipeline on the cluster.
func clusterSetup(t *testing.T, name, faults string, streamFor time.Duration) setup {
	t.Helper()
	st, err := devstack.FromEnv()
	if err != nil {
		t.Fatal(err)
	}
	cfg := st.Config()
	if len(st.KafkaNodes()) != clusterNodes || len(st.CassandraNodes()) != clusterNodes {
		t.Fatalf("the stack has %d brokers and %d Cassandra nodes, want %d of each: run make test-cluster (USERSTREAM_STACK_NODES=3)",
			len(st.KafkaNodes()), len(st.CassandraNodes()), clusterNodes)
	}
	// What the scenarios show holds under Cassandra's default commit log.
	if cfg.CassandraCommitlog != "periodic" {
		t.Fatalf("USERSTREAM_CASSANDRA_COMMITLOG=%s: the cluster scenarios run on the periodic commit log", cfg.CassandraCommitlog)
	}
	return setup{name: name, faults: faults, consumers: []int{2}, pageSize: 1000, pace: streamFor, hold: 1,
		replication: clusterNodes}
}

// consumedShare waits until the group has committed share of the users.
func (r *run) consumedShare(ctx context.Context, share float64) error {
	n := int64(share * float64(r.users))
	_, err := r.mon.waitFor(ctx, fmt.Sprintf("%d users committed", n), func(s sample) bool { return s.committedTotal() >= n })
	return err
}

// TestClusterBaseline is the stream on the cluster without faults, for
// comparison.
func TestClusterBaseline(t *testing.T) {
	su := clusterSetup(t, "cluster_baseline", "none (RF 3, LOCAL_QUORUM)", time.Minute)
	scenario(t, su, func(ctx context.Context, r *run) error {
		defer r.gate.open()
		return r.consumedShare(ctx, 0.5)
	})
}

// TestClusterCassandraNodeKilled SIGKILLs a random Cassandra node once 30%
// of the users are committed, lets the stream go on with two nodes until
// 60% are (writes at LOCAL_QUORUM need two of three replicas), then
// restarts the node and waits until every node sees it up.
func TestClusterCassandraNodeKilled(t *testing.T) {
	su := clusterSetup(t, "cluster_cassandra_node_sigkill", "a Cassandra node SIGKILLed at 30% consumed, restarted at 60%", time.Minute)
	scenario(t, su, func(ctx context.Context, r *run) error {
		defer r.gate.open()
		if err := r.consumedShare(ctx, 0.3); err != nil {
			return err
		}
		i := r.rnd.IntN(clusterNodes)
		at := r.stack.killNode(r.t, devstack.Cassandra, i)
		if err := r.consumedShare(ctx, 0.6); err != nil {
			return err
		}
		back := r.stack.startNode(r.t, devstack.Cassandra, i)
		r.record(event{what: fmt.Sprintf("cassandra-%d SIGKILL", i+1), at: at, back: back, stages: stageConsume})
		return nil
	})
}

// TestClusterKafkaLeaderKilled SIGKILLs the broker that leads most of the
// topic's partitions once 30% of the users are committed; the stream goes
// on through the new leaders (replication factor 3, min.insync.replicas
// 2, acks=all) until 60% are, then the broker is restarted. Among brokers
// leading as many partitions (on three brokers each leads two of six) it
// kills the one coordinating the consumers' group, the worst case: their
// heartbeats and commits then wait for the group to move too.
func TestClusterKafkaLeaderKilled(t *testing.T) {
	su := clusterSetup(t, "cluster_kafka_leader_sigkill", "the broker leading most partitions (the group's coordinator among equals) SIGKILLed at 30% consumed, restarted at 60%", time.Minute)
	scenario(t, su, func(ctx context.Context, r *run) error {
		defer r.gate.open()
		if err := r.consumedShare(ctx, 0.3); err != nil {
			return err
		}
		coord, err := groupCoordinator(ctx, r.cfg.Brokers, r.cfg.Group)
		if err != nil {
			return err
		}
		id, led, err := busiestLeader(ctx, r.cfg.Brokers, r.cfg.Topic, coord)
		if err != nil {
			return err
		}
		r.t.Logf("broker %d leads %d of the %d partitions of %s; the group's coordinator is broker %d", id, led, r.cfg.Partitions, r.cfg.Topic, coord)
		i := -1
		for j, n := range r.stack.dev(r.t).KafkaNodes() {
			if int32(n.ID) == id {
				i = j
			}
		}
		if i < 0 {
			return fmt.Errorf("broker %d is not a node of the stack", id)
		}
		what := fmt.Sprintf("kafka-%d SIGKILL (leader of %d/%d partitions)", i+1, led, r.cfg.Partitions)
		if id == coord {
			what = fmt.Sprintf("kafka-%d SIGKILL (leader of %d/%d partitions, the group's coordinator)", i+1, led, r.cfg.Partitions)
		}
		at := r.stack.killNode(r.t, devstack.Kafka, i)
		if err := r.consumedShare(ctx, 0.6); err != nil {
			return err
		}
		back := r.stack.startNode(r.t, devstack.Kafka, i)
		r.record(event{what: what, at: at, back: back, stages: stageConsume | stageRelay, stalls: true})
		return nil
	})
}

// groupCoordinator returns the broker coordinating group.
func groupCoordinator(ctx context.Context, brokers []string, group string) (int32, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		return 0, err
	}
	defer cl.Close()
	c, ok := kadm.NewClient(cl).FindGroupCoordinators(ctx, group)[group]
	switch {
	case !ok:
		return 0, fmt.Errorf("group %s: no coordinator in the answer", group)
	case c.Err != nil:
		return 0, fmt.Errorf("group %s: coordinator: %w", group, c.Err)
	}
	return c.NodeID, nil
}

// busiestLeader returns the broker leading most partitions of topic, and
// how many it leads; among equals, prefer, else the lowest id.
func busiestLeader(ctx context.Context, brokers []string, topic string, prefer int32) (int32, int, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		return 0, 0, err
	}
	defer cl.Close()
	ts, err := kadm.NewClient(cl).ListTopics(ctx, topic)
	if err != nil {
		return 0, 0, err
	}
	td, ok := ts[topic]
	if !ok || td.Err != nil {
		return 0, 0, fmt.Errorf("topic %s: %v", topic, td.Err)
	}
	count := map[int32]int{}
	for _, p := range td.Partitions {
		count[p.Leader]++
	}
	var best int32 = -1
	for id, n := range count {
		switch {
		case best < 0 || n > count[best]:
			best = id
		case n == count[best] && best != prefer && (id == prefer || id < best):
			best = id
		}
	}
	return best, count[best], nil
}

// TestClusterRollingRestart restarts the three Cassandra nodes one after
// another while the stream flows, as an upgrade does: each stopped
// gracefully (SIGTERM: Cassandra drains), started again, and the next one
// stopped only once every node sees the restarted one up.
func TestClusterRollingRestart(t *testing.T) {
	su := clusterSetup(t, "cluster_rolling_restart", "the 3 Cassandra nodes restarted one after another from 20% consumed", 2*time.Minute)
	scenario(t, su, func(ctx context.Context, r *run) error {
		defer r.gate.open()
		if err := r.consumedShare(ctx, 0.2); err != nil {
			return err
		}
		for i := range clusterNodes {
			at := r.stack.stopNode(r.t, devstack.Cassandra, i)
			back := r.stack.startNode(r.t, devstack.Cassandra, i)
			r.record(event{what: fmt.Sprintf("cassandra-%d restart", i+1), at: at, back: back, stages: stageConsume})
			if r.t.Failed() {
				return fmt.Errorf("cassandra-%d did not come back", i+1)
			}
		}
		return nil
	})
}

// TestClusterCassandraNodeLeftDown SIGKILLs a random Cassandra node once
// 30% of the users are committed and leaves it down for the rest of the
// run: the stream ends on two nodes, and the check reads at LOCAL_QUORUM
// from those two. (The node is started again after the check.)
func TestClusterCassandraNodeLeftDown(t *testing.T) {
	su := clusterSetup(t, "cluster_cassandra_node_left_down", "a Cassandra node SIGKILLed at 30% consumed, left down to the end", time.Minute)
	scenario(t, su, func(ctx context.Context, r *run) error {
		defer r.gate.open()
		if err := r.consumedShare(ctx, 0.3); err != nil {
			return err
		}
		i := r.rnd.IntN(clusterNodes)
		at := r.stack.killNode(r.t, devstack.Cassandra, i)
		r.record(event{what: fmt.Sprintf("cassandra-%d SIGKILL, left down", i+1), at: at, stages: stageConsume})
		return nil
	})
}
