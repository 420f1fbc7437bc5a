package main

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/userstream/userstream/cassandrastore"
	"github.com/userstream/userstream/internal/testenv"
	"github.com/userstream/userstream/internal/testrows"
	"github.com/userstream/userstream/kafkasink"
	"github.com/userstream/userstream/runledger"
	"github.com/userstream/userstream/secure"
)

// gathered returns the sum of the metric's values in reg, and whether reg
// has it.
func gathered(t *testing.T, reg *prometheus.Registry, name string) (float64, bool) {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		var sum float64
		for _, m := range mf.GetMetric() {
			sum += m.GetGauge().GetValue() + m.GetCounter().GetValue()
		}
		return sum, true
	}
	return 0, false
}

// userstream_consumer_lag, which the alert UserstreamConsumerLagGrowing
// (examples/prometheus) reads, is the consumers' own: the pipeline the
// command wires counts every record of the topic before the group commits
// (what its progress line shows, Consumer.Lag), and its consumers set the
// gauge on the command's registry to 0 once they have stored everything.
func TestLagGaugeFollowsTheGroup(t *testing.T) {
	name := testenv.Name(t, "lag")
	cfg := config{
		brokers: testenv.KafkaBrokers(t), cassandraHosts: testenv.CassandraHosts(t), postgresDSN: testenv.PostgresDSN(t),
		topic: name, dlqTopic: name + "_dlq", partitions: 2, group: name, keyspace: name,
		table: cassandrastore.DefaultTable, replication: 1, pgSchema: name, consumers: 1, sessionTimeout: defaultSessionTimeout,
	}
	t.Cleanup(func() { cleanup(cfg) })
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	reg := prometheus.NewRegistry()
	p, err := open(ctx, cfg, slog.New(slog.DiscardHandler), reg)
	if err != nil {
		t.Fatal(err)
	}
	defer p.close()
	cl, err := kgo.NewClient(kgo.SeedBrokers(cfg.brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var recs []*kgo.Record
	for i := range 7 {
		rec, err := kafkasink.NewRecord(name, testrows.Row(i))
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, rec)
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}

	// The group as it is before its first batch is stored: committed at
	// the start of each partition.
	adm := kadm.NewClient(cl)
	offsets := kadm.Offsets{}
	for part := range int32(cfg.partitions) {
		offsets.Add(kadm.Offset{Topic: name, Partition: part, At: 0, LeaderEpoch: -1})
	}
	if resp, err := adm.CommitOffsets(ctx, name, offsets); err != nil || resp.Error() != nil {
		t.Fatalf("commit: %v %v", err, resp.Error())
	}
	if lag, err := p.consumers[0].Lag(ctx); err != nil || lag != 7 {
		t.Errorf("lag before the group stored anything: %d, %v; want the 7 records", lag, err)
	}

	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- p.consume(runCtx) }()
	waitFor(ctx, t, "the 7 rows stored and the lag gauge at 0", func() bool {
		v, ok := gathered(t, reg, "userstream_consumer_lag")
		return p.counted(runledger.Run{}).Stored == 7 && ok && v == 0
	})
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if v, ok := gathered(t, reg, "userstream_rows_stored_total"); !ok || v != 7 {
		t.Errorf("userstream_rows_stored_total %v (served: %v), want 7", v, ok)
	}
}

// userstream_store_errors_total, which the alert UserstreamStoreErrors
// reads, is the store's own on the command's registry: it counts a bulk
// write that Cassandra did not take (here, on a session already closed:
// retried by the consumer, never dead-lettered), and the rows of such a
// write are not counted stored.
func TestStoreErrorsCounterMoves(t *testing.T) {
	name := testenv.Name(t, "ks")
	cfg := config{cassandraHosts: testenv.CassandraHosts(t), keyspace: name, table: cassandrastore.DefaultTable, replication: 1}
	t.Cleanup(func() { cleanup(cfg) })
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	reg := prometheus.NewRegistry()
	p := &pipeline{cfg: cfg, log: slog.New(slog.DiscardHandler), reg: reg}
	if err := p.openCassandra(ctx, secure.Cassandra{}); err != nil {
		t.Fatal(err)
	}
	if v, ok := gathered(t, reg, "userstream_store_errors_total"); !ok || v != 0 {
		t.Fatalf("store errors before any write: %v (served: %v), want 0", v, ok)
	}
	p.session.Close()
	if err := p.store.UpsertMany(ctx, testrows.Rows(3)); err == nil {
		t.Fatal("a write on a closed session succeeded")
	} else if kafkasink.RejectedRows(err) != nil {
		t.Fatalf("a write on a closed session is rejected for good (%v): it must be retried", err)
	}
	if v, _ := gathered(t, reg, "userstream_store_errors_total"); v != 1 {
		t.Errorf("store errors after a failed write: %v, want 1", v)
	}
	if v, _ := gathered(t, reg, "userstream_rows_stored_total"); v != 0 {
		t.Errorf("userstream_rows_stored_total %v after a write that stored none", v)
	}
}
