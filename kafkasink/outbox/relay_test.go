package outbox_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/userstream/userstream/internal/testenv"
	"github.com/userstream/userstream/internal/testrows"
	"github.com/userstream/userstream/kafkasink"
	"github.com/userstream/userstream/kafkasink/outbox"
	"github.com/userstream/userstream/transform"
)

// *kafkasink.Producer is what NewRelay is usually given.
var _ outbox.Producer = (*kafkasink.Producer)(nil)

func TestNewRelayValidates(t *testing.T) {
	pool := newPool(t)
	store, err := outbox.NewStore(pool)
	if err != nil {
		t.Fatal(err)
	}
	p := &fakeProducer{}
	for name, opts := range map[string][]outbox.RelayOpt{
		"batch":   {outbox.WithRoundSize(0)},
		"poll":    {outbox.WithPollInterval(0)},
		"cleanup": {outbox.WithCleanupInterval(-time.Second)},
		"keep":    {outbox.WithRetention(-time.Hour)},
		"backoff": {outbox.WithBackoff(time.Second, time.Millisecond)},
		"commit":  {outbox.WithCommitTimeout(0)},
	} {
		if _, err := outbox.NewRelay(store, p, opts...); err == nil {
			t.Errorf("%s: NewRelay succeeded, want an error", name)
		}
	}
	if _, err := outbox.NewRelay(nil, p); err == nil {
		t.Error("NewRelay(nil store) succeeded")
	}
	if _, err := outbox.NewRelay(store, nil); err == nil {
		t.Error("NewRelay(nil producer) succeeded")
	}
	var none *outbox.Store
	if _, err := outbox.NewRelay(none, p); err == nil {
		t.Error("NewRelay((*Store)(nil)) succeeded")
	}
	if _, err := outbox.NewRelay(store, noTopicProducer{p}); err == nil {
		t.Error("NewRelay with a producer of no topic succeeded")
	}
}

// noTopicProducer is a producer that does not say its topic.
type noTopicProducer struct{ *fakeProducer }

func (noTopicProducer) Topic() string { return "" }

func TestRelayOncePublishesToKafka(t *testing.T) {
	t.Parallel()
	brokers := testenv.KafkaBrokers(t)
	pool := newPool(t)
	store := newStore(t, pool)
	topic := newTopic(t, brokers, 3)
	relay, err := outbox.NewRelay(store, newProducer(t, brokers, topic), outbox.WithRoundSize(500))
	if err != nil {
		t.Fatal(err)
	}
	ctx := testContext(t, 60*time.Second)
	rows := testrows.Rows(1200)
	if _, err := store.Stage(ctx, "run", rows); err != nil {
		t.Fatal(err)
	}

	var got []int
	for {
		n, err := relay.RelayOnce(ctx)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, n)
		if n == 0 {
			break
		}
	}
	if fmt.Sprint(got) != "[500 500 200 0]" {
		t.Fatalf("RelayOnce published %v, want [500 500 200 0]", got)
	}
	if c := counts(t, store); c != (outbox.Counts{Published: 1200}) {
		t.Fatalf("Counts = %+v, want 1200 published", c)
	}
	if s := relay.Stats(); s.Published != 1200 || s.Batches != 3 || s.Failed != 0 || s.Errors != 0 {
		t.Fatalf("Stats = %+v", s)
	}

	keys, total := topicKeys(t, brokers, topic)
	if total != len(rows) || len(keys) != len(rows) {
		t.Fatalf("topic has %d records with %d distinct keys, want %d once each", total, len(keys), len(rows))
	}
	for _, r := range rows {
		if keys[r.ID] != 1 {
			t.Fatalf("row %s is in the topic %d times", r.ID, keys[r.ID])
		}
	}
}

// blockingProducer acknowledges every row, once release is closed; it
// tells entered when a produce call has begun. With next set, it produces
// through next (and to its topic) once released.
type blockingProducer struct {
	entered chan struct{}
	release chan struct{}
	next    outbox.Producer
}

func (b *blockingProducer) Topic() string {
	if b.next != nil {
		return b.next.Topic()
	}
	return "fake"
}

func (b *blockingProducer) ProduceEncodedSync(ctx context.Context, rows ...kafkasink.Encoded) ([]kafkasink.Delivery, error) {
	b.entered <- struct{}{}
	select {
	case <-b.release:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if b.next != nil {
		return b.next.ProduceEncodedSync(ctx, rows...)
	}
	out := make([]kafkasink.Delivery, len(rows))
	for i, r := range rows {
		out[i] = kafkasink.Delivery{ID: r.ID}
	}
	return out, nil
}

// TestRelayOnceTellsStandbyFromNothingPending: RelayOnce returns 0, nil
// only when nothing is pending, and 0, ErrStandby while another relay is
// publishing (here, stuck in its produce call with the position locked).
func TestRelayOnceTellsStandbyFromNothingPending(t *testing.T) {
	t.Parallel()
	pool := newPool(t)
	store := newStore(t, pool)
	ctx := testContext(t, 30*time.Second)
	var logs testenv.Buffer
	standby, err := outbox.NewRelay(store, &fakeProducer{}, outbox.WithPollInterval(10*time.Millisecond),
		outbox.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	if err != nil {
		t.Fatal(err)
	}
	if n, err := standby.RelayOnce(ctx); n != 0 || err != nil {
		t.Fatalf("RelayOnce on an empty outbox = %d, %v; want 0, nil", n, err)
	}

	if _, err := store.Stage(ctx, "run", testrows.Rows(10)); err != nil {
		t.Fatal(err)
	}
	bp := &blockingProducer{entered: make(chan struct{}, 1), release: make(chan struct{})}
	publishing, err := outbox.NewRelay(store, bp)
	if err != nil {
		t.Fatal(err)
	}
	type result struct {
		n   int
		err error
	}
	done := make(chan result, 1)
	go func() {
		n, err := publishing.RelayOnce(ctx)
		done <- result{n, err}
	}()
	select {
	case <-bp.entered: // the position is locked until this round ends
	case r := <-done:
		t.Fatalf("publishing relay returned %d, %v before producing", r.n, r.err)
	}

	n, err := standby.RelayOnce(ctx)
	if n != 0 || !errors.Is(err, outbox.ErrStandby) {
		t.Fatalf("RelayOnce while another relay publishes = %d, %v; want 0, ErrStandby", n, err)
	}
	if c := counts(t, store); c.Pending != 10 {
		t.Fatalf("Counts = %+v, want the 10 rows pending while the other relay produces", c)
	}
	if s := standby.Stats(); s.Standby != 1 || s.Errors != 0 || s.Batches != 0 {
		t.Fatalf("standby relay's Stats = %+v, want 1 standby and no error", s)
	}
	// Run stands by the same way: no failed round, no backoff.
	runCtx, stop := context.WithCancel(ctx)
	ran := make(chan error, 1)
	go func() { ran <- standby.Run(runCtx) }()
	waitFor(t, 10*time.Second, "Run to stand by twice", func() bool { return standby.Stats().Standby >= 3 })
	stop()
	if err := <-ran; err != nil {
		t.Fatal(err)
	}
	if s := standby.Stats(); s.Errors != 0 || s.Published != 0 {
		t.Fatalf("standby relay's Stats after Run = %+v, want no error and nothing published", s)
	}
	if out := logs.String(); strings.Contains(out, "round failed") {
		t.Fatalf("Run logged a failure while standing by:\n%s", out)
	}

	close(bp.release)
	if r := <-done; r.n != 10 || r.err != nil {
		t.Fatalf("publishing relay's RelayOnce = %d, %v; want 10, nil", r.n, r.err)
	}
	if n, err := standby.RelayOnce(ctx); n != 0 || err != nil {
		t.Fatalf("RelayOnce after the other relay published everything = %d, %v; want 0, nil", n, err)
	}
}

// TestTwoRelaysPublishEveryRowOnce runs two relays at once on one store:
// one publishes while the other stands by (the position's lock), so no row
// reaches the topic twice.
func TestTwoRelaysPublishEveryRowOnce(t *testing.T) {
	t.Parallel()
	brokers := testenv.KafkaBrokers(t)
	pool := newPool(t)
	store := newStore(t, pool)
	topic := newTopic(t, brokers, 3)
	ctx := testContext(t, 60*time.Second)
	const n = 5000
	rows := testrows.Rows(n)
	if _, err := store.Stage(ctx, "run", rows); err != nil {
		t.Fatal(err)
	}

	runCtx, stop := context.WithCancel(ctx)
	var relays []*outbox.Relay
	var wg sync.WaitGroup
	for range 2 {
		// Each relay has its own producer, as separate processes would.
		r, err := outbox.NewRelay(store, newProducer(t, brokers, topic), outbox.WithRoundSize(250))
		if err != nil {
			t.Fatal(err)
		}
		relays = append(relays, r)
		wg.Go(func() {
			if err := r.Run(runCtx); err != nil {
				t.Errorf("Run: %v", err)
			}
		})
	}
	waitFor(t, 45*time.Second, "every row published", func() bool { return counts(t, store).Pending == 0 })
	stop()
	wg.Wait()

	a, b := relays[0].Stats(), relays[1].Stats()
	t.Logf("relay A: %+v; relay B: %+v", a, b)
	if a.Published+b.Published != n {
		t.Errorf("relays published %d + %d, want %d in all", a.Published, b.Published, n)
	}
	keys, total := topicKeys(t, brokers, topic)
	if total != n || len(keys) != n {
		t.Fatalf("topic has %d records with %d distinct keys, want %d once each", total, len(keys), n)
	}
}

func TestRelayWakesOnNotify(t *testing.T) {
	t.Parallel()
	brokers := testenv.KafkaBrokers(t)
	pool := newPool(t)
	store := newStore(t, pool)
	topic := newTopic(t, brokers, 1)
	listening := make(chan struct{}, 1)
	// A poll interval far beyond the test's deadline: only a
	// notification can make the relay publish in time.
	relay, err := outbox.NewRelay(store, newProducer(t, brokers, topic), outbox.WithPollInterval(time.Hour),
		outbox.OnListening(func() { listening <- struct{}{} }))
	if err != nil {
		t.Fatal(err)
	}
	ctx := testContext(t, 30*time.Second)
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- relay.Run(runCtx) }()
	select {
	case <-listening:
	case <-ctx.Done():
		t.Fatal("relay never listened")
	}
	// Let the round that LISTEN itself triggers finish, so the relay is
	// idle and waiting.
	time.Sleep(300 * time.Millisecond)

	for round := 1; round <= 2; round++ {
		start := time.Now()
		if _, err := store.Stage(ctx, "run", testrows.Rows(20)); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 5*time.Second, "staged rows published", func() bool { return counts(t, store).Pending == 0 })
		t.Logf("round %d: published %v after staging", round, time.Since(start))
	}
	stop()
	if err := <-done; err != nil {
		t.Fatalf("Run = %v, want nil after cancel", err)
	}
	if s := relay.Stats(); s.Published != 40 {
		t.Fatalf("Stats = %+v, want 40 published", s)
	}
}

// TestFailedDeliveriesStayUnpublished: the position stops before the
// first row the broker did not acknowledge; that row and those after it go
// out in a later round.
func TestFailedDeliveriesStayUnpublished(t *testing.T) {
	t.Parallel()
	pool := newPool(t)
	store := newStore(t, pool)
	ctx := testContext(t, 30*time.Second)
	rows := testrows.Rows(10)
	if _, err := store.Stage(ctx, "run", rows); err != nil {
		t.Fatal(err)
	}
	// Stage inserts a page in its order, and the relay reads in that order.
	sorted := rows
	broken := errors.New("NOT_ENOUGH_REPLICAS")
	p := &fakeProducer{fail: func(r kafkasink.Encoded) error {
		if r.ID == sorted[3].ID || r.ID == sorted[7].ID {
			return broken
		}
		return nil
	}}
	relay, err := outbox.NewRelay(store, p)
	if err != nil {
		t.Fatal(err)
	}
	n, err := relay.RelayOnce(ctx)
	var pe *kafkasink.ProduceError
	if n != 3 || !errors.As(err, &pe) || len(pe.Failed) != 2 || !errors.Is(err, broken) {
		t.Fatalf("RelayOnce = %d, %v; want 3 and a ProduceError of 2 rows", n, err)
	}
	if c := counts(t, store); c != (outbox.Counts{Pending: 7, Published: 3}) {
		t.Fatalf("Counts = %+v", c)
	}

	p.fail = nil // the broker recovers
	if n, err := relay.RelayOnce(ctx); n != 7 || err != nil {
		t.Fatalf("second RelayOnce = %d, %v; want 7, nil", n, err)
	}
	// Every row out; the acknowledged rows after the first failure
	// (4, 5, 6, 8, 9) twice, nothing else.
	seen := map[string]int{}
	for _, r := range p.produced() {
		seen[r.ID]++
	}
	for i, r := range sorted {
		want := 1
		if i > 3 && i != 7 {
			want = 2
		}
		if seen[r.ID] != want {
			t.Errorf("row %d produced %d times, want %d", i, seen[r.ID], want)
		}
	}
	if s := relay.Stats(); s.Published != 10 || s.Failed != 2 || s.Batches != 2 || s.Errors != 1 {
		t.Fatalf("Stats = %+v", s)
	}
}

// shortProducer reports fewer deliveries than rows: the relay must not
// guess which went out.
type shortProducer struct{}

func (shortProducer) Topic() string { return "fake" }

func (shortProducer) ProduceEncodedSync(ctx context.Context, rows ...kafkasink.Encoded) ([]kafkasink.Delivery, error) {
	return []kafkasink.Delivery{{ID: rows[0].ID}}, nil
}

// TestUnclearDeliveryReportMovesNothing: a report that does not say which
// rows were acknowledged leaves the position where it was.
func TestUnclearDeliveryReportMovesNothing(t *testing.T) {
	t.Parallel()
	pool := newPool(t)
	store := newStore(t, pool)
	ctx := testContext(t, 30*time.Second)
	if _, err := store.Stage(ctx, "run", testrows.Rows(5)); err != nil {
		t.Fatal(err)
	}
	relay, err := outbox.NewRelay(store, shortProducer{})
	if err != nil {
		t.Fatal(err)
	}
	if n, err := relay.RelayOnce(ctx); n != 0 || err == nil {
		t.Fatalf("RelayOnce = %d, %v; want 0 and an error", n, err)
	}
	if c := counts(t, store); c.Pending != 5 {
		t.Fatalf("Counts = %+v, want all 5 still pending", c)
	}
}

// TestPayloadIsRelayedAsIs: the relay produces a row's payload byte for
// byte, without decoding it; a payload that is not a valid row (inserted
// by another program) goes out too, for the consumers to dead-letter.
func TestPayloadIsRelayedAsIs(t *testing.T) {
	t.Parallel()
	pool := newPool(t)
	store := newStore(t, pool)
	ctx := testContext(t, 30*time.Second)
	rows := testrows.Rows(3)
	if _, err := store.Stage(ctx, "run", rows); err != nil {
		t.Fatal(err)
	}
	bad := testrows.UUID()
	const badPayload = `{"id":"x","email":"nope"}`
	if _, err := pool.Exec(ctx, "INSERT INTO "+pgx.Identifier{store.Schema(), "outbox"}.Sanitize()+
		` (id, payload, run_id, fetched_at) VALUES ($1, $2, 'hand', now())`, bad, badPayload); err != nil {
		t.Fatal(err)
	}
	p := &fakeProducer{}
	relay, err := outbox.NewRelay(store, p)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := relay.RelayOnce(ctx); n != 4 || err != nil {
		t.Fatalf("RelayOnce = %d, %v; want 4, nil", n, err)
	}
	want := map[string]string{bad: badPayload}
	for _, r := range rows {
		b, err := transform.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		want[r.ID] = string(b)
	}
	got := p.produced()
	if len(got) != len(want) {
		t.Fatalf("produced %d rows, want %d", len(got), len(want))
	}
	for _, e := range got {
		if string(e.Value) != want[e.ID] {
			t.Errorf("row %s produced as %s, want %s", e.ID, e.Value, want[e.ID])
		}
		// The staging time goes along, for the fetch-to-stored latency.
		if d := time.Since(e.FetchedAt); d < 0 || d > time.Minute {
			t.Errorf("row %s: FetchedAt %v, want the staging time", e.ID, e.FetchedAt)
		}
	}
	if c := counts(t, store); c != (outbox.Counts{Published: 4}) {
		t.Fatalf("Counts = %+v", c)
	}
}

// TestRetentionCleanup: DeletePublished, and Run by itself, delete the
// published versions staged before the retention that a newer version of
// their user replaced; never a pending one, nor a user's latest version.
func TestRetentionCleanup(t *testing.T) {
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
	rows := testrows.Rows(30)
	stage("v1", rows[:20])
	stage("v2", changed(rows[:20]))
	relay, err := outbox.NewRelay(store, &fakeProducer{}, outbox.WithRetention(time.Hour),
		outbox.WithCleanupInterval(50*time.Millisecond), outbox.WithPollInterval(20*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	drain(t, relay, store, 10*time.Second)
	// Ten replaced versions, published, were staged two hours ago; so
	// were ten latest versions (kept for good). Ten replaced versions
	// are pending and a week old (never deleted before they are out).
	age(ids(rows[:10]), "v1", "2 hours")
	age(ids(rows[:10]), "v2", "2 hours")
	stage("old1", rows[20:])
	stage("old2", changed(rows[20:]))
	age(ids(rows[20:]), "old1", "7 days")
	if n, err := store.DeletePublished(ctx, time.Hour); n != 10 || err != nil {
		t.Fatalf("DeletePublished = %d, %v; want 10", n, err)
	}
	if c := counts(t, store); c != (outbox.Counts{Pending: 20, Published: 30}) {
		t.Fatalf("Counts = %+v", c)
	}

	// Run cleans up by itself: the five aged versions first, then, once
	// published, the ten week-old ones.
	age(ids(rows[10:15]), "v1", "3 hours")
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- relay.Run(runCtx) }()
	waitFor(t, 10*time.Second, "the relay to publish and clean up", func() bool { return relay.Stats().Cleaned == 15 })
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if c := counts(t, store); c != (outbox.Counts{Published: 35}) {
		t.Fatalf("Counts = %+v, want the 5 recent replaced versions and the 30 latest kept", c)
	}
}

// ageRun returns a function that moves the fetch time of the versions of
// ids staged in a run back by an interval.
func ageRun(tb testing.TB, pool *pgxpool.Pool, store *outbox.Store) func(ids []string, runID, age string) {
	table := pgx.Identifier{store.Schema(), "outbox"}.Sanitize()
	return func(ids []string, runID, age string) {
		tb.Helper()
		if _, err := pool.Exec(testContext(tb, 10*time.Second), "UPDATE "+table+
			" SET fetched_at = now() - $3::interval WHERE id = ANY($1::uuid[]) AND run_id = $2", ids, runID, age); err != nil {
			tb.Fatal(err)
		}
	}
}

// changed returns rows with another email each: new versions of their
// users.
func changed(rows []transform.Row) []transform.Row {
	out := slices.Clone(rows)
	for i := range out {
		out[i].Email = "new." + out[i].Email
	}
	return out
}

func ids(rows []transform.Row) []string {
	out := make([]string, len(rows))
	for i, r := range rows {
		out[i] = r.ID
	}
	return out
}

func TestRunTwiceAtOnce(t *testing.T) {
	t.Parallel()
	pool := newPool(t)
	store := newStore(t, pool)
	listening := make(chan struct{}, 1)
	relay, err := outbox.NewRelay(store, &fakeProducer{}, outbox.OnListening(func() { listening <- struct{}{} }))
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(testContext(t, 10*time.Second))
	done := make(chan error, 1)
	go func() { done <- relay.Run(ctx) }()
	<-listening
	if err := relay.Run(ctx); !errors.Is(err, outbox.ErrRunning) {
		t.Errorf("second Run = %v, want ErrRunning", err)
	}
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestRunRidesOutPostgresOutage runs a relay through a proxy that goes down:
// Run logs and backs off instead of returning, and publishes once Postgres
// is back.
func TestRunRidesOutPostgresOutage(t *testing.T) {
	t.Parallel()
	direct := newPool(t)
	store := newStore(t, direct)
	ctx := testContext(t, 30*time.Second)

	cfg, err := pgxpoolParseConfig(testenv.PostgresDSN(t))
	if err != nil {
		t.Fatal(err)
	}
	proxy := newTCPProxy(t, fmt.Sprintf("%s:%d", cfg.ConnConfig.Host, cfg.ConnConfig.Port))
	cfg.ConnConfig.Host, cfg.ConnConfig.Port = "127.0.0.1", proxy.port()
	proxied := newPoolWithConfig(t, cfg)
	proxiedStore, err := outbox.NewStore(proxied, outbox.WithSchema(store.Schema()))
	if err != nil {
		t.Fatal(err)
	}
	var logs testenv.Buffer
	relay, err := outbox.NewRelay(proxiedStore, &fakeProducer{},
		outbox.WithBackoff(10*time.Millisecond, 100*time.Millisecond), outbox.WithPollInterval(50*time.Millisecond),
		outbox.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	if err != nil {
		t.Fatal(err)
	}

	proxy.setUp(false)
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- relay.Run(runCtx) }()
	waitFor(t, 10*time.Second, "failed rounds", func() bool { return relay.Stats().Errors >= 3 })
	select {
	case err := <-done:
		t.Fatalf("Run returned during the outage: %v", err)
	default:
	}

	if _, err := store.Stage(ctx, "run", testrows.Rows(50)); err != nil {
		t.Fatal(err)
	}
	proxy.setUp(true)
	waitFor(t, 10*time.Second, "rows published after the outage", func() bool { return counts(t, store).Pending == 0 })
	// The relay logs its recovery after the round that published the rows
	// returns, which can be after the rows are seen published here: wait
	// for the line rather than stop the relay before it is written.
	waitFor(t, 10*time.Second, "the recovery logged", func() bool { return strings.Contains(logs.String(), "relay recovered") })
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if out := logs.String(); !strings.Contains(out, "relay round failed") {
		t.Errorf("logs lack %q:\n%s", "relay round failed", out)
	}
}

// TestStagingTakesTurns: the relay's position is only sound if rows become
// visible in seq order. A transaction inserting into the outbox (here one
// made by hand, as another program might) holds back every other staging
// until it ends, so a later page can never be published while an earlier
// seq is still invisible.
func TestStagingTakesTurns(t *testing.T) {
	t.Parallel()
	pool := newPool(t)
	store := newStore(t, pool)
	ctx := testContext(t, 30*time.Second)
	table := pgx.Identifier{store.Schema(), "outbox"}.Sanitize()
	first := testrows.Rows(1)[0]
	payload, err := transform.Marshal(first)
	if err != nil {
		t.Fatal(err)
	}
	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	if _, err := tx.Exec(ctx, "INSERT INTO "+table+" (id, payload, run_id, fetched_at) VALUES ($1, $2, 'hand', now())",
		first.ID, string(payload)); err != nil {
		t.Fatal(err)
	}

	page := testrows.Rows(300) // COPY path
	staged := make(chan error, 1)
	go func() {
		_, err := store.Stage(ctx, "run", page)
		staged <- err
	}()
	select {
	case err := <-staged:
		t.Fatalf("Stage returned (%v) while an earlier insert was uncommitted", err)
	case <-time.After(500 * time.Millisecond):
	}
	p := &fakeProducer{}
	relay, err := outbox.NewRelay(store, p)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := relay.RelayOnce(ctx); n != 0 || err != nil {
		t.Fatalf("RelayOnce = %d, %v; want 0, nil with nothing committed", n, err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-staged; err != nil {
		t.Fatal(err)
	}
	drain(t, relay, store, 10*time.Second)
	if got := len(p.produced()); got != 301 {
		t.Fatalf("produced %d rows, want 301", got)
	}
}

// TestConcurrentStagingLosesNothing stages pages from several goroutines,
// by COPY and by INSERT, while a relay publishes in small batches: every
// row must reach the producer.
func TestConcurrentStagingLosesNothing(t *testing.T) {
	t.Parallel()
	pool := newPool(t)
	store := newStore(t, pool)
	ctx := testContext(t, 60*time.Second)
	p := &fakeProducer{}
	relay, err := outbox.NewRelay(store, p, outbox.WithRoundSize(37), outbox.WithPollInterval(5*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- relay.Run(runCtx) }()

	var all []transform.Row
	var mu sync.Mutex
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := range 15 {
				page := testrows.Rows(20 + 120*((w+i)%3)) // 20, 140, 260: both paths
				if _, err := store.Stage(ctx, "run", page); err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				all = append(all, page...)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	waitFor(t, 30*time.Second, "every row published", func() bool { return counts(t, store).Pending == 0 })
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, r := range p.produced() {
		seen[r.ID] = true
	}
	for _, r := range all {
		if !seen[r.ID] {
			t.Fatalf("row %s was staged but never produced (%d of %d produced)", r.ID, len(seen), len(all))
		}
	}
	t.Logf("%d rows staged by 4 writers, all produced", len(all))
}

// slowProducer acknowledges every row after taking d.
type slowProducer struct {
	fakeProducer
	d time.Duration
}

func (s *slowProducer) ProduceEncodedSync(ctx context.Context, rows ...kafkasink.Encoded) ([]kafkasink.Delivery, error) {
	time.Sleep(s.d)
	return s.fakeProducer.ProduceEncodedSync(ctx, rows...)
}

// TestSlowProduceStillCommits: a produce that takes longer than the commit
// timeout (a broker outage waited out) still has the whole timeout to
// record what the broker acknowledged. Timing the commit from before the
// produce left it an expired context, and the acknowledged rows went out
// again as duplicates (seen in the black-hole fault scenario).
func TestSlowProduceStillCommits(t *testing.T) {
	t.Parallel()
	pool := newPool(t)
	store := newStore(t, pool)
	ctx := testContext(t, 30*time.Second)
	rows := testrows.Rows(20)
	if _, err := store.Stage(ctx, "run", rows); err != nil {
		t.Fatal(err)
	}
	p := &slowProducer{d: 300 * time.Millisecond}
	relay, err := outbox.NewRelay(store, p, outbox.WithCommitTimeout(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	n, err := relay.RelayOnce(ctx)
	if err != nil || n != len(rows) {
		t.Fatalf("RelayOnce = %d, %v; want %d, nil", n, err, len(rows))
	}
	if pending, err := store.Pending(ctx); err != nil || pending != 0 {
		t.Fatalf("Pending = %d, %v; want 0: the acknowledged rows were not recorded as published", pending, err)
	}
	if n, err := relay.RelayOnce(ctx); n != 0 || err != nil {
		t.Fatalf("second RelayOnce = %d, %v; want 0, nil (nothing produced twice)", n, err)
	}
	if got := len(p.produced()); got != len(rows) {
		t.Fatalf("produced %d rows, want %d once each", got, len(rows))
	}
}
