package faults_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/userstream/userstream/cassandrastore"
	"github.com/userstream/userstream/internal/testenv"
	"github.com/userstream/userstream/randomuser"
	"github.com/userstream/userstream/randomuser/randomusertest"
	"github.com/userstream/userstream/runledger"
	"github.com/userstream/userstream/transform"
)

// pageSize is the API page size of every pipeline here, the producer's
// default; the expected users are computed with the same pages.
const pageSize = randomuser.MaxResults

// config names a pipeline of the tests' own and what it fetches: the
// flags the tests give examples/fullpipeline, examples/producer and
// examples/consumer.
type config struct {
	Brokers        []string
	CassandraHosts []string
	PostgresDSN    string // USERSTREAM_POSTGRES_DSN of the processes
	Topic          string
	DLQTopic       string
	Partitions     int
	Group          string
	Keyspace       string
	Table          string
	PostgresSchema string
	Offline        bool   // serve the API in-process (-offline) rather than at APIURL
	APIURL         string // -api-url
	Users          int
	Seed           string
	PageSize       int
	Rate           float64 // -rate of the producer; 0: as fast as possible
	Consumers      int     // -consumers of fullpipeline
	Replication    int     // -replication of the processes; 0 means 1
}

func (c config) replication() int { return max(c.Replication, 1) }

// newConfig returns a pipeline of its own on the real servers (topic,
// dead-letter topic, group, keyspace and schema named after the test),
// fetching users users of its own seed from the offline API. Everything it
// creates is removed when the test ends.
func newConfig(t *testing.T, prefix string, users int) config {
	t.Helper()
	name := testenv.Name(t, prefix)
	cfg := config{
		Brokers:        testenv.KafkaBrokers(t),
		CassandraHosts: testenv.CassandraHosts(t),
		PostgresDSN:    testenv.PostgresDSN(t),
		Topic:          name,
		DLQTopic:       name + "_dlq",
		Partitions:     6,
		Group:          name,
		Keyspace:       name,
		Table:          cassandrastore.DefaultTable,
		PostgresSchema: name,
		Offline:        true,
		Users:          users,
		// Not 18 characters long: the API gives those a meaning.
		Seed:      "faults-" + name[len(name)-8:],
		PageSize:  pageSize,
		Consumers: 2,
	}
	t.Cleanup(func() { dropAll(t, cfg) })
	return cfg
}

// dropAll deletes the topics, keyspace and schema of cfg. Failures are
// logged, not fatal: a server killed by a failed scenario may still be
// coming back.
func dropAll(t *testing.T, cfg config) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if cl, err := kgo.NewClient(kgo.SeedBrokers(cfg.Brokers...)); err == nil {
		if _, err := kadm.NewClient(cl).DeleteTopics(ctx, cfg.Topic, cfg.DLQTopic); err != nil {
			t.Logf("cleanup: delete topics: %v", err)
		}
		cl.Close()
	}
	if s, err := cassandrastore.NewSession(ctx, cfg.CassandraHosts); err == nil {
		if err := s.ExecStmt(`DROP KEYSPACE IF EXISTS ` + cfg.Keyspace); err != nil {
			t.Logf("cleanup: drop keyspace: %v", err)
		}
		s.Close()
	} else {
		t.Logf("cleanup: cassandra: %v", err)
	}
	if conn, err := pgx.Connect(ctx, cfg.PostgresDSN); err == nil {
		if _, err := conn.Exec(ctx, `DROP SCHEMA IF EXISTS `+pgx.Identifier{cfg.PostgresSchema}.Sanitize()+` CASCADE`); err != nil {
			t.Logf("cleanup: drop schema: %v", err)
		}
		_ = conn.Close(ctx)
	} else {
		t.Logf("cleanup: postgres: %v", err)
	}
}

// expectedIDs returns the ids of the valid users the API serves for cfg's
// seed and user count, computed independently of the pipeline with an
// in-process offline server and the randomuser client; and, for each k,
// how many of them the first k pages hold (upTo[0] is 0).
func expectedIDs(ctx context.Context, cfg config) (ids map[string]struct{}, upTo []int64, err error) {
	srv, err := randomusertest.NewServer()
	if err != nil {
		return nil, nil, err
	}
	defer srv.Close()
	cl, err := randomuser.New(randomuser.WithBaseURL(srv.BaseURL()))
	if err != nil {
		return nil, nil, err
	}
	ids = make(map[string]struct{}, cfg.Users)
	upTo = []int64{0}
	n := 0
	for u, err := range cl.Users(ctx, randomuser.Query{Results: cfg.PageSize, Seed: cfg.Seed}, cfg.Users) {
		if err != nil {
			return nil, nil, err
		}
		row := transform.FromUser(u)
		if row.Validate() == nil {
			ids[row.ID] = struct{}{}
		}
		if n++; n%cfg.PageSize == 0 || n == cfg.Users {
			upTo = append(upTo, int64(len(ids)))
		}
	}
	return ids, upTo, nil
}

// tableIDs reads the table's row count (cassandrastore's Count) and every
// id it holds, with how often each was seen.
func tableIDs(ctx context.Context, cfg config) (count int64, ids map[string]int, err error) {
	// A full scan right after a node restarted (hints, compactions) on two
	// loaded cores may outlast one request's default 11 s: the read is
	// idempotent, so it gets a longer bound and is tried again on a timeout.
	for attempt := 1; ; attempt++ {
		count, ids, err = scanTable(ctx, cfg)
		if err == nil || attempt == 3 || !(cassandrastore.IsTimeout(err) || cassandrastore.IsRetryable(err)) || ctx.Err() != nil {
			return count, ids, err
		}
	}
}

func scanTable(ctx context.Context, cfg config) (count int64, ids map[string]int, err error) {
	s, err := cassandrastore.NewSession(ctx, cfg.CassandraHosts, cassandrastore.WithRequestTimeout(time.Minute))
	if err != nil {
		return 0, nil, err
	}
	defer s.Close()
	store, err := cassandrastore.New(s, cassandrastore.WithKeyspace(cfg.Keyspace), cassandrastore.WithTable(cfg.Table))
	if err != nil {
		return 0, nil, err
	}
	if count, err = store.Count(ctx); err != nil {
		return 0, nil, err
	}
	ids = make(map[string]int, count)
	for row, err := range store.All(ctx, 5000) {
		if err != nil {
			return 0, nil, err
		}
		ids[row.ID]++
	}
	return count, ids, nil
}

// readTopic returns every record of topic, up to the end offsets at the
// time of the call.
func readTopic(ctx context.Context, brokers []string, topic string) ([]*kgo.Record, error) {
	adm, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		return nil, err
	}
	defer adm.Close()
	ends, err := kadm.NewClient(adm).ListEndOffsets(ctx, topic)
	if err != nil {
		return nil, err
	}
	starts, err := kadm.NewClient(adm).ListStartOffsets(ctx, topic)
	if err != nil {
		return nil, err
	}
	want := map[int32]int64{}
	var left int64
	ends.Each(func(o kadm.ListedOffset) {
		s, _ := starts.Lookup(o.Topic, o.Partition)
		if n := o.Offset - s.Offset; n > 0 {
			want[o.Partition] = o.Offset
			left += n
		}
	})
	if left == 0 {
		return nil, nil
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		// The dead-letter topic may hold records close to 1 MiB.
		kgo.FetchMaxPartitionBytes(4<<20))
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	var out []*kgo.Record
	for left > 0 {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return out, fmt.Errorf("read %s: %d records left: %w", topic, left, err)
		}
		var ferr error
		fs.EachError(func(_ string, _ int32, err error) { ferr = err })
		if ferr != nil {
			return out, fmt.Errorf("read %s: %w", topic, ferr)
		}
		fs.EachRecord(func(r *kgo.Record) {
			if r.Offset < want[r.Partition] {
				out = append(out, r)
				left--
			}
		})
	}
	return out, nil
}

// header returns the value of r's last header named key.
func header(r *kgo.Record, key string) string {
	for i := len(r.Headers) - 1; i >= 0; i-- {
		if r.Headers[i].Key == key {
			return string(r.Headers[i].Value)
		}
	}
	return ""
}

// ledger returns the last runs recorded in cfg's run ledger, newest first.
func ledger(ctx context.Context, cfg config) ([]runledger.Run, error) {
	pool, err := pgxpool.New(ctx, cfg.PostgresDSN)
	if err != nil {
		return nil, err
	}
	defer pool.Close()
	l, err := runledger.New(pool, runledger.WithSchema(cfg.PostgresSchema))
	if err != nil {
		return nil, err
	}
	return l.Recent(ctx, 100)
}

// buildFullpipeline builds examples/fullpipeline into a folder of t's and
// returns the binary's path.
func buildFullpipeline(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "fullpipeline")
	if out, err := exec.Command("go", "build", "-o", bin, "../../examples/fullpipeline").CombinedOutput(); err != nil {
		t.Fatalf("build examples/fullpipeline: %v\n%s", err, out)
	}
	return bin
}

// report is what the tests read of a run in examples/fullpipeline's
// -report JSON.
type report struct {
	runledger.Run
	Verification *struct{ Unique, Found int } // nil when the run was not verified
	TableRows    int64                        // rows in the table after the run
	DeadLetters  int64                        // records in the dead-letter topic
}

// runFull runs bin, examples/fullpipeline, once on cfg as a process of
// its own, with its log at warn level going to logs, and returns the run's
// report, what it printed on standard output, and how it exited (an error
// for a failed run).
func runFull(ctx context.Context, t *testing.T, bin string, cfg config, logs io.Writer) (report, string, error) {
	t.Helper()
	reportFile := filepath.Join(t.TempDir(), "report.json")
	args := []string{"-brokers", strings.Join(cfg.Brokers, ","), "-cassandra-hosts", strings.Join(cfg.CassandraHosts, ","),
		"-topic", cfg.Topic, "-dlq-topic", cfg.DLQTopic, "-partitions", strconv.Itoa(cfg.Partitions), "-group", cfg.Group,
		"-keyspace", cfg.Keyspace, "-table", cfg.Table, "-pg-schema", cfg.PostgresSchema,
		"-users", strconv.Itoa(cfg.Users), "-seed", cfg.Seed, "-page-size", strconv.Itoa(cfg.PageSize),
		"-consumers", strconv.Itoa(cfg.Consumers), "-metrics-addr=", "-progress=false", "-log-level", "warn", "-report", reportFile}
	if cfg.Offline {
		args = append(args, "-offline")
	} else {
		args = append(args, "-api-url", cfg.APIURL)
	}
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(os.Environ(), "USERSTREAM_POSTGRES_DSN="+cfg.PostgresDSN)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, logs
	err := cmd.Run()
	var reports []report
	raw, rerr := os.ReadFile(reportFile)
	if rerr == nil {
		rerr = json.Unmarshal(raw, &reports)
	}
	if rerr == nil && len(reports) != 1 {
		rerr = fmt.Errorf("%d runs reported, want 1", len(reports))
	}
	if rerr != nil {
		return report{}, out.String(), errors.Join(err, fmt.Errorf("report: %w", rerr))
	}
	return reports[0], out.String(), err
}

// tail returns the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
