package main

import (
	"bytes"
	"context"
	"flag"
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"slices"
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
	"github.com/userstream/userstream/internal/testrows"
	"github.com/userstream/userstream/kafkasink"
	"github.com/userstream/userstream/runledger"
)

// What the fault suite (internal/faults) reads of a consumer process: the
// address in its "metrics listening" log line and the stored count in its
// summary.
var (
	metricsAddrRE = regexp.MustCompile(`msg="metrics listening" addr=(\S+)`)
	storedRE      = regexp.MustCompile(`stored\s+([\d,]+) rows`)
)

// A process of two static consumers stores every row of the topic once,
// dead-letters the poison among them, joins as id-0 and id-1, and on
// SIGTERM (ctx) prints its summary and records its run.
func TestConsumerStoresTheTopic(t *testing.T) {
	const rows = 3000
	name := testenv.Name(t, "cons")
	cfg := config{
		brokers: testenv.KafkaBrokers(t), cassandraHosts: testenv.CassandraHosts(t), postgresDSN: testenv.PostgresDSN(t),
		topic: name, dlqTopic: name + "_dlq", partitions: 3, group: name, keyspace: name,
		table: cassandrastore.DefaultTable, replication: 1, pgSchema: name,
		consumers: 2, instanceID: "pod-" + name[len(name)-8:], sessionTimeout: defaultSessionTimeout, metricsAddr: "127.0.0.1:0",
	}
	t.Cleanup(func() { cleanup(cfg) })
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	produce(ctx, t, cfg, rows)

	logs := &testenv.Buffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	runCtx, stop := context.WithCancel(ctx)
	var out bytes.Buffer
	done := make(chan error, 1)
	go func() { done <- run(runCtx, cfg, log, &out) }()

	var addr string
	stored := waitFor(ctx, t, "every row stored", func() bool {
		if m := metricsAddrRE.FindStringSubmatch(logs.String()); m != nil {
			addr = m[1]
		}
		return addr != "" && scrape(addr, "userstream_rows_stored_total") >= rows
	})
	if !stored {
		stop()
		t.Fatalf("not stored: %v\n%s\nlogs:\n%s", <-done, out.String(), logs.String())
	}
	if dl := scrape(addr, "userstream_records_dead_lettered_total"); dl != 1 {
		t.Errorf("/metrics: %d records dead-lettered, want the 1 poison record", dl)
	}
	members := groupInstanceIDs(ctx, t, cfg)
	if want := []string{cfg.instanceID + "-0", cfg.instanceID + "-1"}; !slices.Equal(members, want) {
		t.Errorf("group members' instance ids %q, want %q", members, want)
	}
	stop()
	if err := <-done; err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}

	if m := storedRE.FindStringSubmatch(out.String()); m == nil || strings.ReplaceAll(m[1], ",", "") != strconv.Itoa(rows) {
		t.Errorf("summary: %q, want %d rows stored", out.String(), rows)
	}
	if !strings.Contains(out.String(), "dead-letter  1 records this run") {
		t.Errorf("summary does not count the poison record:\n%s", out.String())
	}
	if n := tableRows(ctx, t, cfg); n != rows {
		t.Errorf("the table holds %d rows, want %d", n, rows)
	}
	r := lastRun(ctx, t, cfg)
	if r.Kind != "consume" || r.Status != runledger.StatusSucceeded || r.Stored != rows || r.DeadLettered != 1 || r.EndedAt == nil {
		t.Errorf("ledger row %+v, want a finished consume run with %d stored and 1 dead-lettered", r, rows)
	}
}

// The flags the fault suite gives the consumer keep their names and
// meanings; the static member id comes from the environment by default.
func TestConsumerFlags(t *testing.T) {
	t.Setenv(envInstanceID, "pod-9")
	parse := func(args ...string) config {
		fs := flag.NewFlagSet("consumer", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		c, err := parseFlags(fs, args)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	if c := parse(); c.instanceID != "pod-9" || c.sessionTimeout != 6*time.Second || c.dlqTopic != "users_created.dlq" || c.consumers != 1 {
		t.Errorf("defaults %+v", c)
	}
	c := parse("-topic", "t", "-dlq-topic", "d", "-partitions", "3", "-group", "g", "-keyspace", "k", "-pg-schema", "p",
		"-consumers", "2", "-instance-id", "x", "-session-timeout", "10s", "-metrics-addr", "127.0.0.1:0", "-progress=false", "-log-level", "info")
	if c.topic != "t" || c.dlqTopic != "d" || c.partitions != 3 || c.group != "g" || c.keyspace != "k" || c.pgSchema != "p" ||
		c.consumers != 2 || c.instanceID != "x" || c.sessionTimeout != 10*time.Second || c.metricsAddr != "127.0.0.1:0" || c.progress || c.logLevel != "info" {
		t.Errorf("parsed %+v", c)
	}
	if got := []string{instanceID("x", 2, 0), instanceID("x", 2, 1), instanceID("x", 1, 0), instanceID("", 2, 1)}; !slices.Equal(got, []string{"x-0", "x-1", "x", ""}) {
		t.Errorf("instance ids %q", got)
	}
}

// produce writes n valid rows and one poison record to the topic, creating
// both topics.
func produce(ctx context.Context, t *testing.T, cfg config, n int) {
	t.Helper()
	p, err := kafkasink.NewProducer(cfg.brokers, kafkasink.WithTopic(cfg.topic))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	for _, spec := range []kafkasink.TopicSpec{{Name: cfg.topic, Partitions: 3, ReplicationFactor: 1}, {Name: cfg.dlqTopic, Partitions: 1, ReplicationFactor: 1}} {
		if _, err := kafkasink.EnsureTopic(ctx, p.Client(), spec); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := p.ProduceSync(ctx, testrows.Rows(n)...); err != nil {
		t.Fatal(err)
	}
	poison := &kgo.Record{Topic: cfg.topic, Key: []byte("poison"), Value: []byte("<html>502 Bad Gateway</html>")}
	if err := p.Client().ProduceSync(ctx, poison).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

func waitFor(ctx context.Context, t *testing.T, what string, cond func() bool) bool {
	t.Helper()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Errorf("waiting for %s: %v", what, ctx.Err())
			return false
		case <-time.After(100 * time.Millisecond):
		}
	}
	return true
}

// scrape returns the value of a metric on addr's /metrics, -1 if absent.
func scrape(addr, metric string) int64 {
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, metric+" "); ok {
			f, _ := strconv.ParseFloat(v, 64)
			return int64(f)
		}
	}
	return -1
}

func groupInstanceIDs(ctx context.Context, t *testing.T, cfg config) []string {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(cfg.brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	groups, err := kadm.NewClient(cl).DescribeGroups(ctx, cfg.group)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, m := range groups[cfg.group].Members {
		if m.InstanceID != nil {
			ids = append(ids, *m.InstanceID)
		}
	}
	slices.Sort(ids)
	return ids
}

func tableRows(ctx context.Context, t *testing.T, cfg config) int64 {
	t.Helper()
	s, err := cassandrastore.NewSession(ctx, cfg.cassandraHosts)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	store, err := cassandrastore.New(s, cassandrastore.WithKeyspace(cfg.keyspace))
	if err != nil {
		t.Fatal(err)
	}
	n, err := store.Count(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func lastRun(ctx context.Context, t *testing.T, cfg config) runledger.Run {
	t.Helper()
	pool, err := pgxpool.New(ctx, cfg.postgresDSN)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	l, err := runledger.New(pool, runledger.WithSchema(cfg.pgSchema))
	if err != nil {
		t.Fatal(err)
	}
	runs, err := l.Recent(ctx, 1)
	if err != nil || len(runs) != 1 {
		t.Fatalf("ledger: %v, %d runs", err, len(runs))
	}
	return runs[0]
}

func cleanup(cfg config) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if cl, err := kgo.NewClient(kgo.SeedBrokers(cfg.brokers...)); err == nil {
		adm := kadm.NewClient(cl)
		_, _ = adm.DeleteTopics(ctx, cfg.topic, cfg.dlqTopic)
		_, _ = adm.DeleteGroups(ctx, cfg.group)
		cl.Close()
	}
	if s, err := cassandrastore.NewSession(ctx, cfg.cassandraHosts); err == nil {
		_ = s.ExecStmt(`DROP KEYSPACE IF EXISTS ` + cfg.keyspace)
		s.Close()
	}
	if conn, err := pgx.Connect(ctx, cfg.postgresDSN); err == nil {
		_, _ = conn.Exec(ctx, `DROP SCHEMA IF EXISTS `+pgx.Identifier{cfg.pgSchema}.Sanitize()+` CASCADE`)
		_ = conn.Close(ctx)
	}
}
