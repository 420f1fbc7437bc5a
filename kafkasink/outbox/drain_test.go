package outbox_test

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/userstream/userstream/internal/testenv"
	"github.com/userstream/userstream/internal/testrows"
	"github.com/userstream/userstream/kafkasink"
	"github.com/userstream/userstream/kafkasink/outbox"
	"github.com/userstream/userstream/transform"
)

// TestDrainPublishesEverything: Drain relays round after round until
// nothing is pending, and every row reaches the topic once.
func TestDrainPublishesEverything(t *testing.T) {
	t.Parallel()
	brokers := testenv.KafkaBrokers(t)
	pool := newPool(t)
	store := newStore(t, pool)
	topic := newTopic(t, brokers, 3)
	ctx := testContext(t, 60*time.Second)
	const n = 1234
	rows := testrows.Rows(n)
	if _, err := store.Stage(ctx, "run", rows); err != nil {
		t.Fatal(err)
	}
	relay, err := outbox.NewRelay(store, newProducer(t, brokers, topic), outbox.WithRoundSize(100))
	if err != nil {
		t.Fatal(err)
	}
	if err := relay.Drain(ctx); err != nil {
		t.Fatalf("Drain = %v", err)
	}
	if c := counts(t, store); c != (outbox.Counts{Published: n}) {
		t.Fatalf("Counts after Drain = %+v, want all %d published", c, n)
	}
	keys, total := topicKeys(t, brokers, topic)
	if total != n || len(keys) != n {
		t.Fatalf("topic holds %d records of %d keys, want %d once each", total, len(keys), n)
	}
	for _, r := range rows {
		if keys[r.ID] != 1 {
			t.Fatalf("row %s is in the topic %d times", r.ID, keys[r.ID])
		}
	}
	if s := relay.Stats(); s.Published != n || s.Batches != 13 || s.Errors != 0 {
		t.Fatalf("Stats = %+v, want %d published in 13 rounds", s, n)
	}
	// Nothing pending: one round that reads nothing.
	if err := relay.Drain(ctx); err != nil {
		t.Fatalf("second Drain = %v", err)
	}
}

// TestDrainWaitsOutStandby: a Drain started while another relay holds the
// position stands by until that relay's round ends, then relays what is
// left, and returns with nothing pending.
func TestDrainWaitsOutStandby(t *testing.T) {
	t.Parallel()
	brokers := testenv.KafkaBrokers(t)
	pool := newPool(t)
	store := newStore(t, pool)
	topic := newTopic(t, brokers, 1)
	ctx := testContext(t, 60*time.Second)
	rows := testrows.Rows(15)
	if _, err := store.Stage(ctx, "first", rows[:10]); err != nil {
		t.Fatal(err)
	}
	bp := &blockingProducer{entered: make(chan struct{}, 1), release: make(chan struct{}), next: newProducer(t, brokers, topic)}
	holder, err := outbox.NewRelay(store, bp)
	if err != nil {
		t.Fatal(err)
	}
	held := make(chan error, 1)
	go func() {
		_, err := holder.RelayOnce(ctx)
		held <- err
	}()
	<-bp.entered // the holder has the position, and the 10 rows, until released

	drainer, err := outbox.NewRelay(store, newProducer(t, brokers, topic), outbox.WithPollInterval(10*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	drained := make(chan error, 1)
	go func() { drained <- drainer.Drain(ctx) }()
	waitFor(t, 10*time.Second, "Drain to stand by", func() bool { return drainer.Stats().Standby >= 1 })
	select {
	case err := <-drained:
		t.Fatalf("Drain returned %v while another relay held the position", err)
	default:
	}
	if _, err := store.Stage(ctx, "second", rows[10:]); err != nil {
		t.Fatal(err)
	}
	close(bp.release)
	if err := <-held; err != nil {
		t.Fatalf("holder's RelayOnce = %v", err)
	}
	if err := <-drained; err != nil {
		t.Fatalf("Drain = %v", err)
	}
	if c := counts(t, store); c.Pending != 0 {
		t.Fatalf("Counts after Drain = %+v, want none pending", c)
	}
	if s := drainer.Stats(); s.Published != 5 || s.Errors != 0 {
		t.Fatalf("drainer's Stats = %+v, want the 5 rows staged later published, no error", s)
	}
	keys, total := topicKeys(t, brokers, topic)
	if total != 15 || len(keys) != 15 {
		t.Fatalf("topic holds %d records of %d keys, want 15 once each", total, len(keys))
	}
}

// TestCleanupDeletesOnlyOldPublishedRows: Relay.Cleanup, and Drain at its
// end, delete the published versions staged before the retention that a
// newer version replaced, never a recent one, a pending one, or a user's
// latest version.
func TestCleanupDeletesOnlyOldPublishedRows(t *testing.T) {
	t.Parallel()
	pool := newPool(t)
	store := newStore(t, pool)
	ctx := testContext(t, 30*time.Second)
	age := ageRun(t, pool, store)
	stage := func(runID string, rows []transform.Row) {
		t.Helper()
		if _, err := store.Stage(ctx, runID, rows); err != nil {
			t.Fatal(err)
		}
	}
	rows := testrows.Rows(40)
	stage("v1", rows[:30])
	relay, err := outbox.NewRelay(store, &fakeProducer{}, outbox.WithRetention(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if err := relay.Drain(ctx); err != nil { // nothing old yet: deletes nothing
		t.Fatal(err)
	}
	// Published: 30 first versions, of which 10 replaced and two hours
	// old, 10 replaced and recent, 10 latest and two hours old. Pending:
	// the 20 second versions, and 10 first versions a week old, replaced,
	// with their second versions.
	stage("v2", changed(rows[:20]))
	stage("v1", rows[30:])
	stage("v2", changed(rows[30:]))
	age(ids(rows[:10]), "v1", "2 hours")
	age(ids(rows[20:30]), "v1", "2 hours")
	age(ids(rows[30:]), "v1", "7 days")
	if n, err := relay.Cleanup(ctx); n != 10 || err != nil {
		t.Fatalf("Cleanup = %d, %v; want the 10 old replaced published versions", n, err)
	}
	if c := counts(t, store); c != (outbox.Counts{Pending: 40, Published: 20}) {
		t.Fatalf("Counts after Cleanup = %+v", c)
	}
	if n, err := relay.Cleanup(ctx); n != 0 || err != nil {
		t.Fatalf("second Cleanup = %d, %v; want 0", n, err)
	}
	// Drain publishes the 40 pending versions, then deletes the 10 old
	// replaced ones.
	if err := relay.Drain(ctx); err != nil {
		t.Fatal(err)
	}
	if c := counts(t, store); c != (outbox.Counts{Published: 50}) {
		t.Fatalf("Counts after Drain = %+v, want 50 versions kept", c)
	}
	if s := relay.Stats(); s.Cleaned != 20 {
		t.Fatalf("Stats.Cleaned = %d, want 20", s.Cleaned)
	}

	// However old, each user's latest version stays: one per user.
	age(ids(rows), "v1", "30 days")
	age(ids(rows), "v2", "30 days")
	if n, err := relay.Cleanup(ctx); n != 10 || err != nil {
		t.Fatalf("Cleanup of everything old = %d, %v; want the 10 replaced versions left", n, err)
	}
	if c := counts(t, store); c != (outbox.Counts{Published: 40}) {
		t.Fatalf("Counts = %+v, want the 40 users' latest versions", c)
	}
	latest, err := store.Latest(ctx, ids(rows))
	if err != nil || len(latest) != 40 {
		t.Fatalf("Latest = %d versions, %v; want 40", len(latest), err)
	}
	for _, v := range latest {
		if v.RunID != "v2" && !slices.Contains(ids(rows[20:30]), v.ID) {
			t.Errorf("user %s: latest version of run %s kept, want v2's", v.ID, v.RunID)
		}
	}

	// A retention of 0 keeps everything.
	keep, err := outbox.NewRelay(store, &fakeProducer{}, outbox.WithRetention(0))
	if err != nil {
		t.Fatal(err)
	}
	stage("v3", changed(changed(rows)))
	if err := keep.Drain(ctx); err != nil {
		t.Fatal(err)
	}
	if n, err := keep.Cleanup(ctx); n != 0 || err != nil {
		t.Fatalf("Cleanup with retention 0 = %d, %v; want 0", n, err)
	}
	if c := counts(t, store); c != (outbox.Counts{Published: 80}) {
		t.Fatalf("Counts = %+v, want every version kept", c)
	}
}

// TestOutboxIsBoundToItsTopic: a fresh outbox binds to the topic of the
// first relay round that publishes, not of an empty round; once bound, a
// relay of another topic on the same schema gets a *TopicMismatchError from
// every call and publishes nothing.
func TestOutboxIsBoundToItsTopic(t *testing.T) {
	t.Parallel()
	brokers := testenv.KafkaBrokers(t)
	pool := newPool(t)
	store := newStore(t, pool)
	ctx := testContext(t, 60*time.Second)
	first, other := newTopic(t, brokers, 1), newTopic(t, brokers, 1)

	if got, err := store.BoundTopic(ctx); got != "" || err != nil {
		t.Fatalf("BoundTopic of a fresh outbox = %q, %v; want unbound", got, err)
	}
	owner, err := outbox.NewRelay(store, newProducer(t, brokers, first))
	if err != nil {
		t.Fatal(err)
	}
	intruder, err := outbox.NewRelay(store, newProducer(t, brokers, other))
	if err != nil {
		t.Fatal(err)
	}
	// Rounds with nothing pending, of either topic, bind nothing.
	if err := intruder.Drain(ctx); err != nil {
		t.Fatalf("Drain of an empty outbox = %v", err)
	}
	if n, err := owner.RelayOnce(ctx); n != 0 || err != nil {
		t.Fatalf("RelayOnce of an empty outbox = %d, %v", n, err)
	}
	if got, err := store.BoundTopic(ctx); got != "" || err != nil {
		t.Fatalf("BoundTopic after empty rounds = %q, %v; want unbound", got, err)
	}

	// The first round that publishes binds.
	if _, err := store.Stage(ctx, "run", testrows.Rows(10)); err != nil {
		t.Fatal(err)
	}
	if err := owner.Drain(ctx); err != nil {
		t.Fatal(err)
	}
	if got, err := store.BoundTopic(ctx); got != first || err != nil {
		t.Fatalf("BoundTopic after the first publish = %q, %v; want %q", got, err, first)
	}

	if _, err := store.Stage(ctx, "run2", testrows.Rows(20)[10:]); err != nil {
		t.Fatal(err)
	}
	check := func(call string, err error) {
		t.Helper()
		var tm *outbox.TopicMismatchError
		if !errors.As(err, &tm) || !errors.Is(err, outbox.ErrTopicMismatch) {
			t.Fatalf("%s on another topic = %v, want a *TopicMismatchError", call, err)
		}
		if *tm != (outbox.TopicMismatchError{Schema: store.Schema(), Bound: first, Got: other}) {
			t.Fatalf("%s: %+v", call, *tm)
		}
	}
	n, err := intruder.RelayOnce(ctx)
	if n != 0 {
		t.Fatalf("RelayOnce on another topic published %d rows", n)
	}
	check("RelayOnce", err)
	check("Drain", intruder.Drain(ctx))
	runCtx, stop := context.WithTimeout(ctx, 30*time.Second) // Run returns the error at its first round
	defer stop()
	check("Run", intruder.Run(runCtx))
	if c := counts(t, store); c.Pending != 10 {
		t.Fatalf("Counts = %+v, want the 10 rows still pending", c)
	}
	if keys, total := topicKeys(t, brokers, other); total != 0 {
		t.Fatalf("the other topic holds %d records (%v), want none", total, keys)
	}
	if s := intruder.Stats(); s.Published != 0 || s.Errors != 3 {
		t.Fatalf("intruder's Stats = %+v, want 3 failed rounds and nothing published", s)
	}

	// The owner is unaffected.
	if err := owner.Drain(ctx); err != nil {
		t.Fatal(err)
	}
	if _, total := topicKeys(t, brokers, first); total != 20 {
		t.Fatalf("the outbox's topic holds %d records, want 20", total)
	}
}

// TestFailedRoundDoesNotBind: a relay whose deliveries all fail (a
// mistyped topic) publishes nothing and leaves the outbox unbound; the
// right relay then binds it and publishes every row.
func TestFailedRoundDoesNotBind(t *testing.T) {
	t.Parallel()
	pool := newPool(t)
	store := newStore(t, pool)
	ctx := testContext(t, 30*time.Second)
	if _, err := store.Stage(ctx, "run", testrows.Rows(4)); err != nil {
		t.Fatal(err)
	}
	typo := &fakeProducer{topic: "signpus", fail: func(kafkasink.Encoded) error { return errors.New("unknown topic") }}
	wrong, err := outbox.NewRelay(store, typo)
	if err != nil {
		t.Fatal(err)
	}
	n, err := wrong.RelayOnce(ctx)
	var oe *outbox.Error
	if n != 0 || !errors.As(err, &oe) || oe.Op != "produce" {
		t.Fatalf("RelayOnce through a failing producer = %d, %v; want 0 and an *outbox.Error of op produce", n, err)
	}
	if got, err := store.BoundTopic(ctx); got != "" || err != nil {
		t.Fatalf("BoundTopic after a round that published nothing = %q, %v; want unbound", got, err)
	}
	p := &fakeProducer{topic: "signups"}
	right, err := outbox.NewRelay(store, p)
	if err != nil {
		t.Fatal(err)
	}
	if err := right.Drain(ctx); err != nil {
		t.Fatal(err)
	}
	if got, err := store.BoundTopic(ctx); got != "signups" || err != nil {
		t.Fatalf("BoundTopic = %q, %v; want signups", got, err)
	}
	if len(p.produced()) != 4 {
		t.Fatalf("relayed %d rows, want 4", len(p.produced()))
	}
	if _, err := wrong.RelayOnce(ctx); !errors.Is(err, outbox.ErrTopicMismatch) {
		t.Fatalf("RelayOnce of the mistyped topic after the bind = %v, want ErrTopicMismatch", err)
	}
}

// TestMigrateFromVersion2BindsAtFirstRound: an outbox of version 2 (no
// topic) migrates in place, keeps its pending rows, and binds to the
// topic of its first relay round that publishes.
func TestMigrateFromVersion2BindsAtFirstRound(t *testing.T) {
	t.Parallel()
	pool := newPool(t)
	ctx := testContext(t, 30*time.Second)
	schema := testenv.Name(t, "ob")
	store, err := outbox.NewStore(pool, outbox.WithSchema(schema))
	if err != nil {
		t.Fatal(err)
	}
	dropSchemaAtCleanup(t, pool, schema)
	if err := store.MigrateTo(ctx, 2); err != nil {
		t.Fatal(err)
	}
	stageOld(t, pool, schema, "v2", testrows.Rows(7))
	if err := store.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	var version int
	if err := pool.QueryRow(ctx, "SELECT max(version) FROM "+pgx.Identifier{schema, "schema_version"}.Sanitize()).Scan(&version); err != nil {
		t.Fatal(err)
	}
	if version != outbox.SchemaVersion {
		t.Fatalf("schema version %d, want %d", version, outbox.SchemaVersion)
	}
	if got, err := store.BoundTopic(ctx); got != "" || err != nil {
		t.Fatalf("BoundTopic after the upgrade = %q, %v; want unbound", got, err)
	}
	if c := counts(t, store); c.Pending != 7 {
		t.Fatalf("Counts after the upgrade = %+v, want 7 pending", c)
	}
	p := &fakeProducer{topic: "signups"}
	relay, err := outbox.NewRelay(store, p)
	if err != nil {
		t.Fatal(err)
	}
	if err := relay.Drain(ctx); err != nil {
		t.Fatal(err)
	}
	if got, err := store.BoundTopic(ctx); got != "signups" || err != nil {
		t.Fatalf("BoundTopic after the first round = %q, %v; want signups", got, err)
	}
	if len(p.produced()) != 7 {
		t.Fatalf("relayed %d rows, want 7", len(p.produced()))
	}
}

// TestRelayOnAVersion2SchemaIsNotMigrated: a binary of this release relaying
// an outbox still at version 2 (deployed before Store.Migrate ran) fails
// with ErrNotMigrated, not a generic error, publishes nothing, and Run
// logs it at Error level, as it does a missing table.
func TestRelayOnAVersion2SchemaIsNotMigrated(t *testing.T) {
	t.Parallel()
	pool := newPool(t)
	ctx := testContext(t, 30*time.Second)
	schema := testenv.Name(t, "ob")
	store, err := outbox.NewStore(pool, outbox.WithSchema(schema))
	if err != nil {
		t.Fatal(err)
	}
	dropSchemaAtCleanup(t, pool, schema)
	if err := store.MigrateTo(ctx, 2); err != nil {
		t.Fatal(err)
	}
	stageOld(t, pool, schema, "v2", testrows.Rows(5))
	var logs testenv.Buffer
	p := &fakeProducer{topic: "signups"}
	relay, err := outbox.NewRelay(store, p, outbox.WithBackoff(10*time.Millisecond, 50*time.Millisecond),
		outbox.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	if err != nil {
		t.Fatal(err)
	}
	check := func(call string, err error) {
		t.Helper()
		var oe *outbox.Error
		if !errors.Is(err, outbox.ErrNotMigrated) || !errors.As(err, &oe) {
			t.Fatalf("%s on a version 2 schema = %v, want an *outbox.Error matching ErrNotMigrated", call, err)
		}
		if !strings.Contains(err.Error(), "run Store.Migrate") {
			t.Errorf("%s: error %q does not say to run Store.Migrate", call, err)
		}
	}
	n, err := relay.RelayOnce(ctx)
	if n != 0 {
		t.Fatalf("RelayOnce published %d rows", n)
	}
	check("RelayOnce", err)
	check("Drain", relay.Drain(ctx))

	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- relay.Run(runCtx) }()
	// Two more failed rounds: the first one's log line is written before
	// the second round starts.
	waitFor(t, 10*time.Second, "failed rounds of Run", func() bool { return relay.Stats().Errors >= 4 })
	stop()
	if err := <-done; err != nil {
		t.Fatalf("Run = %v, want nil once ctx ends", err)
	}
	if out := logs.String(); !strings.Contains(out, "level=ERROR") || strings.Contains(out, "level=WARN") {
		t.Errorf("Run did not log the failure at Error level only:\n%s", out)
	}
	if len(p.produced()) != 0 {
		t.Fatalf("produced %d rows from an unmigrated outbox", len(p.produced()))
	}
	if err := store.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if err := relay.Drain(ctx); err != nil {
		t.Fatalf("Drain after Migrate = %v", err)
	}
	if len(p.produced()) != 5 {
		t.Fatalf("relayed %d rows after Migrate, want 5", len(p.produced()))
	}
}

// TestDrainOnAFakeSource drives Drain through an in-memory Source, with no
// server: it waits out a held position, and returns a failed round's error
// with the position where the broker's acknowledgements left it.
func TestDrainOnAFakeSource(t *testing.T) {
	src := &memSource{held: true, rows: []kafkasink.Encoded{{ID: "a"}, {ID: "b"}, {ID: "c"}}}
	p := &fakeProducer{}
	relay, err := outbox.NewRelay(src, p, outbox.WithRoundSize(2), outbox.WithPollInterval(time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	ctx := testContext(t, 10*time.Second)
	done := make(chan error, 1)
	go func() { done <- relay.Drain(ctx) }()
	waitFor(t, 5*time.Second, "Drain to stand by", func() bool { return relay.Stats().Standby >= 1 })
	src.mu.Lock()
	src.held = false
	src.mu.Unlock()
	if err := <-done; err != nil {
		t.Fatalf("Drain = %v", err)
	}
	if n, _ := src.Pending(ctx); n != 0 || len(p.produced()) != 3 {
		t.Fatalf("after Drain: %d pending, %d produced; want 0 and 3", n, len(p.produced()))
	}

	src.rows = append(src.rows, kafkasink.Encoded{ID: "d"}, kafkasink.Encoded{ID: "e"})
	p.fail = func(e kafkasink.Encoded) error {
		if e.ID == "e" {
			return errors.New("refused")
		}
		return nil
	}
	err = relay.Drain(ctx)
	var oe *outbox.Error
	if !errors.As(err, &oe) || oe.Op != "produce" {
		t.Fatalf("Drain through a failing producer = %v, want an *outbox.Error of op produce", err)
	}
	if n, _ := src.Pending(ctx); n != 1 {
		t.Fatalf("%d pending after the failed round, want 1 (e)", n)
	}
}
