//go:build airflow

package airflowtest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/userstream/userstream/runledger"
)

// retryPolicy is a cluster policy (airflow_local_settings.py, which Airflow
// imports from AIRFLOW_HOME/config) that shortens every task's retry delay
// to a second, so the DAG's retries run in the test without a 5-minute
// wait and without editing the DAG: its retries count stays as written.
const retryPolicy = `from datetime import timedelta


def task_policy(task):
    task.retry_delay = timedelta(seconds=1)
`

// The DAG as its author checks it, with `airflow dags test` (no scheduler,
// no webserver) against the real stack and the consumer running:
//
//  1. a run for 2024-01-01 stores that day's users in the outbox, on the
//     topic and in created_users, and the ledger records it;
//  2. a second run of the same date (as a retry fetches) stages nothing
//     new and changes nothing downstream;
//  3. a run for 2024-01-02 whose Kafka brokers point at a dead port fails,
//     is retried twice as the DAG says (one try and two retries, a second
//     apart by the cluster policy), and `dags test` exits non-zero, with
//     nothing staged, published or left running;
//  4. the same date run again with Kafka back stores that day's users, each
//     exactly once.
func TestDagsTest(t *testing.T) {
	bin := binaries(t)
	s := newStack(t, "af_dags")
	s.startConsumer(t, bin)
	a := newAirflow(t, s, bin)
	if err := os.MkdirAll(filepath.Join(a.home, "config"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(a.home, "config", "airflow_local_settings.py"), []byte(retryPolicy), 0o644); err != nil {
		t.Fatal(err)
	}

	day1 := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	day2 := day1.AddDate(0, 0, 1)
	users1 := seedIDs(t, seedOf(day1), runUsers)
	users2 := seedIDs(t, seedOf(day2), runUsers)

	// 1. A run.
	if out, err := a.dagsTest(t, "2024-01-01"); err != nil {
		t.Fatalf("airflow dags test 2024-01-01: %v\n%s", err, tail(out, 60))
	}
	s.verify(t, users1)
	runs := s.ingestRuns(t)
	if len(runs) != 1 || runs[0].Status != runledger.StatusSucceeded || runs[0].Fetched != runUsers || runs[0].Staged != runUsers || runs[0].Published != runUsers {
		t.Fatalf("ledger after the first run: %+v, want one succeeded ingest run of %d users staged and published", runs, runUsers)
	}
	t.Logf("run for 2024-01-01 stored %d users (seed %s); ledger run %s", runUsers, seedOf(day1), runs[0].RunID)

	// 2. The same date again: the same users, nothing new.
	if out, err := a.dagsTest(t, "2024-01-01"); err != nil {
		t.Fatalf("second airflow dags test 2024-01-01: %v\n%s", err, tail(out, 60))
	}
	s.verify(t, users1)
	runs = s.ingestRuns(t)
	if len(runs) != 2 || runs[1].Status != runledger.StatusSucceeded || runs[1].Fetched != runUsers || runs[1].Staged != 0 || runs[1].Duplicates != runUsers || runs[1].Published != 0 {
		t.Fatalf("ledger after the second run of 2024-01-01: %+v, want a second run with %d duplicates, nothing staged or published", runs, runUsers)
	}

	// 3. Kafka unreachable: three attempts, then a failed run.
	out, err := a.dagsTest(t, "2024-01-02", "USERSTREAM_KAFKA_BROKERS="+deadAddr(t))
	if err == nil {
		t.Fatalf("airflow dags test with a dead Kafka exited 0, want non-zero\n%s", tail(out, 60))
	}
	if !strings.Contains(out, "unable to dial") {
		t.Errorf("the failed run's output does not show the producer's Kafka error:\n%s", tail(out, 60))
	}
	var failed *taskTry
	inDB := a.runsInDB(t)
	for i := range inDB {
		if strings.HasPrefix(inDB[i].LogicalDate, "2024-01-02") {
			failed = &inDB[i]
		}
	}
	// retries=2 in the DAG: the first try and two retries.
	if failed == nil || failed.RunState != "failed" || failed.TaskState != "failed" || failed.TryNumber != 3 || failed.EarlierTries != 2 {
		t.Fatalf("metadata database: %+v; want the 2024-01-02 run failed after try 3, with 2 earlier tries", inDB)
	}
	s.verify(t, users1) // nothing of day 2 anywhere
	if runs := s.ingestRuns(t); len(runs) != 2 {
		t.Errorf("ledger after the failed run: %+v, want the same 2 runs (the producer fails before it starts a run)", runs)
	}

	// 4. Kafka back: day 2's users, each once.
	if out, err := a.dagsTest(t, "2024-01-02"); err != nil {
		t.Fatalf("airflow dags test 2024-01-02 after the failure: %v\n%s", err, tail(out, 60))
	}
	s.verify(t, append(users1, users2...))
	runs = s.ingestRuns(t)
	if len(runs) != 3 || runs[2].Status != runledger.StatusSucceeded || runs[2].Staged != runUsers || runs[2].Published != runUsers {
		t.Fatalf("ledger after the re-run of 2024-01-02: %+v, want a third run with %d users staged and published", runs, runUsers)
	}
	for _, r := range runs {
		if r.Status == runledger.StatusRunning {
			t.Errorf("ledger run %s is still marked running", r.RunID)
		}
	}
}
