package main

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/userstream/userstream/cassandrastore"
	"github.com/userstream/userstream/internal/testenv"
	"github.com/userstream/userstream/internal/testrows"
	"github.com/userstream/userstream/kafkasink"
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
// (examples/prometheus) reads, follows the group: every record of the
// topic before the group commits, none once it has committed them all.
func TestLagGaugeFollowsTheGroup(t *testing.T) {
	brokers := testenv.KafkaBrokers(t)
	name := testenv.Name(t, "lag")
	cfg := config{brokers: brokers, topic: name, dlqTopic: name + "_dlq", group: name}
	t.Cleanup(func() { cleanup(cfg) })
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if _, err := kafkasink.EnsureTopic(ctx, cl, kafkasink.TopicSpec{Name: name, Partitions: 2, ReplicationFactor: 1}); err != nil {
		t.Fatal(err)
	}
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

	// The group as a consumer leaves it before its first batch is
	// stored, and once it has stored everything: committed at the start,
	// then at the end of each partition.
	adm := kadm.NewClient(cl)
	ends, err := adm.ListEndOffsets(ctx, name)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		t.Fatal(err)
	}
	commit := func(atEnd bool) {
		t.Helper()
		offsets := kadm.Offsets{}
		ends.Each(func(o kadm.ListedOffset) {
			at := int64(0)
			if atEnd {
				at = o.Offset
			}
			offsets.Add(kadm.Offset{Topic: o.Topic, Partition: o.Partition, At: at, LeaderEpoch: -1})
		})
		resp, err := adm.CommitOffsets(ctx, name, offsets)
		if err == nil {
			err = resp.Error()
		}
		if err != nil {
			t.Fatal(err)
		}
	}

	p := &pipeline{cfg: cfg, m: newMetrics(), admin: cl}
	observe := func() float64 {
		t.Helper()
		l, err := p.lag(ctx)
		if err != nil {
			t.Fatal(err)
		}
		p.m.setLag(l)
		v, ok := gathered(t, p.m.registry, "userstream_consumer_lag")
		if !ok {
			t.Fatal("userstream_consumer_lag not served")
		}
		return v
	}
	commit(false)
	if v := observe(); v != 7 {
		t.Errorf("lag before the group stored anything: %v, want the 7 records", v)
	}
	commit(true)
	if v := observe(); v != 0 {
		t.Errorf("lag once the group committed everything: %v, want 0", v)
	}
}

// userstream_store_errors_total, which the alert UserstreamStoreErrors
// reads, counts a bulk write that Cassandra did not take (here, on a
// session already closed: the write is retried by the consumer, never
// dead-lettered), and the rows of such a write are not counted stored.
func TestStoreErrorsCounterMoves(t *testing.T) {
	hosts := testenv.CassandraHosts(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	session, err := cassandrastore.NewSession(ctx, hosts)
	if err != nil {
		t.Fatal(err)
	}
	store, err := cassandrastore.New(session, cassandrastore.WithKeyspace(testenv.Name(t, "ks")))
	if err != nil {
		t.Fatal(err)
	}
	session.Close()
	p := &pipeline{m: newMetrics(), store: store}
	if v, ok := gathered(t, p.m.registry, "userstream_store_errors_total"); !ok || v != 0 {
		t.Fatalf("store errors before any write: %v (served: %v), want 0", v, ok)
	}
	if err := p.upsert(ctx, testrows.Rows(3)); err == nil {
		t.Fatal("a write on a closed session succeeded")
	} else if kafkasink.RejectedRows(err) != nil {
		t.Fatalf("a write on a closed session is rejected for good (%v): it must be retried", err)
	}
	if v, _ := gathered(t, p.m.registry, "userstream_store_errors_total"); v != 1 {
		t.Errorf("store errors after a failed write: %v, want 1", v)
	}
	if n := p.stored.Load(); n != 0 {
		t.Errorf("%d rows counted stored after a write that stored none", n)
	}
}
