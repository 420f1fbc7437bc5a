package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/scylladb/gocqlx/v2"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/userstream/userstream/cassandrastore"
	"github.com/userstream/userstream/kafkasink"
	"github.com/userstream/userstream/kafkasink/dlq"
	"github.com/userstream/userstream/kafkasink/outbox"
	"github.com/userstream/userstream/randomuser"
	"github.com/userstream/userstream/randomuser/randomusertest"
	"github.com/userstream/userstream/secure"
	"github.com/userstream/userstream/transform"
)

// The servers the program reads, and the variable that makes a missing one
// a failure rather than a skip (make test sets it).
const (
	kafkaBrokersEnv   = "USERSTREAM_KAFKA_BROKERS"
	cassandraHostsEnv = "USERSTREAM_CASSANDRA_HOSTS"
	postgresDSNEnv    = "USERSTREAM_POSTGRES_DSN"
	requireEnv        = "USERSTREAM_REQUIRE_INTEGRATION"
)

// howToRun says where the variables come from.
const howToRun = "run the test through internal/devstack/devstack run, which sets them; " +
	"the secured Cassandra node's only with USERSTREAM_STACK_SECURE=1, as make test-secure does"

// users is how many users each run fetches: several pages of the outbox and
// batches of the consumer, across the topic's three partitions.
const users = 2000

// TestAdopter runs the program's commands against the servers that
// USERSTREAM_* name (the plain listeners under `make test-adopter`): ingest
// and store twice with the same seed, checking every user fetched is in
// Cassandra and nothing is pending; then store as a service while a poison
// record and more users arrive, checking its /metrics and status page; then
// deadletters list and redrive.
func TestAdopter(t *testing.T) {
	for _, name := range []string{kafkaBrokersEnv, cassandraHostsEnv, postgresDSNEnv} {
		lookup(t, name)
	}
	runAndVerify(t, "plain")
}

// lookup returns the variable's value, or fails the test when it is unset
// and USERSTREAM_REQUIRE_INTEGRATION=1, or skips it otherwise.
func lookup(t *testing.T, name string) string {
	t.Helper()
	if v := strings.TrimSpace(os.Getenv(name)); v != "" {
		return v
	}
	if os.Getenv(requireEnv) == "1" {
		t.Fatalf("%s is not set and %s=1: %s", name, requireEnv, howToRun)
	}
	t.Skipf("integration test skipped: %s is not set (%s)", name, howToRun)
	return ""
}

// runAndVerify runs the program's commands in their own topic, consumer
// group, keyspace and schema, against an offline Random User API, and checks
// the outcome with clients of its own, configured from the same
// environment. It removes what the runs created.
func runAndVerify(t *testing.T, label string) {
	ctx := t.Context()
	sec, err := secure.FromEnv()
	if err != nil {
		t.Fatal(err)
	}
	brokers, hosts, dsn := strings.Split(os.Getenv(kafkaBrokersEnv), ","), strings.Split(os.Getenv(cassandraHostsEnv), ","), os.Getenv(postgresDSNEnv)
	name := uniqueName(t, label)

	kafkaOpts, err := sec.Kafka.Opts()
	if err != nil {
		t.Fatal(err)
	}
	kcl, err := kgo.NewClient(append(kafkaOpts, kgo.SeedBrokers(brokers...))...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(kcl.Close)
	pgCfg, err := sec.Postgres.PoolConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	pool, err := pgxpool.NewWithConfig(ctx, pgCfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	// cassandrastore's session, secured the one way secure documents,
	// without connect, so that the check does not share the program's
	// code path.
	session, err := cassandrastore.NewSession(ctx, hosts, cassandrastore.WithClusterConfig(sec.Cassandra.Apply))
	if err != nil {
		t.Fatal(sec.Cassandra.Explain(ctx, hosts, err))
	}
	t.Cleanup(session.Close)

	// Registered before the runs, so that a failed run is cleaned up too.
	// t.Context is done by the time cleanups run: they get their own.
	t.Cleanup(func() {
		cctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		adm := kadm.NewClient(kcl)
		dlqTopic := name + kafkasink.DLQSuffix
		resps, err := adm.DeleteTopics(cctx, name, dlqTopic, dlqTopic+dlq.RedriveLogSuffix)
		if err == nil {
			for _, r := range resps {
				if r.Err != nil && !errors.Is(r.Err, kerr.UnknownTopicOrPartition) {
					err = errors.Join(err, fmt.Errorf("%s: %w", r.Topic, r.Err))
				}
			}
		}
		if err != nil {
			t.Errorf("cleanup: delete topics: %v", err)
		}
		if _, err := adm.DeleteGroup(cctx, name); err != nil {
			t.Logf("cleanup: delete group %s: %v", name, err)
		}
		if err := session.ExecStmt("DROP KEYSPACE IF EXISTS " + name); err != nil {
			t.Errorf("cleanup: drop keyspace: %v", err)
		}
		if _, err := pool.Exec(cctx, "DROP SCHEMA IF EXISTS "+name+" CASCADE"); err != nil {
			t.Errorf("cleanup: drop schema: %v", err)
		}
	})

	api, err := randomusertest.NewServer()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(api.Close)
	ingestArgs := func(seed string, n int) []string {
		return []string{"ingest", "-api", api.BaseURL(), "-users", strconv.Itoa(n), "-seed", seed, "-topic", name, "-schema", name}
	}
	consume := []string{"-topic", name, "-group", name, "-keyspace", name}
	storeArgs := append([]string{"store", "-until-end", "-addr", ""}, consume...)

	// The users the program must have stored: the same seed, fetched again.
	want := map[string]bool{}
	fetchIDs(t, api.BaseURL(), name, users, want)

	summary := runOnce(t, ingestArgs(name, users))
	checkCount(t, summary, "fetched", users)
	checkCount(t, summary, "staged", users)
	checkCount(t, summary, "published", users)
	summary = runOnce(t, storeArgs)
	checkCount(t, summary, "dead-lettered", 0)
	if stored := count(t, summary, "stored"); stored < users {
		t.Errorf("the summary says %d stored, want at least %d", stored, users)
	}
	verify(t, session, pool, name, want)

	// Again: the same users, all already staged, so nothing is published
	// and Cassandra holds the same rows.
	summary = runOnce(t, ingestArgs(name, users))
	checkCount(t, summary, "fetched", users)
	checkCount(t, summary, "staged", 0)
	checkCount(t, summary, "published", 0)
	summary = runOnce(t, storeArgs)
	checkCount(t, summary, "stored", 0)
	checkCount(t, summary, "dead-lettered", 0)
	verify(t, session, pool, name, want)

	// The store as a service: a poison record (not JSON) and new users
	// arrive while it runs; its /metrics, on its own mux, must count them.
	const more = 300
	if err := kcl.ProduceSync(ctx, &kgo.Record{Topic: name, Key: []byte("poison"), Value: []byte("{not json")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	service := startService(t, append([]string{"store", "-addr", "127.0.0.1:0"}, consume...))
	runOnce(t, ingestArgs(name+"_more", more))
	fetchIDs(t, api.BaseURL(), name+"_more", more, want)
	// Rows stored (cassandrastore), dead letters and fetch→stored
	// latencies (kafkasink's consumer) count exactly what arrived; the lag
	// of each of the three partitions, refreshed by the consumer after its
	// commits, comes down to 0.
	service.waitMetrics(t, map[string]float64{
		"userstream_rows_stored_total":            more,
		"userstream_records_dead_lettered_total":  1,
		"userstream_fetch_to_store_seconds_count": more,
		lagSeries(name, "0"):                      0,
		lagSeries(name, "1"):                      0,
		lagSeries(name, "2"):                      0,
		"userstream_store_errors_total":           0,
		"userstream_handler_errors_total":         0,
	})
	if page := service.get(t, "/"); !strings.Contains(page, "<html") {
		t.Errorf("the status page at / is not HTML: %.200q", page)
	}
	summary = service.stop(t)
	checkCount(t, summary, "stored", more)
	checkCount(t, summary, "dead-lettered", 1)
	verify(t, session, pool, name, want)

	// The dead letter: listed, by its reason and not by another; redriven
	// once, back to the topic, where the store reads it again (and, as it
	// is still poison, dead-letters it again, with its redrive count).
	listArgs := []string{"deadletters", "list", "-topic", name}
	summary = runOnce(t, listArgs)
	checkLine(t, summary, "redrive count 0 redriven false: ")
	checkLine(t, summary, "1 dead letters listed")
	checkLine(t, summary, "reason "+kafkasink.ReasonDecode+" from "+name+"/")
	checkLine(t, runOnce(t, append(listArgs, "-reason", kafkasink.ReasonValidate)), "0 dead letters listed")
	checkLine(t, runOnce(t, append(listArgs, "-reason", kafkasink.ReasonDecode)), "1 dead letters listed")
	var out bytes.Buffer
	if err := run(ctx, []string{"deadletters", "redrive", "-topic", name}, &out); !errors.Is(err, dlq.ErrNoSelection) {
		t.Errorf("redrive without a selection: %v, want dlq.ErrNoSelection", err)
	}
	redrive := []string{"deadletters", "redrive", "-topic", name, "-reason", kafkasink.ReasonDecode}
	checkLine(t, runOnce(t, redrive), "redrove 1 of 1 letters selected to "+name+", skipped 0")
	summary = runOnce(t, storeArgs)
	checkCount(t, summary, "stored", 0)
	checkCount(t, summary, "dead-lettered", 1)
	summary = runOnce(t, listArgs)
	checkLine(t, summary, "2 dead letters listed")
	checkLine(t, summary, "redrive count 1 redriven false: ")
	checkLine(t, summary, "redrive count 0 redriven true: ")
	verify(t, session, pool, name, want)
}

// fetchIDs adds the ids of the n users of seed to ids.
func fetchIDs(t *testing.T, baseURL, seed string, n int, ids map[string]bool) {
	t.Helper()
	client, err := randomuser.New(randomuser.WithBaseURL(baseURL))
	if err != nil {
		t.Fatal(err)
	}
	before := len(ids)
	for u, err := range client.Users(t.Context(), randomuser.Query{Seed: seed}, n) {
		if err != nil {
			t.Fatal(err)
		}
		ids[transform.FromUser(u).ID] = true
	}
	if len(ids)-before != n {
		t.Fatalf("the API gave %d new distinct users of seed %s, want %d", len(ids)-before, seed, n)
	}
}

// service is the store command running as a service.
type service struct {
	base   string // http://host:port
	cancel context.CancelFunc
	done   chan error
	lines  chan string
}

// startService runs the program with args until stop, and waits for the
// line saying where it serves.
func startService(t *testing.T, args []string) *service {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	pr, pw := io.Pipe()
	s := &service{cancel: cancel, done: make(chan error, 1), lines: make(chan string, 16)}
	go func() {
		err := run(ctx, args, pw)
		pw.Close()
		s.done <- err
	}()
	go func() {
		defer close(s.lines)
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			s.lines <- sc.Text()
		}
	}()
	t.Cleanup(func() { s.cancel(); <-s.done })
	line, ok := <-s.lines
	if !ok {
		cancel()
		t.Fatalf("run %v: %v", args, <-s.done)
	}
	m := regexp.MustCompile(`on (http://[^/]+)/metrics`).FindStringSubmatch(line)
	if m == nil {
		t.Fatalf("run %v printed %q, want where it serves", args, line)
	}
	s.base = m[1]
	return s
}

// get returns the body at path, failing the test unless it is 200 OK.
func (s *service) get(t *testing.T, path string) string {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, s.base+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s %v", path, resp.Status, err)
	}
	return string(body)
}

// waitMetrics scrapes /metrics until each series has its value, and fails
// when a counter (a _total or _count series) goes past it, or the service
// stops. Counters only grow, so a counter's value, once reached, stays; a
// gauge's wanted value must be where it settles.
// lagSeries is the lag gauge's series of the group and topic name (the
// test names both alike) and the partition, as /metrics writes it.
func lagSeries(name, partition string) string {
	return fmt.Sprintf(`userstream_consumer_lag{group=%q,partition=%q,topic=%q}`, name, partition, name)
}

func (s *service) waitMetrics(t *testing.T, want map[string]float64) {
	t.Helper()
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		metrics, reached := s.get(t, "/metrics"), 0
		for name, v := range want {
			m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + ` (\S+)$`).FindStringSubmatch(metrics)
			if m == nil {
				continue
			}
			got, err := strconv.ParseFloat(m[1], 64)
			if err != nil {
				t.Fatal(err)
			}
			if got > v && (strings.HasSuffix(name, "_total") || strings.HasSuffix(name, "_count")) {
				t.Fatalf("/metrics says %s %v, want %v", name, got, v)
			}
			if got == v {
				reached++
			}
		}
		if reached == len(want) {
			return
		}
		select {
		case err := <-s.done:
			s.done <- err
			t.Fatalf("the service stopped before /metrics said %v: %v", want, err)
		case <-t.Context().Done():
			t.Fatalf("/metrics never said %v:\n%s", want, metrics)
		case <-tick.C:
		}
	}
}

// stop stops the service as SIGTERM does and returns its summary.
func (s *service) stop(t *testing.T) string {
	t.Helper()
	s.cancel()
	var lines []string
	for line := range s.lines {
		lines = append(lines, line)
	}
	err := <-s.done
	s.done <- err
	if err != nil {
		t.Fatalf("the service: %v", err)
	}
	summary := strings.Join(lines, "\n")
	t.Logf("summary: %s", summary)
	return summary
}

func checkLine(t *testing.T, out, want string) {
	t.Helper()
	if !strings.Contains(out, want) {
		t.Errorf("the output has no %q: %q", want, out)
	}
}

// verify checks that the keyspace's table holds exactly the ids of want and
// that the outbox has nothing pending and every user published.
func verify(t *testing.T, session gocqlx.Session, pool *pgxpool.Pool, name string, want map[string]bool) {
	t.Helper()
	ctx := t.Context()
	store, err := cassandrastore.New(session, cassandrastore.WithKeyspace(name))
	if err != nil {
		t.Fatal(err)
	}
	got := 0
	for row, err := range store.All(ctx, 0) {
		if err != nil {
			t.Fatal(err)
		}
		got++
		if !want[row.ID] {
			t.Errorf("Cassandra has id %s, which was not fetched", row.ID)
		}
	}
	if got != len(want) {
		t.Errorf("Cassandra %s.%s has %d rows, want the %d users fetched", name, store.Table(), got, len(want))
	}
	box, err := outbox.NewStore(pool, outbox.WithSchema(name))
	if err != nil {
		t.Fatal(err)
	}
	counts, err := box.Counts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if counts.Pending != 0 || counts.Published != int64(len(want)) {
		t.Errorf("outbox: %d pending and %d published, want 0 and %d", counts.Pending, counts.Published, len(want))
	}
}

// count returns the number that follows word in the summary.
func count(t *testing.T, summary, word string) int {
	t.Helper()
	m := regexp.MustCompile(`\b` + regexp.QuoteMeta(word) + ` (\d+)`).FindStringSubmatch(summary)
	if m == nil {
		t.Fatalf("the summary has no %q count: %q", word, summary)
	}
	n, err := strconv.Atoi(m[1])
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func checkCount(t *testing.T, summary, word string, want int) {
	t.Helper()
	if got := count(t, summary, word); got != want {
		t.Errorf("the summary says %s %d, want %d: %q", word, got, want, summary)
	}
}

// uniqueName is a name of this run for a topic, a group, a keyspace (at most
// 48 characters), a schema and the API seed (never 18 characters long,
// which the API reserves).
func uniqueName(t *testing.T, label string) string {
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("t_adopter_%s_%s", label, hex.EncodeToString(b[:]))
}

// runOnce runs the program and returns what it printed.
func runOnce(t *testing.T, args []string) string {
	t.Helper()
	var out bytes.Buffer
	if err := run(t.Context(), args, &out); err != nil {
		t.Fatalf("run %v: %v\n%s", args, err, &out)
	}
	t.Logf("adopter %s: %s", strings.Join(args[:1], " "), &out)
	return out.String()
}
