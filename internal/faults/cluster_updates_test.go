//go:build cluster

package faults_test

// The cluster scenarios of changes (issue 25): updates streamed while a
// consumer and a Cassandra node are killed, and the reconciler on the
// cluster with a node down. Both take a fifth of the users of the others
// (updateUsers: 20,000 by default), since each carries them twice.

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/userstream/userstream/cassandrastore"
	"github.com/userstream/userstream/internal/devstack"
	"github.com/userstream/userstream/kafkasink/outbox"
	"github.com/userstream/userstream/reconcile"
)

// TestClusterUpdates streams day 1, on which a third of the users
// changed, over a minute after day 0 was consumed; a consumer process is
// SIGKILLed and restarted once 10% of the changes are committed, a random
// Cassandra node SIGKILLed at 20% and restarted at 35% (early, so that its
// restart, 20-30 s, ends within the stream), and the write times of every
// row are read while it is down. The table must end at the latest version
// of every user, with no write time below the one read before day 1 or
// while the node was down.
func TestClusterUpdates(t *testing.T) {
	su := clusterSetup(t, "cluster_updates", "day 1 (a third of the users changed) streamed: a consumer SIGKILLed at 10% of the changes committed and restarted; a Cassandra node SIGKILLed at 20%, restarted at 35%", time.Minute)
	su.consumers = []int{1, 1}
	updatesScenario(t, su, func(ctx context.Context, u *updRun) error {
		defer u.gate.open()
		if err := u.changesCommitted(ctx, 0.1); err != nil {
			return err
		}
		cons := u.consumers()
		v := cons[u.rnd.IntN(len(cons))]
		at, back, ok := v.killAndRestart()
		if !ok {
			return fmt.Errorf("consumer kill: %s had exited", v.name)
		}
		u.record(event{what: fmt.Sprintf("consumer SIGKILL (%s)", v.name), at: at, back: back, stages: stageConsume, restarted: v.current()})
		if err := u.changesCommitted(ctx, 0.2); err != nil {
			return err
		}
		i := u.rnd.IntN(clusterNodes)
		at = u.stack.killNode(u.t, devstack.Cassandra, i)
		if err := u.snapshot(ctx); err != nil {
			return err
		}
		if err := u.changesCommitted(ctx, 0.35); err != nil {
			return err
		}
		back = u.stack.startNode(u.t, devstack.Cassandra, i)
		u.record(event{what: fmt.Sprintf("cassandra-%d SIGKILL", i+1), at: at, back: back, stages: stageConsume})
		return nil
	})
}

// Rows the reconciler scenario breaks by hand.
const (
	handDeleted     = 1000
	handOverwritten = 1000
)

// TestClusterReconcile runs the pipeline on the cluster without faults,
// then deletes 1,000 rows and overwrites 1,000 by hand (CQL, at the
// current time: newer than their versions), SIGKILLs a random Cassandra
// node and leaves it down: a check at LOCAL_QUORUM on the two nodes left
// must report exactly those 1,000 missing and 1,000 stale rows; Repair
// re-stages them, a producer run relays them and a consumer stores them,
// and a second check reports none. The node is started again at the end.
func TestClusterReconcile(t *testing.T) {
	su := clusterSetup(t, "cluster_reconcile_node_down", "after the run, 1,000 rows deleted and 1,000 overwritten by hand, a Cassandra node SIGKILLed and left down; check, repair, check", 0)
	su.users, su.hold = updateUsers(t), 0
	r := scenario(t, su, func(context.Context, *run) error { return nil })
	if t.Failed() {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()

	// The rows to break: a random 2,000 of the users.
	_, ids, err := tableIDs(ctx, r.cfg)
	if err != nil {
		t.Fatal(err)
	}
	all := make([]string, 0, len(ids))
	for id := range ids {
		all = append(all, id)
	}
	slices.Sort(all)
	if len(all) < 2*(handDeleted+handOverwritten) {
		t.Fatalf("%d users: the scenario breaks %d rows and wants at least twice as many", len(all), handDeleted+handOverwritten)
	}
	r.rnd.Shuffle(len(all), func(i, j int) { all[i], all[j] = all[j], all[i] })
	deleted, overwritten := all[:handDeleted], all[handDeleted:handDeleted+handOverwritten]
	if err := breakRows(ctx, r.cfg, deleted, overwritten); err != nil {
		t.Fatal(err)
	}
	t.Logf("by hand: %d rows deleted, %d overwritten (email and phone), at the current time", len(deleted), len(overwritten))

	node := r.rnd.IntN(clusterNodes)
	r.stack.killNode(t, devstack.Cassandra, node)
	restarted := false
	t.Cleanup(func() {
		if !restarted {
			r.stack.startNode(t, devstack.Cassandra, node)
		}
	})

	pool, err := pgxpool.New(ctx, r.cfg.PostgresDSN)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	ob, err := outbox.NewStore(pool, outbox.WithSchema(r.cfg.PostgresSchema))
	if err != nil {
		t.Fatal(err)
	}

	// The first check: exactly the rows broken.
	rep, took, err := check(ctx, r.cfg, ob)
	if err != nil {
		t.Fatalf("check with cassandra-%d down: %v", node+1, err)
	}
	t.Logf("check with cassandra-%d down: compared %d ids in %v (%.0f ids/s): %d missing, %d stale, %d unexpected",
		node+1, rep.Compared, took.Round(time.Millisecond), float64(rep.Compared)/took.Seconds(), rep.Missing, rep.Stale, rep.Unexpected)
	kinds := map[string]reconcile.Kind{}
	for _, f := range rep.Findings {
		kinds[f.ID] = f.Kind
	}
	wrong := 0
	for _, c := range []struct {
		ids  []string
		kind reconcile.Kind
	}{{deleted, reconcile.Missing}, {overwritten, reconcile.Stale}} {
		for _, id := range c.ids {
			if k := kinds[id]; k != c.kind {
				if wrong++; wrong <= 5 {
					t.Errorf("user %s: reported %q, want %q", id, k, c.kind)
				}
			}
		}
	}
	if rep.Missing != handDeleted || rep.Stale != handOverwritten || rep.Unexpected != 0 ||
		len(rep.Findings) != handDeleted+handOverwritten || rep.Compared != int64(r.users) || wrong > 0 {
		t.Fatalf("first check: compared %d, missing %d, stale %d, unexpected %d, %d findings (%d wrong): want %d compared, exactly the %d deleted missing and the %d overwritten stale",
			rep.Compared, rep.Missing, rep.Stale, rep.Unexpected, len(rep.Findings), wrong, r.users, handDeleted, handOverwritten)
	}

	// Repair, then the relay and a consumer carry it, the node still down.
	begin := time.Now()
	n, err := repair(ctx, r.cfg, ob, rep)
	if err != nil {
		t.Fatalf("repair: %v", err)
	}
	if n != handDeleted+handOverwritten {
		t.Errorf("repair staged %d versions, want %d", n, handDeleted+handOverwritten)
	}
	carry(ctx, t, r, n)
	rep2, took2, err := check(ctx, r.cfg, ob)
	if err != nil {
		t.Fatalf("second check: %v", err)
	}
	repaired := time.Since(begin)
	t.Logf("second check with cassandra-%d down: compared %d ids in %v: %d missing, %d stale, %d unexpected; from the repair to a clean check %v",
		node+1, rep2.Compared, took2.Round(time.Millisecond), rep2.Missing, rep2.Stale, rep2.Unexpected, repaired.Round(time.Millisecond))
	if rep2.Differences() != 0 || rep2.Compared != int64(r.users) {
		t.Errorf("second check: compared %d, missing %d, stale %d, unexpected %d (first findings %v): want %d compared, no difference",
			rep2.Compared, rep2.Missing, rep2.Stale, rep2.Unexpected, rep2.Findings[:min(5, len(rep2.Findings))], r.users)
	}
	t.Logf("reconciler figures: %d users, %d broken by hand, found %d missing and %d stale with a node down in %v; repaired (%d staged, relayed, consumed) and checked clean in %v",
		r.users, handDeleted+handOverwritten, rep.Missing, rep.Stale, took.Round(time.Millisecond), n, repaired.Round(time.Millisecond))

	r.stack.startNode(t, devstack.Cassandra, node)
	restarted = true
}

// breakRows deletes the rows of deleted and overwrites the email and phone
// of those of overwritten, as statements typed into cqlsh would: at the
// coordinator's consistency (LOCAL_QUORUM) and the current time, newer
// than any version the pipeline wrote.
func breakRows(ctx context.Context, cfg config, deleted, overwritten []string) error {
	s, err := cassandrastore.NewSession(ctx, cfg.CassandraHosts, cassandrastore.WithRequestTimeout(time.Minute))
	if err != nil {
		return err
	}
	defer s.Close()
	table := cfg.Keyspace + "." + cfg.Table
	for _, id := range deleted {
		if err := s.Session.Query(`DELETE FROM `+table+` WHERE id = ?`, id).WithContext(ctx).Exec(); err != nil {
			return fmt.Errorf("delete %s: %w", id, err)
		}
	}
	for i, id := range overwritten {
		if err := s.Session.Query(`UPDATE `+table+` SET email = ?, phone = ? WHERE id = ?`,
			fmt.Sprintf("edited.by.hand%d@example.com", i), "000-000-0000", id).WithContext(ctx).Exec(); err != nil {
			return fmt.Errorf("update %s: %w", id, err)
		}
	}
	return nil
}

// repair re-stages the findings of rep in a run of its own.
func repair(ctx context.Context, cfg config, ob *outbox.Store, rep *reconcile.Report) (int, error) {
	s, err := cassandrastore.NewSession(ctx, cfg.CassandraHosts)
	if err != nil {
		return 0, err
	}
	defer s.Close()
	table, err := cassandrastore.New(s, cassandrastore.WithKeyspace(cfg.Keyspace), cassandrastore.WithTable(cfg.Table))
	if err != nil {
		return 0, err
	}
	rec, err := reconcile.New(ob, table)
	if err != nil {
		return 0, err
	}
	n, err := rec.Repair(ctx, rep, "faults-repair")
	if errors.Is(err, reconcile.ErrTruncated) {
		return n, fmt.Errorf("the report kept only %d findings: %w", len(rep.Findings), err)
	}
	return n, err
}

// carry relays the n versions a repair staged and consumes them into the
// table: the producer run again on the run's seed (every user a
// duplicate; its relay publishes what is pending) and a consumer process
// in the run's group, until the group has committed them.
func carry(ctx context.Context, t *testing.T, r *run, n int) {
	t.Helper()
	ends, err := topicEnd(ctx, r.cfg)
	if err != nil {
		t.Fatal(err)
	}
	// The run's consumer process again (its instance id and consumers),
	// so that it takes its static members' partitions back at once.
	cons := startSupervisor(t, "consumer-repair", filepath.Join(r.bins, "consumer"), r.logs, false, "", r.consumerArgs("consumer1", 2)...)
	t.Cleanup(func() { cons.kill() })
	select {
	case <-cons.current().stderr.ready:
	case <-time.After(time.Minute):
		t.Fatalf("consumer-repair did not start:\n%s", cons.current().logTail(20))
	}
	mon := startMonitor(t, r.cfg.Brokers, r.cfg.Topic, r.cfg.Group, r.cfg.PostgresDSN, r.cfg.PostgresSchema, func() []*supervisor { return []*supervisor{cons} })
	defer mon.stop()
	prod := startSupervisor(t, "producer-repair", filepath.Join(r.bins, "producer"), r.logs, true, "", r.producerArgs()...)
	t.Cleanup(func() { prod.kill() })
	select {
	case <-prod.done:
	case <-ctx.Done():
		t.Fatalf("the producer run that relays the repair did not finish:\n%s", prod.current().logTail(20))
	}
	if !prod.succeeded {
		t.Fatalf("the producer run that relays the repair failed:\n%s", prod.current().logTail(20))
	}
	want := ends + int64(n)
	if _, err := mon.waitFor(ctx, fmt.Sprintf("the %d repaired versions consumed", n), func(s sample) bool {
		return s.published >= want && s.drained()
	}); err != nil {
		t.Fatalf("%v\n%s", err, cons.current().logTail(20))
	}
	cons.stop(45 * time.Second)
	if got := cons.current().summaryStored(); got >= 0 {
		t.Logf("the repair carried: %d records published after the run's %d, consumer-repair stored %d rows", n, ends, got)
	}
}

// topicEnd returns the sum of the end offsets of cfg's topic.
func topicEnd(ctx context.Context, cfg config) (int64, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(cfg.Brokers...))
	if err != nil {
		return 0, err
	}
	defer cl.Close()
	ends, err := kadm.NewClient(cl).ListEndOffsets(ctx, cfg.Topic)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return 0, err
	}
	var n int64
	ends.Each(func(o kadm.ListedOffset) { n += o.Offset })
	return n, nil
}
