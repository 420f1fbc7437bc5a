package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/scylladb/gocqlx/v2"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/userstream/userstream/cassandrastore"
	"github.com/userstream/userstream/kafkasink"
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

// TestAdopter runs the program against the servers that USERSTREAM_* name
// (the plain listeners under `make test-adopter`), twice with the same seed,
// and checks every user fetched is in Cassandra and nothing is pending.
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

// runAndVerify runs the program in its own topic, consumer group, keyspace
// and schema, against an offline Random User API, then checks the outcome
// with clients of its own, configured from the same environment; a second
// run with the same seed must stage and store nothing new. It removes what
// the runs created.
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
	// The other way secure documents for Cassandra, so that the check does
	// not share the program's code path: cassandrastore's own session, given
	// the login and TLS through its options.
	var sessionOpts []cassandrastore.SessionOpt
	if c := sec.Cassandra; c.Username != "" {
		sessionOpts = append(sessionOpts, cassandrastore.WithAuth(c.Username, c.Password.Reveal()))
	}
	tlsCfg, err := sec.Cassandra.TLS.Config()
	if err != nil {
		t.Fatal(err)
	}
	if tlsCfg != nil {
		sessionOpts = append(sessionOpts, cassandrastore.WithTLS(tlsCfg))
	}
	session, err := cassandrastore.NewSession(ctx, hosts, sessionOpts...)
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
		resps, err := adm.DeleteTopics(cctx, name, name+kafkasink.DLQSuffix)
		if err == nil {
			err = resps.Error()
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
	args := []string{"-api", api.BaseURL(), "-users", strconv.Itoa(users), "-seed", name,
		"-topic", name, "-group", name, "-keyspace", name, "-schema", name}

	// The users the program must have stored: the same seed, fetched again.
	client, err := randomuser.New(randomuser.WithBaseURL(api.BaseURL()))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{}
	for u, err := range client.Users(ctx, randomuser.Query{Seed: name}, users) {
		if err != nil {
			t.Fatal(err)
		}
		want[transform.FromUser(u).ID] = true
	}
	if len(want) != users {
		t.Fatalf("the API gave %d distinct users, want %d", len(want), users)
	}

	summary := runOnce(t, args)
	checkCount(t, summary, "fetched", users)
	checkCount(t, summary, "staged", users)
	checkCount(t, summary, "dead-lettered", 0)
	if stored := count(t, summary, "stored"); stored < users {
		t.Errorf("the summary says %d stored, want at least %d", stored, users)
	}
	verify(t, session, pool, name, want)

	// Again: the same users, all already staged, so nothing is published
	// and Cassandra holds the same rows.
	summary = runOnce(t, args)
	checkCount(t, summary, "fetched", users)
	checkCount(t, summary, "staged", 0)
	checkCount(t, summary, "published", 0)
	checkCount(t, summary, "stored", 0)
	verify(t, session, pool, name, want)
}

// runOnce runs the program and returns its summary.
func runOnce(t *testing.T, args []string) string {
	t.Helper()
	var out bytes.Buffer
	if err := run(t.Context(), args, &out); err != nil {
		t.Fatalf("run %v: %v\n%s", args, err, &out)
	}
	t.Logf("summary: %s", &out)
	return out.String()
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
