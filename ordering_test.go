package userstream_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/userstream/userstream/cassandrastore"
	"github.com/userstream/userstream/ingest"
	"github.com/userstream/userstream/internal/testenv"
	"github.com/userstream/userstream/kafkasink"
	"github.com/userstream/userstream/kafkasink/dlq"
	"github.com/userstream/userstream/kafkasink/outbox"
	"github.com/userstream/userstream/randomuser"
	"github.com/userstream/userstream/randomuser/randomusertest"
	"github.com/userstream/userstream/transform"
)

// The ordering contract, end to end on the real servers, through the public
// packages only: the offline API changes users day by day, ingest stages
// them as versions in the outbox, the relay publishes them, consumers write
// them to Cassandra with ChangesHandler(store.ApplyMany, RejectedRows).
// Whatever order, however often and however late a user's records arrive
// (a second group replaying the topic, a redrive of an old dead letter),
// the table ends at, and never goes back from, the latest version staged.

// orderPartitions is the partitions of each test's topic: several, so that
// users' versions travel through different partitions and consumers.
const orderPartitions = 6

// orderEnv is one test's pipeline: its own outbox schema, topic, dead-letter
// topic, keyspace and offline API, dropped when the test ends.
type orderEnv struct {
	t       *testing.T
	ctx     context.Context
	name    string // the schema, topic, keyspace, and the groups' prefix
	brokers []string
	api     *randomusertest.Server
	box     *outbox.Store
	relay   *outbox.Relay
	store   *cassandrastore.Store
	loop    *ingest.Loop
	skip    map[string]bool // ids the loop does not stage (users deleted for good)

	mu      sync.Mutex
	fetched map[string]transform.Row // each id's row as fetched last
}

func newOrderEnv(t *testing.T, changeShare float64) *orderEnv {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	t.Cleanup(cancel)
	e := &orderEnv{t: t, ctx: ctx, name: testenv.Name(t, "ord"), brokers: testenv.KafkaBrokers(t),
		skip: map[string]bool{}, fetched: map[string]transform.Row{}}
	hosts, dsn := testenv.CassandraHosts(t), testenv.PostgresDSN(t)
	t.Cleanup(func() { dropOrderEnv(e.name, e.brokers, hosts, dsn) })

	var err error
	if e.api, err = randomusertest.NewServer(randomusertest.WithChangeShare(changeShare)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.api.Close)
	pool, err := pgxpool.New(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	if e.box, err = outbox.NewStore(pool, outbox.WithSchema(e.name)); err != nil {
		t.Fatal(err)
	}
	producer, err := kafkasink.NewProducer(e.brokers, kafkasink.WithTopic(e.name))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(producer.Close)
	if e.relay, err = outbox.NewRelay(e.box, producer, outbox.WithRoundSize(2000)); err != nil {
		t.Fatal(err)
	}
	session, err := cassandrastore.NewSession(ctx, hosts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(session.Close)
	if e.store, err = cassandrastore.New(session, cassandrastore.WithKeyspace(e.name)); err != nil {
		t.Fatal(err)
	}
	client, err := randomuser.New(randomuser.WithBaseURL(e.api.BaseURL()))
	if err != nil {
		t.Fatal(err)
	}
	if e.loop, err = ingest.New(client, e, ingest.WithPageSize(5000)); err != nil {
		t.Fatal(err)
	}
	for _, spec := range []kafkasink.TopicSpec{{Name: e.name, Partitions: orderPartitions, ReplicationFactor: 1}, {Name: e.dlqTopic(), Partitions: 1, ReplicationFactor: 1}} {
		if _, err := kafkasink.EnsureTopic(ctx, producer.Client(), spec); err != nil {
			t.Fatal(err)
		}
	}
	if err := errors.Join(e.box.Migrate(ctx), e.store.Migrate(ctx)); err != nil {
		t.Fatal(err)
	}
	return e
}

func dropOrderEnv(name string, brokers, hosts []string, dsn string) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...)); err == nil {
		adm := kadm.NewClient(cl)
		_, _ = adm.DeleteTopics(ctx, name, name+"_dlq", name+"_redrives")
		_, _ = adm.DeleteGroups(ctx, name+"_g1", name+"_g2")
		cl.Close()
	}
	if s, err := cassandrastore.NewSession(ctx, hosts); err == nil {
		_ = s.ExecStmt(`DROP KEYSPACE IF EXISTS ` + name)
		s.Close()
	}
	if conn, err := pgx.Connect(ctx, dsn); err == nil {
		_, _ = conn.Exec(ctx, `DROP SCHEMA IF EXISTS `+pgx.Identifier{name}.Sanitize()+` CASCADE`)
		_ = conn.Close(ctx)
	}
}

func (e *orderEnv) dlqTopic() string      { return e.name + "_dlq" }
func (e *orderEnv) group(g string) string { return e.name + "_" + g }
func (e *orderEnv) apply() kafkasink.Handler {
	return kafkasink.ChangesHandler(e.store.ApplyMany, kafkasink.RejectedRows)
}
func (e *orderEnv) changed(a, b transform.Row) bool { a.ID, b.ID = "", ""; return a != b }

// Stage makes the env the loop's stager: it remembers each row fetched
// (the last version of each id) and stages the rows of the ids not in
// skip in the outbox.
func (e *orderEnv) Stage(ctx context.Context, runID string, rows []transform.Row) (outbox.StageResult, error) {
	kept := make([]transform.Row, 0, len(rows))
	e.mu.Lock()
	for _, r := range rows {
		if !e.skip[r.ID] {
			e.fetched[r.ID] = r
			kept = append(kept, r)
		}
	}
	e.mu.Unlock()
	return e.box.Stage(ctx, runID, kept)
}

// stageDay fetches users users of the seed as the API serves them on day,
// stages them and returns what the outbox made of them, with how many of
// them differ from the rows fetched before (the updates expected).
func (e *orderEnv) stageDay(day, users int) (res ingest.Result, changed int) {
	e.t.Helper()
	before := e.snapshotFetched()
	e.api.Handler().SetDay(day)
	res, err := e.loop.Run(e.ctx, fmt.Sprintf("day%d", day), e.name, users)
	if err != nil {
		e.t.Fatalf("day %d: %v", day, err)
	}
	for id, r := range e.snapshotFetched() {
		if old, ok := before[id]; ok && e.changed(old, r) {
			changed++
		}
	}
	return res, changed
}

func (e *orderEnv) snapshotFetched() map[string]transform.Row {
	e.mu.Lock()
	defer e.mu.Unlock()
	m := make(map[string]transform.Row, len(e.fetched))
	for id, r := range e.fetched {
		m[id] = r
	}
	return m
}

// ids returns the ids fetched so far, sorted.
func (e *orderEnv) ids() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	ids := make([]string, 0, len(e.fetched))
	for id := range e.fetched {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// drain publishes everything staged.
func (e *orderEnv) drain() {
	e.t.Helper()
	if err := e.relay.Drain(e.ctx); err != nil {
		e.t.Fatalf("drain: %v", err)
	}
}

// newConsumer returns a consumer of the topic in group g that stops once
// the group has committed the topic up to its end at Run's start.
func (e *orderEnv) newConsumer(g string, h kafkasink.Handler) *kafkasink.Consumer {
	e.t.Helper()
	c, err := kafkasink.NewConsumer(e.brokers, e.group(g), h, kafkasink.WithTopic(e.name), kafkasink.WithDLQTopic(e.dlqTopic()),
		kafkasink.WithStopAtEnd())
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(c.Close)
	return c
}

// consume runs group g with h until the topic is stored up to its end.
func (e *orderEnv) consume(g string, h kafkasink.Handler) kafkasink.Stats {
	e.t.Helper()
	c := e.newConsumer(g, h)
	if err := c.Run(e.ctx); err != nil {
		e.t.Fatalf("consume as %s: %v", g, err)
	}
	return c.Stats()
}

// sample reads the row and write time of every id from Cassandra.
func (e *orderEnv) sample(ids []string) map[string]cassandrastore.Stored {
	e.t.Helper()
	m, err := e.trySample(ids)
	if err != nil {
		e.t.Fatal(err)
	}
	return m
}

// trySample is sample for another goroutine than the test's.
func (e *orderEnv) trySample(ids []string) (map[string]cassandrastore.Stored, error) {
	stored, err := e.store.Lookup(e.ctx, ids)
	if err != nil {
		return nil, fmt.Errorf("lookup: %w", err)
	}
	m := make(map[string]cassandrastore.Stored, len(stored))
	for _, s := range stored {
		m[s.Row.ID] = s
	}
	return m, nil
}

// checkLatest checks every id in Cassandra against the outbox's latest
// version: a deleted user has no row, any other has the values fetched last
// and, with times, the latest version as its write time. It returns how
// many rows the table holds of ids. (Without times, a check before the
// step a test is about fails on that step, not on an earlier symptom.)
func (e *orderEnv) checkLatest(ids []string, times bool) int {
	e.t.Helper()
	latest, err := e.box.Latest(e.ctx, ids)
	if err != nil {
		e.t.Fatalf("outbox latest: %v", err)
	}
	if len(latest) != len(ids) {
		e.t.Fatalf("the outbox has versions of %d of %d ids", len(latest), len(ids))
	}
	stored, fetched := e.sample(ids), e.snapshotFetched()
	// Each kind of wrong row is counted, and the first few of each shown.
	var back, older, missing, wrongTime int
	show := func(n *int, format string, args ...any) {
		if *n++; *n <= 3 {
			e.t.Errorf(format, args...)
		}
	}
	for _, v := range latest {
		s, found := stored[v.ID]
		switch {
		case v.Deleted && found:
			show(&back, "%s: deleted at version %d, but Cassandra holds a row written at %d", v.ID, v.Version, s.WriteTime)
		case v.Deleted:
		case !found:
			show(&missing, "%s: missing from Cassandra (latest version %d)", v.ID, v.Version)
		case s.Row != fetched[v.ID]:
			show(&older, "%s: row %+v (written at %d), want the one fetched last %+v (version %d)", v.ID, s.Row, s.WriteTime, fetched[v.ID], v.Version)
		case times && s.WriteTime != v.Version:
			show(&wrongTime, "%s: the latest values, but written at %d, not at their version %d", v.ID, s.WriteTime, v.Version)
		}
	}
	if bad := back + older + missing + wrongTime; bad > 0 {
		e.t.Fatalf("%d of %d users are not at their latest version in Cassandra: %d deleted ones are back, %d rows hold older values, %d are missing, %d have the latest values at another write time",
			bad, len(ids), back, older, missing, wrongTime)
	}
	return len(stored)
}

// checkNotBack reports (Errorf: safe from any goroutine) each row of
// before that is absent or older in after (its write time went backwards),
// or has other values at the same write time, unless the user's latest
// version is a delete (deleted: allowed to go); it returns how many.
func (e *orderEnv) checkNotBack(before, after map[string]cassandrastore.Stored, deleted map[string]bool, when string) int {
	bad := 0
	report := func(format string, args ...any) {
		if bad++; bad <= 10 {
			e.t.Errorf(when+": "+format, args...)
		}
	}
	for id, b := range before {
		a, found := after[id]
		switch {
		case !found && deleted[id]:
		case !found:
			report("%s was written at %d, then vanished", id, b.WriteTime)
		case a.WriteTime < b.WriteTime:
			report("%s went back from write time %d to %d", id, b.WriteTime, a.WriteTime)
		case a.WriteTime == b.WriteTime && a.Row != b.Row:
			report("%s has other values at the same write time %d: %+v, was %+v", id, a.WriteTime, a.Row, b.Row)
		}
	}
	if bad > 0 {
		e.t.Errorf("%s: %d of %d rows went back", when, bad, len(before))
	}
	return bad
}

// gatedReplay runs group g from the topic's start with ChangesHandler, its
// end fixed when it starts, but holds its first writes until during has
// run: the group reads records older than what during stores, and writes
// them after. It returns the group's stats.
func (e *orderEnv) gatedReplay(g string, during func()) kafkasink.Stats {
	e.t.Helper()
	// Should during fail the test, the replay's handler stops waiting.
	ctx, cancel := context.WithCancel(e.ctx)
	defer cancel()
	started, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	inner := e.apply()
	c := e.newConsumer(g, func(ctx context.Context, msgs []kafkasink.Message) error {
		once.Do(func() { close(started) })
		select {
		case <-release:
		case <-ctx.Done():
			return ctx.Err()
		}
		return inner(ctx, msgs)
	})
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	select {
	case <-started:
	case err := <-done:
		e.t.Fatalf("replay as %s ended before its first batch: %v", g, err)
	}
	during()
	close(release)
	if err := <-done; err != nil {
		e.t.Fatalf("replay as %s: %v", g, err)
	}
	return c.Stats()
}

// threeDays stages 10,000 users on days 0, 1 and 2 (a third changed each
// later day) and deletes 500 of them on day 2, relaying and consuming as
// group g1 after each day; it returns the ids and the deleted ones.
func (e *orderEnv) threeDays() (ids []string, deleted map[string]bool) {
	e.t.Helper()
	const users = 10000
	for day := range 3 {
		res, changed := e.stageDay(day, users)
		e.t.Logf("day %d: %+v, %d changed", day, res, changed)
		if day == 0 && (res.Staged != users || res.Updated != 0) {
			e.t.Fatalf("day 0 staged %+v, want %d new users", res, users)
		}
		if day > 0 && (int(res.Updated) != changed || res.Staged != res.Updated || res.Duplicates != users-res.Updated ||
			changed < users/4 || changed > users*5/12) {
			e.t.Fatalf("day %d staged %+v with %d users changed: want each changed user staged once, as an update (about a third)", day, res, changed)
		}
		if day == 2 {
			ids = e.ids()
			deleted = map[string]bool{}
			var del []string
			for i := 0; i < len(ids); i += len(ids) / 500 {
				del = append(del, ids[i])
				deleted[ids[i]] = true
			}
			sr, err := e.box.StageDeletes(e.ctx, "day2-deletes", del)
			if err != nil || sr.Staged != 500 {
				e.t.Fatalf("stage deletes: %+v, %v; want 500 staged", sr, err)
			}
		}
		e.drain()
		if st := e.consume("g1", e.apply()); st.DeadLettered != 0 {
			e.t.Fatalf("day %d: %d records dead-lettered", day, st.DeadLettered)
		}
	}
	return ids, deleted
}

// Three versions of 10,000 users staged across three runs, a third of them
// changed each later run, 500 deleted in the last: Cassandra holds exactly
// the latest version of each (its values, at its version), and no row of
// the deleted ones.
func TestVersionsLatestWins(t *testing.T) {
	e := newOrderEnv(t, 1.0/3)
	ids, deleted := e.threeDays()
	if len(ids) != 10000 || len(deleted) != 500 {
		t.Fatalf("%d ids, %d deleted", len(ids), len(deleted))
	}
	if rows := e.checkLatest(ids, true); rows != 9500 {
		t.Fatalf("Cassandra holds %d of the users, want 9,500", rows)
	}
}

// A second consumer group replays the topic from offset 0 into the same
// table while a fourth day of versions is staged, relayed and stored by the
// first: sampled before, while the replay writes, and after, no row's write
// time goes back nor its values change at an equal write time, and the
// table ends at the latest version of each user.
func TestReplayNeverRollsBack(t *testing.T) {
	e := newOrderEnv(t, 1.0/3)
	ids, deleted := e.threeDays()
	for id := range deleted {
		e.skip[id] = true // day 3 does not bring them back: they stay deleted
	}
	before := e.sample(ids)
	published := e.relay.Stats().Published // what the replay must read: its end offsets are taken when it starts
	var day3 ingest.Result
	var replaying sync.WaitGroup
	replayDone := make(chan struct{})
	stopSampling := sync.OnceFunc(func() { close(replayDone); replaying.Wait() })
	defer stopSampling() // should the test fail first: no Errorf after it ends
	st := e.gatedReplay("g2", func() {
		// Day 3, stored by the first group, while the second has read
		// days 0 to 2 and waits to write them.
		day3, _ = e.stageDay(3, 10000)
		e.drain()
		e.consume("g1", e.apply())
		// Sample while the replay writes: no sample goes back from the
		// one before.
		replaying.Add(1)
		go func() {
			defer replaying.Done()
			prev, err := e.trySample(ids)
			for n := 1; err == nil; n++ {
				select {
				case <-replayDone:
					t.Logf("%d samples of every row while the replay wrote, each compared with the one before", n)
					return
				default:
				}
				var next map[string]cassandrastore.Stored
				if next, err = e.trySample(ids); err == nil {
					if e.checkNotBack(prev, next, deleted, fmt.Sprintf("replay sample %d", n)) > 0 {
						return
					}
					prev = next
				}
			}
			t.Error(err)
		}()
	})
	stopSampling()
	// A bounded Run may also handle records produced after it started
	// (WithStopAtEnd): some of day 3's, fetched with the last of days 0
	// to 2. It must have replayed all of those.
	if day3.Updated < 2500 || st.Handled < published || st.Handled > published+day3.Updated {
		t.Fatalf("day 3 updated %d users, the replay handled %d records: want real updates and the %d records of days 0 to 2 replayed (and at most day 3's besides)",
			day3.Updated, st.Handled, published)
	}
	after := e.sample(ids)
	e.checkNotBack(before, after, deleted, "after the replay")
	e.checkLatest(ids, true)
	t.Logf("replayed %d records; day 3: %+v", st.Handled, day3)
}

// Version 1 of some users is dead-lettered (the handler rejects it);
// version 2 is then staged, relayed and stored; redriving the dead letters
// sends version 1 back through the consumer, and version 2 stays.
func TestRedriveOldDeadLetter(t *testing.T) {
	e := newOrderEnv(t, 1) // every user changes on day 1
	const users, rejected = 1000, 100
	e.stageDay(0, users)
	ids := e.ids()
	reject := map[string]bool{}
	for _, id := range ids[:rejected] {
		reject[id] = true
	}
	e.drain()
	inner := e.apply()
	st := e.consume("g1", func(ctx context.Context, msgs []kafkasink.Message) error {
		var keep []kafkasink.Message
		var out []kafkasink.Rejection
		for i, m := range msgs {
			if reject[m.Row.ID] {
				out = append(out, kafkasink.Rejection{Index: i, Err: errors.New("rejected by the test: its version 1 goes to the dead-letter topic")})
			} else {
				keep = append(keep, m)
			}
		}
		if err := inner(ctx, keep); err != nil {
			return err
		}
		return kafkasink.Reject(out...)
	})
	if st.Rejected != rejected || st.Handled != users-rejected {
		t.Fatalf("day 0 consumed %+v: want %d rejected, %d handled", st, rejected, users-rejected)
	}
	if res, changed := e.stageDay(1, users); res.Updated != users || changed != users {
		t.Fatalf("day 1: %+v, %d changed: want every user updated", res, changed)
	}
	e.drain()
	e.consume("g1", e.apply())
	v2 := e.sample(ids)
	e.checkLatest(ids, false)

	q, err := dlq.New(e.brokers, dlq.WithDataTopic(e.name), dlq.WithDLQTopic(e.dlqTopic()), dlq.WithRedriveLog(e.name+"_redrives"))
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	rep, err := q.Redrive(e.ctx, dlq.Selection{All: true})
	if err != nil || len(rep.Redriven) != rejected {
		t.Fatalf("redrive: %d redriven, %d skipped, %v: want %d", len(rep.Redriven), len(rep.Skipped), err, rejected)
	}
	if st := e.consume("g1", e.apply()); st.Handled != rejected {
		t.Fatalf("after the redrive the group handled %d records, want the %d versions 1", st.Handled, rejected)
	}
	e.checkNotBack(v2, e.sample(ids), nil, "after the redrive")
	e.checkLatest(ids, true)
}

// Users are deleted; then a second group, started before the deletes were
// relayed, replays their older records after the first group applied the
// deletes: they stay deleted.
func TestDeletedStaysDeleted(t *testing.T) {
	e := newOrderEnv(t, 1)
	const users, deletes = 1000, 200
	for day := range 2 { // two versions of each before the deletes
		e.stageDay(day, users)
		e.drain()
		e.consume("g1", e.apply())
	}
	ids := e.ids()
	st := e.gatedReplay("g2", func() {
		if sr, err := e.box.StageDeletes(e.ctx, "deletes", ids[:deletes]); err != nil || sr.Staged != deletes {
			t.Fatalf("stage deletes: %+v, %v", sr, err)
		}
		e.drain()
		e.consume("g1", e.apply())
		if rows := e.checkLatest(ids, false); rows != users-deletes {
			t.Fatalf("after the deletes Cassandra holds %d users, want %d", rows, users-deletes)
		}
	})
	if st.Handled != 2*users {
		t.Fatalf("the replay handled %d records, want the %d versions before the deletes", st.Handled, 2*users)
	}
	if rows := e.checkLatest(ids, true); rows != users-deletes {
		t.Fatalf("after the replay Cassandra holds %d users, want %d", rows, users-deletes)
	}
}
