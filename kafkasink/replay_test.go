package kafkasink_test

import (
	"context"
	"errors"
	"maps"
	"strconv"
	"testing"
	"time"

	"github.com/scylladb/gocqlx/v2"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/userstream/userstream/cassandrastore"
	"github.com/userstream/userstream/internal/testenv"
	"github.com/userstream/userstream/internal/testrows"
	"github.com/userstream/userstream/kafkasink"
	"github.com/userstream/userstream/transform"
)

// replayEnv is one replay test's topic, group and keyspace, and the rows
// produced in two windows: A stamped just before from, B at from.
type replayEnv struct {
	t       *testing.T
	ctx     context.Context
	brokers []string
	topic   string
	group   string
	session gocqlx.Session
	store   *cassandrastore.Store
	table   string // keyspace.table
	admin   *kgo.Client
	from    time.Time
	// The rows of each window, without and with a row-version header.
	plainA, versionedA, plainB, versionedB []transform.Row
	versionA, versionB                     int64           // the versions of the windows' versioned rows
	bByPartition                           map[int32]int64 // records of window B by partition
	firstB                                 map[int32]int64 // offset of each partition's first B record
}

const replayRowsPerKind = 20

func newReplayEnv(t *testing.T) *replayEnv {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	t.Cleanup(cancel)
	e := &replayEnv{t: t, ctx: ctx, brokers: testenv.KafkaBrokers(t), group: testenv.Name(t, "group")}
	hosts := testenv.CassandraHosts(t)
	var err error
	if e.session, err = cassandrastore.NewSession(ctx, hosts); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.session.Close)
	keyspace := testenv.Name(t, "ks")
	e.table = keyspace + "." + cassandrastore.DefaultTable
	t.Cleanup(func() { _ = e.session.ExecStmt("DROP KEYSPACE IF EXISTS " + keyspace) })
	if e.store, err = cassandrastore.New(e.session, cassandrastore.WithKeyspace(keyspace)); err != nil {
		t.Fatal(err)
	}
	if err := e.store.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	e.topic = newTopic(t, e.brokers, 3)
	if e.admin, err = kgo.NewClient(kgo.SeedBrokers(e.brokers...)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.admin.Close)
	t.Cleanup(func() {
		dctx, dcancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer dcancel()
		_, _ = kadm.NewClient(e.admin).DeleteGroups(dctx, e.group)
	})

	// Kafka takes past timestamps (log.message.timestamp.before.max.ms is
	// unbounded by default); an hour back keeps clear of the future limit.
	e.from = time.Now().Add(-time.Hour).Truncate(time.Millisecond)
	stampA := e.from.Add(-time.Millisecond) // the last millisecond before from
	e.versionA, e.versionB = stampA.UnixMicro(), e.from.UnixMicro()
	e.plainA, e.versionedA = testrows.Rows(replayRowsPerKind), testrows.Rows(replayRowsPerKind)
	e.plainB, e.versionedB = testrows.Rows(replayRowsPerKind), testrows.Rows(replayRowsPerKind)
	e.produce(stampA, e.plainA, 0)
	e.produce(stampA, e.versionedA, e.versionA)
	e.bByPartition, e.firstB = map[int32]int64{}, map[int32]int64{}
	for _, r := range append(e.produce(e.from, e.plainB, 0), e.produce(e.from, e.versionedB, e.versionB)...) {
		e.bByPartition[r.Partition]++
		if first, ok := e.firstB[r.Partition]; !ok || r.Offset < first {
			e.firstB[r.Partition] = r.Offset
		}
	}
	return e
}

// produce writes rows stamped at, with the row-version header when
// version is not 0, and returns the records as produced.
func (e *replayEnv) produce(at time.Time, rows []transform.Row, version int64) []*kgo.Record {
	e.t.Helper()
	recs := make([]*kgo.Record, len(rows))
	for i, r := range rows {
		rec, err := kafkasink.NewRecord(e.topic, r)
		if err != nil {
			e.t.Fatal(err)
		}
		rec.Timestamp = at
		if version != 0 {
			rec.Headers = append(rec.Headers, kgo.RecordHeader{Key: kafkasink.HeaderRowVersion, Value: []byte(strconv.FormatInt(version, 10))})
		}
		recs[i] = rec
	}
	if err := e.admin.ProduceSync(e.ctx, recs...).FirstErr(); err != nil {
		e.t.Fatalf("produce: %v", err)
	}
	return recs
}

// consumer returns a member of the group storing changes at their versions.
func (e *replayEnv) consumer(opts ...kafkasink.ConsumerOpt) *kafkasink.Consumer {
	e.t.Helper()
	opts = append([]kafkasink.ConsumerOpt{kafkasink.WithTopic(e.topic), kafkasink.WithLogger(quiet)}, opts...)
	c, err := kafkasink.NewConsumer(e.brokers, e.group, kafkasink.ChangesHandler(e.store.ApplyMany, kafkasink.RejectedRows), opts...)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(c.Close)
	return c
}

// consumeToEnd runs the group until it has committed the topic's end and
// returns the messages it handled.
func (e *replayEnv) consumeToEnd() int64 {
	e.t.Helper()
	c := e.consumer(kafkasink.WithStopAtEnd())
	if err := c.Run(e.ctx); err != nil {
		e.t.Fatalf("run: %v", err)
	}
	return c.Stats().Handled
}

// overwrite sets the first name of rows by hand, as cqlsh would: at the
// wall clock's time.
func (e *replayEnv) overwrite(rows []transform.Row) {
	e.t.Helper()
	for _, r := range rows {
		if err := e.session.Session.Query(`UPDATE `+e.table+` SET first_name = 'Overwritten' WHERE id = ?`, r.ID).WithContext(e.ctx).Exec(); err != nil {
			e.t.Fatalf("overwrite %s: %v", r.ID, err)
		}
	}
}

// stored returns the table's rows of ids by id.
func (e *replayEnv) stored(rows []transform.Row) map[string]cassandrastore.Stored {
	e.t.Helper()
	ids := make([]string, len(rows))
	for i, r := range rows {
		ids[i] = r.ID
	}
	got, err := e.store.Lookup(e.ctx, ids)
	if err != nil {
		e.t.Fatal(err)
	}
	m := map[string]cassandrastore.Stored{}
	for _, s := range got {
		m[s.Row.ID] = s
	}
	return m
}

// check fails the test unless every row of rows is stored with the first
// name want ("" for no row) and, when version is not 0, written at it.
func (e *replayEnv) check(what string, rows []transform.Row, want string, version int64) {
	e.t.Helper()
	got := e.stored(rows)
	bad := 0
	for _, r := range rows {
		s, ok := got[r.ID]
		switch {
		case want == "" && ok, want != "" && !ok, ok && s.Row.FirstName != want, ok && version != 0 && s.WriteTime != version:
			bad++
		}
	}
	if bad > 0 {
		e.t.Errorf("%s: %d of %d rows are not as expected (first name %q, write time %d)", what, bad, len(rows), want, version)
	}
}

// checkPlan fails the test unless plan rewinds every partition with B
// records to its first B record, from the end, by exactly its B records.
func (e *replayEnv) checkPlan(what string, plan kafkasink.ReplayPlan, applied bool) {
	e.t.Helper()
	ends := endOffsets(e.t, e.brokers, e.topic)
	if plan.Applied != applied || plan.Group != e.group || plan.Topic != e.topic || !plan.From.Equal(e.from) || len(plan.Partitions) != len(ends) {
		e.t.Fatalf("%s: plan %+v, want applied=%v and %d partitions", what, plan, applied, len(ends))
	}
	for _, p := range plan.Partitions {
		want := kafkasink.ReplayPartition{Partition: p.Partition, Committed: ends[p.Partition], Target: ends[p.Partition]}
		if n := e.bByPartition[p.Partition]; n > 0 {
			want.Target, want.Rewind, want.Records = e.firstB[p.Partition], true, n
		}
		if p != want {
			e.t.Errorf("%s: partition %d: %+v, want %+v", what, p.Partition, p, want)
		}
	}
	if want := int64(2 * replayRowsPerKind); plan.Records() != want {
		e.t.Errorf("%s: %d records to read again, want the %d of window B", what, plan.Records(), want)
	}
}

// waitGroup waits until the group's state is one of states.
func (e *replayEnv) waitGroup(states ...string) {
	e.t.Helper()
	adm := kadm.NewClient(e.admin)
	for {
		d, err := adm.DescribeGroups(e.ctx, e.group)
		if err == nil {
			for _, s := range states {
				if g := d[e.group]; g.Err == nil && g.State == s && (s != "Stable" || len(g.Members) > 0) {
					return
				}
			}
		}
		select {
		case <-e.ctx.Done():
			e.t.Fatalf("the group did not reach %v before the deadline (last: %+v, %v)", states, d[e.group], err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Issue 27 item 3, on the real servers: a stopped group replayed from a
// time reads again exactly the records stamped from then on. Rows written
// without a version (last write wins) and overwritten by hand are restored;
// versioned rows are restored where they are gone (a truncated table),
// but not over a hand write, whose wall-clock write time is newer than the
// version (the documented limit; reconcile repairs those). The records
// before the time are not read again. The dry run works while a member
// runs; the replay itself refuses then.
func TestReplayRestoresTheWindow(t *testing.T) {
	t.Parallel()
	e := newReplayEnv(t)
	if n := e.consumeToEnd(); n != 4*replayRowsPerKind {
		t.Fatalf("first run handled %d messages, want %d", n, 4*replayRowsPerKind)
	}
	e.check("first run, A", append(e.plainA, e.versionedA...), "Ada", 0)
	e.check("first run, versioned B", e.versionedB, "Ada", e.versionB)
	e.overwrite(e.plainA)
	e.overwrite(e.plainB)
	e.overwrite(e.versionedB)

	// A member runs: the dry run answers, the replay refuses and moves
	// nothing.
	member := e.consumer()
	runCtx, stop := context.WithCancel(e.ctx)
	done := make(chan error, 1)
	go func() { done <- member.Run(runCtx) }()
	e.waitGroup("Stable")
	before := committed(t, e.brokers, e.group, e.topic)
	plan, err := kafkasink.PlanReplay(e.ctx, e.admin, e.group, e.topic, e.from)
	if err != nil {
		t.Fatalf("dry run while a member runs: %v", err)
	}
	e.checkPlan("dry run while a member runs", plan, false)
	_, err = kafkasink.Replay(e.ctx, e.admin, e.group, e.topic, e.from)
	var active *kafkasink.GroupActiveError
	if !errors.Is(err, kafkasink.ErrGroupActive) || !errors.As(err, &active) || len(active.Members) != 1 || active.Group != e.group {
		t.Fatalf("Replay while a member runs: %v, want a *GroupActiveError naming the one member", err)
	}
	if after := committed(t, e.brokers, e.group, e.topic); !maps.Equal(after, before) {
		t.Errorf("a refused replay moved the offsets: %v, were %v", after, before)
	}
	stop()
	if err := <-done; err != nil {
		t.Fatalf("member: %v", err)
	}
	e.waitGroup("Empty")

	// Stopped: the replay moves each partition back to its first B record.
	plan, err = kafkasink.Replay(e.ctx, e.admin, e.group, e.topic, e.from)
	if err != nil {
		t.Fatalf("Replay: %v", err)
	}
	e.checkPlan("replay", plan, true)
	for _, p := range plan.Partitions {
		if got := committed(t, e.brokers, e.group, e.topic)[p.Partition]; got != p.Target {
			t.Errorf("partition %d committed at %d after the replay, want %d", p.Partition, got, p.Target)
		}
	}
	if n := e.consumeToEnd(); n != 2*replayRowsPerKind {
		t.Errorf("the replayed run handled %d messages, want the %d of window B", n, 2*replayRowsPerKind)
	}
	e.check("after the replay, plain B", e.plainB, "Ada", 0)
	e.check("after the replay, plain A (not replayed)", e.plainA, "Overwritten", 0)
	e.check("after the replay, versioned A", e.versionedA, "Ada", e.versionA)
	e.check("after the replay, versioned B overwritten at a newer time", e.versionedB, "Overwritten", 0)

	// The table lost: a replay restores window B, versions and all, and
	// only it.
	if err := e.session.ExecStmt("TRUNCATE " + e.table); err != nil {
		t.Fatal(err)
	}
	plan, err = kafkasink.Replay(e.ctx, e.admin, e.group, e.topic, e.from)
	if err != nil {
		t.Fatalf("second Replay: %v", err)
	}
	e.checkPlan("second replay", plan, true)
	if n := e.consumeToEnd(); n != 2*replayRowsPerKind {
		t.Errorf("the second replayed run handled %d messages, want %d", n, 2*replayRowsPerKind)
	}
	e.check("after truncate and replay, plain B", e.plainB, "Ada", 0)
	e.check("after truncate and replay, versioned B", e.versionedB, "Ada", e.versionB)
	e.check("after truncate and replay, A", append(e.plainA, e.versionedA...), "", 0)
}

// The edges of a plan: a time past the last record leaves every partition
// at its end; a group that never committed has nothing to rewind, and a
// replay of it moves nothing; a missing topic and a time before the
// epoch are errors.
func TestReplayPlanEdges(t *testing.T) {
	t.Parallel()
	e := newReplayEnv(t)
	ends := endOffsets(t, e.brokers, e.topic)

	plan, err := kafkasink.Replay(e.ctx, e.admin, e.group, e.topic, e.from)
	if err != nil {
		t.Fatalf("Replay of a group never committed: %v", err)
	}
	for _, p := range plan.Partitions {
		if p.Committed != -1 || p.Rewind || p.Records != 0 {
			t.Errorf("never committed: partition %+v, want Committed -1 and no rewind", p)
		}
	}
	if plan.Applied || len(committed(t, e.brokers, e.group, e.topic)) != 0 {
		t.Errorf("a replay of a group never committed committed something (applied=%v)", plan.Applied)
	}

	if n := e.consumeToEnd(); n != 4*replayRowsPerKind {
		t.Fatalf("run handled %d messages, want %d", n, 4*replayRowsPerKind)
	}
	plan, err = kafkasink.PlanReplay(e.ctx, e.admin, e.group, e.topic, time.Now().Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range plan.Partitions {
		if want := (kafkasink.ReplayPartition{Partition: p.Partition, Committed: ends[p.Partition], Target: ends[p.Partition]}); p != want {
			t.Errorf("time past the end: %+v, want %+v", p, want)
		}
	}
	// From before window A: every record.
	plan, err = kafkasink.PlanReplay(e.ctx, e.admin, e.group, e.topic, e.from.Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if plan.Records() != 4*replayRowsPerKind {
		t.Errorf("from before every record: %d records, want %d", plan.Records(), 4*replayRowsPerKind)
	}

	if _, err := kafkasink.PlanReplay(e.ctx, e.admin, e.group, e.topic+"_missing", e.from); !errors.Is(err, kafkasink.ErrTopicNotFound) {
		t.Errorf("missing topic: %v, want ErrTopicNotFound", err)
	}
	if _, err := kafkasink.PlanReplay(e.ctx, e.admin, e.group, e.topic, time.Time{}); err == nil {
		t.Error("the zero time: no error")
	}
}
