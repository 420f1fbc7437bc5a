//go:build airflow

package airflowtest

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/userstream/userstream/cassandrastore"
	"github.com/userstream/userstream/internal/testenv"
	"github.com/userstream/userstream/kafkasink"
	"github.com/userstream/userstream/kafkasink/outbox"
	"github.com/userstream/userstream/randomuser"
	"github.com/userstream/userstream/randomuser/randomusertest"
	"github.com/userstream/userstream/runledger"
	"github.com/userstream/userstream/transform"
)

const (
	dagID  = "user_automation"
	taskID = "stream_data_from_api"
	// venvEnv names the venv install-airflow made (make test-airflow sets it).
	venvEnv = "USERSTREAM_AIRFLOW_VENV"
	// runUsers is what each run fetches: the DAG asks for 20,000, the
	// tests' Variable overrides it (a later flag wins), to keep runs short.
	runUsers = 2000
	// wait bounds every wait for a server or a process to get somewhere,
	// so that a hang fails the test with what was seen rather than at the
	// go test timeout.
	wait = 4 * time.Minute
)

var repoRoot, dagsFolder = func() (string, string) {
	root, err := filepath.Abs("../..")
	if err != nil {
		panic(err)
	}
	return root, filepath.Join(root, "examples", "airflow")
}()

var (
	binOnce sync.Once
	binDir  string
	binErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// binaries builds the real producer and consumer, under the names the DAG
// and docs/airflow.md give them, into a folder to put first on the PATH.
func binaries(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		if binDir, binErr = os.MkdirTemp("", "userstream-airflow-bin"); binErr != nil {
			return
		}
		for _, b := range [][2]string{{"userstream-producer", "./examples/producer"}, {"userstream-consumer", "./examples/consumer"}} {
			cmd := exec.Command("go", "build", "-o", filepath.Join(binDir, b[0]), b[1])
			cmd.Dir = repoRoot
			if out, err := cmd.CombinedOutput(); err != nil {
				binErr = fmt.Errorf("go build %s: %v\n%s", b[1], err, out)
				return
			}
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binDir
}

// stack is the servers, and the names one test uses on them: its topic
// (and dead-letter topic), outbox and ledger schema, consumer group and
// keyspace all share one unique name, so tests do not see each other's
// users.
type stack struct {
	name    string
	brokers []string
	hosts   []string
	dsn     string
	pool    *pgxpool.Pool
	store   *cassandrastore.Store
}

func newStack(t *testing.T, prefix string) *stack {
	t.Helper()
	s := &stack{name: testenv.Name(t, prefix), brokers: testenv.KafkaBrokers(t), hosts: testenv.CassandraHosts(t), dsn: testenv.PostgresDSN(t)}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var err error
	if s.pool, err = pgxpool.New(ctx, s.dsn); err != nil {
		t.Fatal(err)
	}
	session, err := cassandrastore.NewSession(ctx, s.hosts)
	if err != nil {
		t.Fatalf("cassandra %v: %v", s.hosts, err)
	}
	if s.store, err = cassandrastore.New(session, cassandrastore.WithKeyspace(s.name)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := session.Session.Query(`DROP KEYSPACE IF EXISTS ` + s.name).WithContext(ctx).Exec(); err != nil {
			t.Logf("drop keyspace %s: %v", s.name, err)
		}
		session.Close()
		if _, err := s.pool.Exec(ctx, `DROP SCHEMA IF EXISTS `+pgx.Identifier{s.name}.Sanitize()+` CASCADE`); err != nil {
			t.Logf("drop schema %s: %v", s.name, err)
		}
		s.pool.Close()
		if cl, err := kgo.NewClient(kgo.SeedBrokers(s.brokers...)); err == nil {
			_, _ = kadm.NewClient(cl).DeleteTopics(ctx, s.name, s.name+kafkasink.DLQSuffix)
			cl.Close()
		}
	})
	return s
}

// producerArgs is the Airflow Variable userstream_producer_args that points
// the DAG's producer at this test's names, offline (no internet here).
func (s *stack) producerArgs() string {
	return fmt.Sprintf("-offline -users %d -topic %s -pg-schema %s -log-level info", runUsers, s.name, s.name)
}

// startConsumer runs examples/consumer as the service docs/airflow.md says to
// run beside the DAG, until the test ends.
func (s *stack) startConsumer(t *testing.T, bin string) {
	t.Helper()
	cmd := exec.Command(filepath.Join(bin, "userstream-consumer"), "-topic", s.name, "-group", s.name, "-keyspace", s.name,
		"-pg-schema", s.name, "-metrics-addr=", "-progress=false", "-log-level", "warn")
	var out testenv.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("consumer: %v\n%s", err, out.String())
			}
		case <-time.After(time.Minute):
			_ = cmd.Process.Kill()
			t.Errorf("consumer did not stop within a minute of SIGTERM\n%s", out.String())
		}
	})
}

// seedIDs returns the ids of the n users the DAG's producer fetches for the
// seed, as the producer asks for them, from the same offline server.
func seedIDs(t *testing.T, seed string, n int) []string {
	t.Helper()
	srv, err := randomusertest.NewServer()
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	c, err := randomuser.New(randomuser.WithBaseURL(srv.BaseURL()))
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for u, err := range c.Users(context.Background(), randomuser.Query{Results: randomuser.MaxResults, Seed: seed}, n) {
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, transform.FromUser(u).ID)
	}
	return ids
}

// seedOf is the seed the DAG renders for a run of date.
func seedOf(date time.Time) string { return "userstream-" + date.UTC().Format("20060102") }

// verify checks that the outbox, the topic and created_users each hold
// exactly the users want, each once, and that nothing waits in the outbox.
func (s *stack) verify(t *testing.T, want []string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	wantSet := make(map[string]bool, len(want))
	for _, id := range want {
		wantSet[id] = true
	}
	if len(wantSet) != len(want) {
		t.Fatalf("the expected users repeat ids: %d ids, %d distinct", len(want), len(wantSet))
	}

	// The outbox: every user staged once, all published.
	ob, err := outbox.NewStore(s.pool, outbox.WithSchema(s.name))
	if err != nil {
		t.Fatal(err)
	}
	counts, err := ob.Counts(ctx)
	if err != nil {
		t.Fatalf("outbox counts: %v", err)
	}
	if counts.Pending != 0 || counts.Published != int64(len(want)) {
		t.Errorf("outbox: %d published, %d pending; want %d published, none pending", counts.Published, counts.Pending, len(want))
	}
	rows, err := s.pool.Query(ctx, `SELECT id::text FROM `+pgx.Identifier{s.name, "outbox"}.Sanitize())
	if err != nil {
		t.Fatal(err)
	}
	staged, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	compare(t, "outbox", staged, wantSet)

	// The topic: each user once, as kafkasink decodes it.
	compare(t, "topic "+s.name, s.readTopic(ctx, t), wantSet)

	// created_users, once the consumer has caught up.
	var stored int64
	for {
		if stored, err = s.store.Count(ctx); err == nil && stored >= int64(len(want)) {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("created_users in %s holds %d rows after %v (last error %v), want %d", s.name, stored, wait, err, len(want))
		case <-time.After(200 * time.Millisecond):
		}
	}
	var ids []string
	for row, err := range s.store.All(ctx, 1000) {
		if err != nil {
			t.Fatalf("created_users: %v", err)
		}
		ids = append(ids, row.ID)
	}
	compare(t, "created_users", ids, wantSet)
}

// readTopic returns the ids of every record on the test's topic.
func (s *stack) readTopic(ctx context.Context, t *testing.T) []string {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(s.brokers...), kgo.ConsumeTopics(s.name),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ends, err := kadm.NewClient(cl).ListEndOffsets(ctx, s.name)
	if err != nil || ends.Error() != nil {
		t.Fatalf("end offsets of %s: %v %v", s.name, err, ends.Error())
	}
	var total int64
	ends.Each(func(o kadm.ListedOffset) { total += o.Offset })
	var ids []string
	for int64(len(ids)) < total {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("topic %s: read %d of %d records: %v", s.name, len(ids), total, err)
		}
		fs.EachError(func(topic string, p int32, err error) { t.Errorf("fetch %s/%d: %v", topic, p, err) })
		fs.EachRecord(func(r *kgo.Record) {
			row, err := kafkasink.DecodeRecord(r)
			if err != nil {
				t.Errorf("record %s/%d@%d: %v", r.Topic, r.Partition, r.Offset, err)
				return
			}
			ids = append(ids, row.ID)
		})
	}
	return ids
}

// compare reports where got differs from want: a missing user, a user
// that was not asked for, or one held twice.
func compare(t *testing.T, where string, got []string, want map[string]bool) {
	t.Helper()
	seen := make(map[string]int, len(got))
	for _, id := range got {
		seen[id]++
	}
	var missing, extra, twice int
	for id := range want {
		if seen[id] == 0 {
			missing++
		}
	}
	for id, n := range seen {
		if !want[id] {
			extra++
		}
		if n > 1 {
			twice++
		}
	}
	if missing+extra+twice > 0 || len(got) != len(want) {
		t.Errorf("%s holds %d users, want %d: %d missing, %d not fetched by these runs, %d held more than once",
			where, len(got), len(want), missing, extra, twice)
	}
}

// ingestRuns returns the producer's runs in the ledger, oldest first.
func (s *stack) ingestRuns(t *testing.T) []runledger.Run {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	l, err := runledger.New(s.pool, runledger.WithSchema(s.name))
	if err != nil {
		t.Fatal(err)
	}
	runs, err := l.Recent(ctx, 100)
	if err != nil {
		t.Fatalf("ledger: %v", err)
	}
	var out []runledger.Run
	for _, r := range runs {
		if r.Kind == "ingest" {
			out = append(out, r)
		}
	}
	slices.Reverse(out)
	return out
}

// airflow is one Airflow installation's home (SQLite metadata, the
// project's DAG folder) and the environment its commands run with.
type airflow struct {
	venv, home string
	env        []string
}

// newAirflow makes an AIRFLOW_HOME in a temporary folder, with the DAG
// folder examples/airflow, the binaries first on the PATH, the Variable
// userstream_producer_args set from the environment, and the metadata
// database migrated. env is added last (it wins).
func newAirflow(t *testing.T, s *stack, bin string, env ...string) *airflow {
	t.Helper()
	venv := testenv.Require(t, venvEnv)
	a := &airflow{venv: venv, home: t.TempDir()}
	a.env = append(os.Environ(),
		"AIRFLOW_HOME="+a.home,
		"AIRFLOW__CORE__DAGS_FOLDER="+dagsFolder,
		"AIRFLOW__CORE__LOAD_EXAMPLES=False",
		"PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"),
		"AIRFLOW_VAR_USERSTREAM_PRODUCER_ARGS="+s.producerArgs(),
	)
	a.env = append(a.env, env...)
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if out, err := a.command(ctx, "db", "migrate").CombinedOutput(); err != nil {
		t.Fatalf("airflow db migrate: %v\n%s", err, out)
	}
	return a
}

// command returns an airflow command of this home.
func (a *airflow) command(ctx context.Context, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, filepath.Join(a.venv, "bin", "airflow"), args...)
	cmd.Env = a.env
	cmd.Dir = a.home
	// Airflow's commands start children of their own: stop them all.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	return cmd
}

// dagsTest runs `airflow dags test user_automation date`, with env added,
// and returns its output and how it exited. Unlike `airflow tasks test`,
// it exits non-zero when the run fails.
func (a *airflow) dagsTest(t *testing.T, date string, env ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	cmd := a.command(ctx, "dags", "test", dagID, date)
	cmd.Env = append(slices.Clip(a.env), env...)
	start := time.Now()
	out, err := cmd.CombinedOutput()
	t.Logf("airflow dags test %s %s: %v in %v", dagID, date, exitText(err), time.Since(start).Round(100*time.Millisecond))
	return string(out), err
}

func exitText(err error) string {
	if err == nil {
		return "exit 0"
	}
	return err.Error()
}

// taskTry is one of the DAG's runs as Airflow's metadata database holds it,
// with its task's attempts.
type taskTry struct {
	RunID       string `json:"run_id"`
	LogicalDate string `json:"logical_date"`
	RunState    string `json:"run_state"`
	TaskState   string `json:"task_state"`
	TryNumber   int    `json:"try_number"`
	// EarlierTries counts the task's earlier attempts, which Airflow moves to
	// task_instance_history when it retries.
	EarlierTries int `json:"earlier_tries"`
}

// runsInDB reads the DAG's runs and their task's attempts from the SQLite
// metadata database, with the venv's Python.
func (a *airflow) runsInDB(t *testing.T) []taskTry {
	t.Helper()
	const script = `
import json, sqlite3, sys
db = sqlite3.connect(sys.argv[1])
rows = db.execute("""
  SELECT dr.run_id, coalesce(dr.logical_date, ''), dr.state, ti.state, ti.try_number,
    (SELECT count(*) FROM task_instance_history h
      WHERE h.dag_id = ti.dag_id AND h.run_id = ti.run_id AND h.task_id = ti.task_id)
  FROM dag_run dr JOIN task_instance ti ON ti.dag_id = dr.dag_id AND ti.run_id = dr.run_id
  WHERE dr.dag_id = ? AND ti.task_id = ? ORDER BY dr.id""", (sys.argv[2], sys.argv[3])).fetchall()
keys = ["run_id", "logical_date", "run_state", "task_state", "try_number", "earlier_tries"]
print(json.dumps([dict(zip(keys, r)) for r in rows]))
`
	out, err := exec.Command(filepath.Join(a.venv, "bin", "python"), "-c", script,
		filepath.Join(a.home, "airflow.db"), dagID, taskID).Output()
	if err != nil {
		t.Fatalf("reading the metadata database: %v %s", err, stderrOf(err))
	}
	var runs []taskTry
	if err := json.Unmarshal(out, &runs); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	return runs
}

func stderrOf(err error) string {
	if ee, ok := err.(*exec.ExitError); ok {
		return string(ee.Stderr)
	}
	return ""
}

// tail returns the last n lines of s, for failure messages.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// deadAddr returns a loopback address nothing listens on.
func deadAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}
