//go:build faults

package faults_test

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// TestUpdates is TestClusterUpdates on the single node (make faults):
// day 1, on which a third of the users changed, streamed over 45 s after
// day 0 was consumed; a consumer process SIGKILLed and restarted once 10%
// of the changes are committed (storing again within
// restartedConsumerBound), Cassandra SIGKILLed at 20% and restarted once
// the relay has published 35% (the consumers cannot store meanwhile), and
// the write times of every row read once it is back. The table must end
// at the latest version of every user, no write time below one read
// before. Cassandra runs on the group commit log, as in TestCassandraKilled:
// on one node with the periodic one, a SIGKILL loses acknowledged writes,
// which no pipeline can prevent. It takes a fifth of the users
// (updateUsers: 20,000 by default), since it carries them twice.
func TestUpdates(t *testing.T) {
	durableCassandra(t)
	su := setup{name: "updates", faults: "day 1 (a third of the users changed) streamed: a consumer SIGKILLed at 10% of the changes committed and restarted; Cassandra SIGKILLed at 20%, restarted at 35% published",
		consumers: []int{1, 1}, pageSize: 1000, pace: 45 * time.Second}
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
		u.record(event{what: fmt.Sprintf("consumer SIGKILL (%s)", v.name), at: at, back: back, stages: stageConsume,
			restarted: v.current(), maxStoring: restartedConsumerBound})
		if err := u.changesCommitted(ctx, 0.2); err != nil {
			return err
		}
		at = u.stack.kill(u.t, "cassandra")
		if err := u.changesPublished(ctx, 0.35); err != nil {
			return err
		}
		back = u.stack.start(u.t, "cassandra")
		u.record(event{what: "Cassandra SIGKILL", at: at, back: back, stages: stageConsume})
		return u.snapshot(ctx)
	})
}
