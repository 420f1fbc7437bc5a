package runledger_test

import (
	"context"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/userstream/userstream/internal/testenv"
	"github.com/userstream/userstream/runledger"
)

// The environment of the child process of TestKilledRunIsAbandoned.
const (
	childSchemaEnv = "USERSTREAM_TEST_LEDGER_CHILD_SCHEMA"
	childRunEnv    = "USERSTREAM_TEST_LEDGER_CHILD_RUN"
)

// TestLedgerChildProcess is the process TestKilledRunIsAbandoned kills:
// it records a run and keeps it current with a Progress until killed.
// Without its environment it does nothing.
func TestLedgerChildProcess(t *testing.T) {
	schema, id := os.Getenv(childSchemaEnv), os.Getenv(childRunEnv)
	if schema == "" || id == "" {
		t.Skip("the child process of TestKilledRunIsAbandoned")
	}
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, testenv.PostgresDSN(t))
	if err != nil {
		t.Fatal(err)
	}
	l, err := runledger.New(pool, runledger.WithSchema(schema))
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Start(ctx, id, "child"); err != nil {
		t.Fatal(err)
	}
	run := runledger.Run{RunID: id, Kind: "child", StartedAt: time.Now()}
	n := int64(0)
	runledger.Progress{Ledger: l, Tick: 10 * time.Millisecond, Sample: func(context.Context) runledger.Run {
		n++
		r := run
		r.Fetched = n
		return r
	}}.Start(ctx, run)
	select {} // until killed
}

// A run whose process is SIGKILLed is read as abandoned once its heartbeat
// is older than the lease; while the process lived it was running. The
// row itself still says running: a heartbeat brings it back, and its last
// Update records how it ended.
func TestKilledRunIsAbandoned(t *testing.T) {
	dsn := testenv.PostgresDSN(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	pool, err := pgxpool.New(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	schema := testenv.Name(t, "ledger")
	t.Cleanup(func() {
		_, _ = pool.Exec(context.Background(), `DROP SCHEMA IF EXISTS `+pgx.Identifier{schema}.Sanitize()+` CASCADE`)
	})
	// Two readers of one table: one with a lease far longer than any
	// stall of a loaded machine between two heartbeats (10 ms apart), one
	// with a short lease so that the killed run is abandoned soon.
	patient, err := runledger.New(pool, runledger.WithSchema(schema), runledger.WithLease(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	short, err := runledger.New(pool, runledger.WithSchema(schema), runledger.WithLease(300*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	if err := patient.Migrate(ctx); err != nil {
		t.Fatal(err)
	}

	id := runledger.NewRunID("child")
	child := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestLedgerChildProcess$", "-test.count=1")
	child.Env = append(os.Environ(), childSchemaEnv+"="+schema, childRunEnv+"="+id)
	child.Stdout, child.Stderr = &testenv.Buffer{}, &testenv.Buffer{}
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	var waitErr error
	exited := make(chan struct{})
	go func() { waitErr = child.Wait(); close(exited) }()
	defer func() {
		_ = child.Process.Kill()
		<-exited
	}()

	// waitFor polls l's view of the run until ok, for up to a minute,
	// and fails if the child exits before it is killed.
	running := (<-chan struct{})(exited)
	waitFor := func(what string, l *runledger.Ledger, ok func(runledger.Run) bool) runledger.Run {
		t.Helper()
		deadline := time.Now().Add(time.Minute)
		for {
			r, err := l.Get(ctx, id)
			if err == nil && ok(r) {
				return r
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: not within a minute: %+v, %v\nchild: %s", what, r, err, child.Stderr)
			}
			select {
			case <-running:
				t.Fatalf("the child exited: %v\n%s%s", waitErr, child.Stdout, child.Stderr)
			case <-time.After(20 * time.Millisecond):
			}
		}
	}
	first := waitFor("the child's first heartbeats", patient, func(r runledger.Run) bool { return r.Fetched >= 5 })
	alive := waitFor("more heartbeats", patient, func(r runledger.Run) bool { return r.HeartbeatAt.After(first.HeartbeatAt) })
	if alive.Status != runledger.StatusRunning || alive.EndedAt != nil {
		t.Fatalf("the live run reads %+v, want running", alive)
	}

	running = nil
	if err := child.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-exited
	last, err := patient.Get(ctx, id) // no heartbeat after this one
	if err != nil {
		t.Fatal(err)
	}
	gone := waitFor("abandoned", short, func(r runledger.Run) bool { return r.Status == runledger.StatusAbandoned })
	if !gone.HeartbeatAt.Equal(last.HeartbeatAt) || gone.EndedAt != nil || gone.Fetched != last.Fetched {
		t.Errorf("abandoned run %+v, want the last heartbeat's %+v with no end", gone, last)
	}
	if runs, err := short.Recent(ctx, 1); err != nil || len(runs) != 1 || runs[0].Status != runledger.StatusAbandoned {
		t.Errorf("Recent: %+v, %v; want the run abandoned", runs, err)
	}
	if r, err := patient.Get(ctx, id); err != nil || r.Status != runledger.StatusRunning {
		t.Errorf("with a lease of an hour the run reads %+v, %v; want running: the row is not rewritten", r, err)
	}

	// The run comes back (a stalled process): its heartbeat makes it
	// running again; its last Update records how it ended, for every
	// reader.
	if err := short.Update(ctx, runledger.Run{RunID: id, Fetched: last.Fetched + 1, Status: runledger.StatusRunning}); err != nil {
		t.Fatal(err)
	}
	if r, err := patient.Get(ctx, id); err != nil || r.Status != runledger.StatusRunning || !r.HeartbeatAt.After(last.HeartbeatAt) {
		t.Errorf("after a heartbeat: %+v, %v; want running with a later heartbeat", r, err)
	}
	if err := short.Update(ctx, runledger.Run{RunID: id, Fetched: last.Fetched + 2, Status: runledger.StatusSucceeded}); err != nil {
		t.Fatal(err)
	}
	for _, l := range []*runledger.Ledger{short, patient} {
		if r, err := l.Get(ctx, id); err != nil || r.Status != runledger.StatusSucceeded || r.EndedAt == nil || r.Fetched != last.Fetched+2 {
			t.Errorf("after the last Update: %+v, %v; want succeeded with its end", r, err)
		}
	}
}

// A table created before the heartbeat column gains it at Migrate; its
// rows, which have none, are read with their end or start time, and a
// run left running there is abandoned.
func TestMigrateAddsHeartbeat(t *testing.T) {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, testenv.PostgresDSN(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	schema := testenv.Name(t, "ledger")
	t.Cleanup(func() {
		_, _ = pool.Exec(context.Background(), `DROP SCHEMA IF EXISTS `+pgx.Identifier{schema}.Sanitize()+` CASCADE`)
	})
	l, err := runledger.New(pool, runledger.WithSchema(schema))
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	runs, err := l.Recent(ctx, 1)
	if err != nil || len(runs) != 0 {
		t.Fatalf("Recent: %v, %v", runs, err)
	}
	// The first release's table: no heartbeat_at, one run killed long ago
	// and one that ended.
	table := pgx.Identifier{schema, "runs"}.Sanitize()
	if _, err := pool.Exec(ctx, `ALTER TABLE `+table+` DROP COLUMN heartbeat_at;
INSERT INTO `+table+` (run_id, kind, started_at, status) VALUES ('old-running', 'full', now() - interval '2 hours', 'running');
INSERT INTO `+table+` (run_id, kind, started_at, ended_at, status) VALUES ('old-done', 'full', now() - interval '3 hours', now() - interval '170 minutes', 'succeeded')`); err != nil {
		t.Fatal(err)
	}
	for range 2 { // idempotent
		if err := l.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
	}
	runs, err = l.Recent(ctx, 10)
	if err != nil || len(runs) != 2 {
		t.Fatalf("Recent: %+v, %v", runs, err)
	}
	if r := runs[0]; r.RunID != "old-running" || r.Status != runledger.StatusAbandoned || !r.HeartbeatAt.Equal(r.StartedAt) {
		t.Errorf("old running run: %+v, want abandoned with its start as heartbeat", r)
	}
	if r := runs[1]; r.RunID != "old-done" || r.Status != runledger.StatusSucceeded || !r.HeartbeatAt.Equal(*r.EndedAt) {
		t.Errorf("old ended run: %+v, want succeeded with its end as heartbeat", r)
	}
}
