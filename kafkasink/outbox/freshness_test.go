package outbox_test

import (
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/userstream/userstream/internal/testenv"
	"github.com/userstream/userstream/internal/testrows"
	"github.com/userstream/userstream/kafkasink"
	"github.com/userstream/userstream/kafkasink/outbox"
)

// ageWithin checks that the gauge's age of the fetch time at is what a
// setting between before and after would give.
func ageWithin(t *testing.T, reg prometheus.Gatherer, what string, at, before, after time.Time) {
	t.Helper()
	got := metric(t, reg, "userstream_outbox_oldest_pending_seconds")
	lo, hi := before.Sub(at).Seconds(), after.Sub(at).Seconds()
	if got < lo || got > hi {
		t.Errorf("%s: userstream_outbox_oldest_pending_seconds = %v, want within [%v, %v] (the fetch time %v)", what, got, lo, hi, at)
	}
}

// TestOldestPending: the outbox's part of freshness follows the fetch time
// of the first row not published, an hour back here: staged, none relayed,
// it is the first row's; after a round, the first row left; after a round
// whose produce failed from a row on, that row's; while another relay holds
// the position, a relay standing by reports it too; drained, there is none.
func TestOldestPending(t *testing.T) {
	t.Parallel()
	brokers := testenv.KafkaBrokers(t)
	pool := newPool(t)
	store := newStore(t, pool)
	ctx := testContext(t, time.Minute)
	rows := testrows.Rows(10)
	if _, err := store.Stage(ctx, "fresh", rows); err != nil {
		t.Fatal(err)
	}
	hourAgo := time.Now().Add(-time.Hour).Truncate(time.Microsecond) // Postgres keeps microseconds
	table := pgx.Identifier{store.Schema(), "outbox"}.Sanitize()
	if _, err := pool.Exec(ctx, `UPDATE `+table+` o
SET fetched_at = $1::timestamptz + (n.rank - 1) * interval '1 second'
FROM (SELECT seq, rank() OVER (ORDER BY seq) AS rank FROM `+table+`) n
WHERE o.seq = n.seq`, hourAgo); err != nil {
		t.Fatal(err)
	}
	fetched := func(i int) time.Time { return hourAgo.Add(time.Duration(i) * time.Second) }

	if at, ok, err := store.OldestPending(ctx); err != nil || !ok || !at.Equal(hourAgo) {
		t.Fatalf("OldestPending with nothing relayed = %v, %v, %v; want %v, true", at, ok, err, hourAgo)
	}

	topic := newTopic(t, brokers, 1)
	reg := prometheus.NewPedanticRegistry()
	relay, err := outbox.NewRelay(store, newProducer(t, brokers, topic), outbox.WithMetrics(reg), outbox.WithRoundSize(4))
	if err != nil {
		t.Fatal(err)
	}
	// A full round, all published: the oldest is looked up, the 5th row.
	before := time.Now()
	if n, err := relay.RelayOnce(ctx); n != 4 || err != nil {
		t.Fatalf("RelayOnce = %d, %v; want 4", n, err)
	}
	ageWithin(t, reg, "after a full round", fetched(4), before, time.Now())
	if at, ok, err := store.OldestPending(ctx); err != nil || !ok || !at.Equal(fetched(4)) {
		t.Errorf("OldestPending after 4 rows relayed = %v, %v, %v; want %v, true", at, ok, err, fetched(4))
	}

	// A round whose produce fails from the 7th row on: that row is the
	// oldest, known from the round itself.
	failing, err := outbox.NewRelay(store, &fakeProducer{topic: topic, fail: func(e kafkasink.Encoded) error {
		if e.ID == rows[6].ID {
			return errors.New("refused")
		}
		return nil
	}}, outbox.WithMetrics(reg), outbox.WithRoundSize(4))
	if err != nil {
		t.Fatal(err)
	}
	before = time.Now()
	if n, err := failing.RelayOnce(ctx); n != 2 || err == nil {
		t.Fatalf("RelayOnce through a producer refusing the 7th row = %d, %v; want 2 and an error", n, err)
	}
	ageWithin(t, reg, "after a round that failed at the 7th row", fetched(6), before, time.Now())

	// Another relay holds the position: a relay standing by, on a
	// registry of its own, looks the oldest up.
	claim, err := store.Claim(ctx, topic, 1)
	if err != nil {
		t.Fatal(err)
	}
	standbyReg := prometheus.NewPedanticRegistry()
	standby, err := outbox.NewRelay(store, newProducer(t, brokers, topic), outbox.WithMetrics(standbyReg))
	if err != nil {
		t.Fatal(err)
	}
	before = time.Now()
	if _, err := standby.RelayOnce(ctx); !errors.Is(err, outbox.ErrStandby) {
		t.Fatalf("RelayOnce while another holds the position: %v, want ErrStandby", err)
	}
	ageWithin(t, standbyReg, "standing by", fetched(6), before, time.Now())
	claim.Release(ctx)

	if err := relay.Drain(ctx); err != nil {
		t.Fatal(err)
	}
	if got := metric(t, reg, "userstream_outbox_oldest_pending_seconds"); got != 0 {
		t.Errorf("userstream_outbox_oldest_pending_seconds once drained = %v, want 0", got)
	}
	if at, ok, err := store.OldestPending(ctx); err != nil || ok {
		t.Errorf("OldestPending once drained = %v, %v, %v; want false", at, ok, err)
	}
}
