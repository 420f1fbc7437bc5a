package main

import (
	"bytes"
	"context"
	"flag"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/userstream/userstream/internal/testenv"
	"github.com/userstream/userstream/runledger"
)

// Two scheduled runs of one seed, in one process: the first stages and
// publishes every user, the second finds them all staged already and
// publishes nothing; the ledger, the summary, the topic and /metrics agree.
func TestProducerStagesAndPublishesOnce(t *testing.T) {
	name := testenv.Name(t, "prod")
	cfg := config{
		brokers: testenv.KafkaBrokers(t), postgresDSN: testenv.PostgresDSN(t),
		topic: name, dlqTopic: name + "_dlq", partitions: 3, replication: 1, pgSchema: name,
		offline: true, users: 3000, seed: "prod-" + name[len(name)-8:], pageSize: 1000,
		every: time.Millisecond, runs: 2, metricsAddr: freeAddr(t),
	}
	t.Cleanup(func() { cleanup(cfg) })
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	// kprom's metrics live as long as their client: watch for them while
	// the producer runs.
	watchCtx, stopWatch := context.WithCancel(ctx)
	sawKafka := make(chan bool, 1)
	go func() {
		sawKafka <- watchMetrics(watchCtx, cfg.metricsAddr, "userstream_kafka_producer_write_bytes_total")
	}()
	var out bytes.Buffer
	err := run(ctx, cfg, slog.New(slog.DiscardHandler), &out)
	stopWatch()
	if err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	if !<-sawKafka {
		t.Error("/metrics never showed kprom's producer metrics during the run")
	}
	for _, want := range []string{
		"staged       3,000 new in PostgreSQL, 0 already staged (duplicates)\n  published    3,000 to Kafka topic " + name,
		"staged       0 new in PostgreSQL, 3,000 already staged (duplicates)\n  published    0 to Kafka topic " + name,
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, out.String())
		}
	}

	pool, err := pgxpool.New(ctx, cfg.postgresDSN)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	ledger, err := runledger.New(pool, runledger.WithSchema(cfg.pgSchema))
	if err != nil {
		t.Fatal(err)
	}
	runs, err := ledger.Recent(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != 2 {
		t.Fatalf("ledger holds %d runs, want 2: %+v", len(runs), runs)
	}
	second, first := runs[0], runs[1]
	if first.Kind != "ingest" || first.Status != runledger.StatusSucceeded || first.Fetched != 3000 || first.Staged != 3000 || first.Published != 3000 {
		t.Errorf("first run %+v, want ingest succeeded with 3,000 fetched, staged and published", first)
	}
	if second.Status != runledger.StatusSucceeded || second.Staged != 0 || second.Duplicates != 3000 || second.Published != 0 {
		t.Errorf("second run %+v, want 3,000 duplicates and nothing published", second)
	}

	// The topic holds each user once; the dead-letter topic was created
	// with it, for the consumers.
	cl, err := kgo.NewClient(kgo.SeedBrokers(cfg.brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ends, err := kadm.NewClient(cl).ListEndOffsets(ctx, cfg.topic, cfg.dlqTopic)
	if err != nil || ends.Error() != nil {
		t.Fatalf("end offsets: %v %v", err, ends.Error())
	}
	var records int64
	ends.Each(func(o kadm.ListedOffset) {
		if o.Topic == cfg.topic {
			records += o.Offset
		}
	})
	if _, ok := ends[cfg.dlqTopic]; records != 3000 || !ok {
		t.Errorf("topic holds %d records (want 3,000); dead-letter topic listed: %v", records, ok)
	}

	// /metrics lives as long as ctx.
	metrics := get(t, "http://"+cfg.metricsAddr+"/metrics")
	for _, want := range []string{"userstream_users_fetched_total 6000", "userstream_users_staged_total 3000",
		"userstream_users_duplicate_total 3000", "userstream_users_published_total 3000"} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

// The flags the fault suite (internal/faults) and the Airflow DAG
// (examples/airflow) give the producer keep their names and meanings.
func TestProducerFlags(t *testing.T) {
	fs := flag.NewFlagSet("producer", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	c, err := parseFlags(fs, []string{"-api-url", "http://127.0.0.1:1/api/", "-users", "20000", "-seed", "s", "-page-size", "500",
		"-topic", "t", "-partitions", "3", "-pg-schema", "p", "-rate", "250.0", "-metrics-addr=", "-progress=false", "-log-level", "info"})
	if err != nil {
		t.Fatal(err)
	}
	want := config{apiURL: "http://127.0.0.1:1/api/", users: 20000, seed: "s", pageSize: 500, topic: "t", dlqTopic: "t.dlq",
		partitions: 3, pgSchema: "p", rate: 250, logLevel: "info"}
	if c.apiURL != want.apiURL || c.users != want.users || c.seed != want.seed || c.pageSize != want.pageSize || c.topic != want.topic ||
		c.dlqTopic != want.dlqTopic || c.partitions != want.partitions || c.pgSchema != want.pgSchema || c.rate != want.rate ||
		c.metricsAddr != "" || c.progress || c.logLevel != want.logLevel {
		t.Errorf("parsed %+v", c)
	}
	fs = flag.NewFlagSet("producer", flag.ContinueOnError)
	if c, err = parseFlags(fs, []string{"-topic", "t", "-dlq-topic", "dead", "-every", "24h", "-runs", "3"}); err != nil ||
		c.dlqTopic != "dead" || c.every != 24*time.Hour || c.runs != 3 {
		t.Errorf("parsed %+v, %v", c, err)
	}
}

func cleanup(cfg config) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if cl, err := kgo.NewClient(kgo.SeedBrokers(cfg.brokers...)); err == nil {
		_, _ = kadm.NewClient(cl).DeleteTopics(ctx, cfg.topic, cfg.dlqTopic)
		cl.Close()
	}
	if conn, err := pgx.Connect(ctx, cfg.postgresDSN); err == nil {
		_, _ = conn.Exec(ctx, `DROP SCHEMA IF EXISTS `+pgx.Identifier{cfg.pgSchema}.Sanitize()+` CASCADE`)
		_ = conn.Close(ctx)
	}
}

// freeAddr returns a loopback address with a port free at the time.
func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func get(t *testing.T, url string) string {
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %v", url, resp.StatusCode, err)
	}
	return string(b)
}

// watchMetrics scrapes addr until ctx ends and reports whether a page held
// want.
func watchMetrics(ctx context.Context, addr, want string) bool {
	for {
		select {
		case <-ctx.Done():
			return false
		case <-time.After(50 * time.Millisecond):
		}
		resp, err := http.Get("http://" + addr + "/metrics")
		if err != nil {
			continue
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if strings.Contains(string(b), want) {
			return true
		}
	}
}
