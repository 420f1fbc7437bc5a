package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/userstream/userstream/cassandrastore"
	"github.com/userstream/userstream/internal/testenv"
	"github.com/userstream/userstream/internal/testrows"
	"github.com/userstream/userstream/kafkasink"
	"github.com/userstream/userstream/transform"
)

// Issue 18's hand-made records, sent to a fresh topic while Cassandra
// refuses every write (a keyspace replicated three times on one node): the
// metrics the console and the alert rules read must move. The lag stays
// up and store errors count while writes fail; once the keyspace is fixed,
// every record is either stored or dead-lettered, /metrics counts exactly
// the rows in Cassandra and the records in the dead-letter topic, and the
// lag goes back to zero.
func TestConsumerMetricsMove(t *testing.T) {
	name := testenv.Name(t, "consm")
	cfg := config{
		brokers: testenv.KafkaBrokers(t), cassandraHosts: testenv.CassandraHosts(t), postgresDSN: testenv.PostgresDSN(t),
		topic: name, dlqTopic: name + "_dlq", partitions: 3, group: name, keyspace: name,
		table: cassandrastore.DefaultTable, replication: 1, pgSchema: name,
		consumers: 1, sessionTimeout: defaultSessionTimeout, metricsAddr: freeAddr(t),
	}
	t.Cleanup(func() { cleanup(cfg) })
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	session, err := cassandrastore.NewSession(ctx, cfg.cassandraHosts)
	if err != nil {
		t.Fatal(err)
	}
	defer session.Close()
	if err := session.ExecStmt(`CREATE KEYSPACE ` + cfg.keyspace + ` WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 3}`); err != nil {
		t.Fatal(err)
	}
	valid, poison := handMadeRecords(t, cfg.topic)
	cl, err := kgo.NewClient(kgo.SeedBrokers(cfg.brokers...), kgo.ProducerBatchMaxBytes(2<<20))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	for _, spec := range []kafkasink.TopicSpec{{Name: cfg.topic, Partitions: 3, ReplicationFactor: 1}, {Name: cfg.dlqTopic, Partitions: 1, ReplicationFactor: 1}} {
		if _, err := kafkasink.EnsureTopic(ctx, cl, spec); err != nil {
			t.Fatal(err)
		}
	}
	if err := cl.ProduceSync(ctx, append(valid, poison...)...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	total := int64(len(valid) + len(poison))

	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	var out bytes.Buffer
	done := make(chan error, 1)
	go func() { done <- run(runCtx, cfg, slog.New(slog.DiscardHandler), &out) }()
	metrics := func() map[string]float64 { return scrapeAll(cfg.metricsAddr) }

	var m map[string]float64
	waitFor(ctx, t, "store errors and lag while Cassandra refuses writes", func() bool {
		m = metrics()
		return m["userstream_store_errors_total"] > 0 && m["userstream_consumer_lag"] > 0
	})
	if m["userstream_rows_stored_total"] != 0 {
		t.Errorf("userstream_rows_stored_total %v while every write fails, want 0", m["userstream_rows_stored_total"])
	}
	if err := session.ExecStmt(`ALTER KEYSPACE ` + cfg.keyspace + ` WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}`); err != nil {
		t.Fatal(err)
	}
	if !waitFor(ctx, t, "every record stored or dead-lettered, no lag", func() bool {
		m = metrics()
		return int64(m["userstream_rows_stored_total"]+m["userstream_records_dead_lettered_total"]) == total && m["userstream_consumer_lag"] == 0
	}) {
		t.Fatalf("metrics %v", m)
	}
	stored, dlq := tableRows(ctx, t, cfg), dlqRecords(ctx, t, cfg)
	if int64(m["userstream_rows_stored_total"]) != stored || int64(m["userstream_records_dead_lettered_total"]) != int64(len(dlq)) {
		t.Errorf("/metrics: %v stored, %v dead-lettered; Cassandra holds %d rows, the dead-letter topic %d records",
			m["userstream_rows_stored_total"], m["userstream_records_dead_lettered_total"], stored, len(dlq))
	}
	if stored < int64(len(valid)) || len(dlq) < 5 {
		t.Errorf("%d stored, %d dead-lettered: want the %d valid rows stored and the 5 records that cannot be rows dead-lettered", stored, len(dlq), len(valid))
	}
	reasons := map[string]string{}
	for _, r := range dlq {
		for _, h := range r.Headers {
			if h.Key == kafkasink.HeaderDLQReason {
				reasons[string(r.Key)] = string(h.Value)
			}
		}
	}
	for key, want := range map[string]string{"text": kafkasink.ReasonDecode, "array": kafkasink.ReasonDecode,
		"binary": kafkasink.ReasonDecode, "bad-email": kafkasink.ReasonValidate, "huge-name": kafkasink.ReasonValidate} {
		if reasons[key] != want {
			t.Errorf("record %q dead-lettered with reason %q, want %q", key, reasons[key], want)
		}
	}
	t.Logf("%d records: %d rows stored, %d dead-lettered (by key: %v)", total, stored, len(dlq), reasons)
	stop()
	if err := <-done; err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
}

// handMadeRecords are issue 18's records: valid rows, and records keyed by
// what is wrong with them.
func handMadeRecords(t *testing.T, topic string) (valid, others []*kgo.Record) {
	t.Helper()
	for _, row := range testrows.Rows(2) {
		rec, err := kafkasink.NewRecord(topic, row)
		if err != nil {
			t.Fatal(err)
		}
		valid = append(valid, rec)
	}
	variant := func(change func(map[string]any)) []byte {
		b, err := transform.Marshal(testrows.Row(7))
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		change(m)
		if b, err = json.Marshal(m); err != nil {
			t.Fatal(err)
		}
		return b
	}
	for key, value := range map[string][]byte{
		"text":        []byte("<html>502 Bad Gateway</html>"),
		"array":       []byte(`["not", "a", "row"]`),
		"binary":      {0xff, 0xfe, 0x00, 0x13, 0x37, 0x80},
		"bad-email":   variant(func(m map[string]any) { m["email"] = "not an email" }),
		"huge-name":   variant(func(m map[string]any) { m["first_name"] = strings.Repeat("n", 900<<10) }),
		"extra-field": variant(func(m map[string]any) { m["nickname"] = "ada" }),
		"upper-id":    variant(func(m map[string]any) { m["id"] = strings.ToUpper(m["id"].(string)) }),
	} {
		others = append(others, &kgo.Record{Topic: topic, Key: []byte(key), Value: value})
	}
	return valid, others
}

// scrapeAll returns the unlabelled metrics of addr's /metrics, and each
// labelled one's sum under its bare name.
func scrapeAll(addr string) map[string]float64 {
	out := map[string]float64{}
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		return out
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(b), "\n") {
		name, value, ok := strings.Cut(line, " ")
		if !ok || strings.HasPrefix(line, "#") {
			continue
		}
		name, _, _ = strings.Cut(name, "{")
		if f, err := strconv.ParseFloat(value, 64); err == nil {
			out[name] += f
		}
	}
	return out
}

// dlqRecords reads the whole dead-letter topic.
func dlqRecords(ctx context.Context, t *testing.T, cfg config) []*kgo.Record {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(cfg.brokers...), kgo.ConsumeTopics(cfg.dlqTopic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(200*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var out []*kgo.Record
	want := dlqEnd(ctx, t, cl, cfg.dlqTopic)
	for int64(len(out)) < want {
		fs := cl.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			t.Fatal(err)
		}
		out = append(out, fs.Records()...)
	}
	return out
}

// dlqEnd is the number of records in topic.
func dlqEnd(ctx context.Context, t *testing.T, cl *kgo.Client, topic string) int64 {
	t.Helper()
	adm := kadm.NewClient(cl)
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		t.Fatal(err)
	}
	starts, err := adm.ListStartOffsets(ctx, topic)
	if err == nil {
		err = starts.Error()
	}
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	ends.Each(func(o kadm.ListedOffset) {
		s, _ := starts.Lookup(o.Topic, o.Partition)
		n += o.Offset - s.Offset
	})
	return n
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
