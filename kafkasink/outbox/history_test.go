package outbox_test

import (
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/userstream/userstream/internal/testenv"
	"github.com/userstream/userstream/internal/testrows"
	"github.com/userstream/userstream/kafkasink"
	"github.com/userstream/userstream/kafkasink/outbox"
	"github.com/userstream/userstream/transform"
)

// place is a record's partition and offset.
type place struct {
	partition int32
	offset    int64
}

// topicRecords reads topic from the start to its current end and returns
// its records by place.
func topicRecords(tb testing.TB, brokers []string, topic string) map[place]*kgo.Record {
	tb.Helper()
	ctx := testContext(tb, 30*time.Second)
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		tb.Fatal(err)
	}
	defer cl.Close()
	ends, err := kadm.NewClient(cl).ListEndOffsets(ctx, topic)
	if err != nil {
		tb.Fatal(err)
	}
	remaining := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Offset > 0 {
			remaining[o.Partition] = o.Offset
		}
	})
	out := map[place]*kgo.Record{}
	for len(remaining) > 0 {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			tb.Fatalf("partitions not read to the end: %v", remaining)
		}
		fs.EachRecord(func(r *kgo.Record) {
			out[place{r.Partition, r.Offset}] = r
			if end, ok := remaining[r.Partition]; ok && r.Offset+1 >= end {
				delete(remaining, r.Partition)
			}
		})
	}
	return out
}

func header(r *kgo.Record, key string) string {
	for _, h := range r.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}

func history(tb testing.TB, s *outbox.Store, id string) outbox.History {
	tb.Helper()
	h, err := s.History(testContext(tb, 10*time.Second), id)
	if err != nil {
		tb.Fatalf("history %s: %v", id, err)
	}
	return h
}

// Every published version's recorded partition and offset hold that
// version's record in Kafka (its key and row-version header), over several
// rounds and partitions; a pending version has none, and an id the outbox
// never staged has no versions.
func TestHistoryRecordsKafkaPlace(t *testing.T) {
	brokers := testenv.KafkaBrokers(t)
	pool := newPool(t)
	store := newStore(t, pool)
	topic := newTopic(t, brokers, 3)
	relay, err := outbox.NewRelay(store, newProducer(t, brokers, topic), outbox.WithRoundSize(7), outbox.WithLogger(discard()))
	if err != nil {
		t.Fatal(err)
	}
	ctx := testContext(t, 2*time.Minute)
	rows := testrows.Rows(20)
	if _, err := store.Stage(ctx, "run-1", rows); err != nil {
		t.Fatal(err)
	}
	changed := rows[3]
	changed.Email = "changed@example.com"
	if _, err := store.Stage(ctx, "run-2", []transform.Row{changed}); err != nil {
		t.Fatal(err)
	}
	drain(t, relay, store, time.Minute)
	// A third version of rows[3], staged and not relayed.
	changed.Email = "again@example.com"
	if _, err := store.Stage(ctx, "run-3", []transform.Row{changed}); err != nil {
		t.Fatal(err)
	}

	records := topicRecords(t, brokers, topic)
	if len(records) != 21 {
		t.Fatalf("topic has %d records, want 21", len(records))
	}
	partitions := map[int32]bool{}
	for _, row := range rows {
		h := history(t, store, row.ID)
		if h.Topic != topic {
			t.Errorf("%s: topic %q, want %q", row.ID, h.Topic, topic)
		}
		for _, v := range h.Versions {
			if !v.Published {
				continue
			}
			if v.Record == nil {
				t.Fatalf("%s seq %d: published, no record", row.ID, v.Seq)
			}
			if v.Record.Topic != topic || v.Record.PublishedAt.IsZero() {
				t.Errorf("%s seq %d: record %+v", row.ID, v.Seq, v.Record)
			}
			r := records[place{v.Record.Partition, v.Record.Offset}]
			if r == nil {
				t.Fatalf("%s seq %d: no record at %d/%d", row.ID, v.Seq, v.Record.Partition, v.Record.Offset)
			}
			if string(r.Key) != row.ID || header(r, kafkasink.HeaderRowVersion) != strconv.FormatInt(v.Version.Version, 10) {
				t.Errorf("%s seq %d: the record at %d/%d has key %s, row-version %s; want version %d",
					row.ID, v.Seq, v.Record.Partition, v.Record.Offset, r.Key, header(r, kafkasink.HeaderRowVersion), v.Version.Version)
			}
			partitions[v.Record.Partition] = true
		}
	}
	if len(partitions) < 2 {
		t.Errorf("records in partitions %v: want the 20 ids spread over several", partitions)
	}

	h := history(t, store, rows[3].ID)
	if len(h.Versions) != 3 {
		t.Fatalf("%d versions of the changed id, want 3", len(h.Versions))
	}
	if h.Versions[0].RunID != "run-1" || h.Versions[1].RunID != "run-2" || h.Versions[2].RunID != "run-3" {
		t.Errorf("runs %s, %s, %s", h.Versions[0].RunID, h.Versions[1].RunID, h.Versions[2].RunID)
	}
	latest, ok := h.Latest()
	if !ok || latest.Published || latest.Record != nil || latest.Seq <= h.Position {
		t.Errorf("latest version %+v, position %d: want pending, with no record", latest, h.Position)
	}

	unknown := history(t, store, "00000000-0000-4000-8000-000000000000")
	if _, ok := unknown.Latest(); ok || len(unknown.Versions) != 0 {
		t.Errorf("unknown id: %+v", unknown)
	}
	var invalid *outbox.InvalidIDError
	if _, err := store.History(ctx, "not-a-uuid"); !errors.As(err, &invalid) {
		t.Errorf("History(not-a-uuid) = %v, want an *InvalidIDError", err)
	}
}

// A round that publishes only some of its rows (a failed delivery)
// records only those; the rest are recorded by the round that publishes
// them.
func TestHistoryRecordsOnlyAcknowledged(t *testing.T) {
	pool := newPool(t)
	store := newStore(t, pool)
	rows := testrows.Rows(5)
	ctx := testContext(t, time.Minute)
	if _, err := store.Stage(ctx, "run", rows); err != nil {
		t.Fatal(err)
	}
	failing := true
	p := &fakeProducer{fail: func(e kafkasink.Encoded) error {
		if failing && e.ID == rows[2].ID {
			return errors.New("refused")
		}
		return nil
	}}
	relay, err := outbox.NewRelay(store, p, outbox.WithLogger(discard()))
	if err != nil {
		t.Fatal(err)
	}
	if n, err := relay.RelayOnce(ctx); n != 2 || err == nil {
		t.Fatalf("first round: %d, %v; want 2 and the failure", n, err)
	}
	for i, row := range rows {
		v, _ := history(t, store, row.ID).Latest()
		if want := i < 2; v.Published != want || (v.Record != nil) != want {
			t.Errorf("row %d after the failed round: published %v, record %+v", i, v.Published, v.Record)
		}
	}
	failing = false
	if n, err := relay.RelayOnce(ctx); n != 3 || err != nil {
		t.Fatalf("second round: %d, %v; want 3", n, err)
	}
	// The fake producer's offsets count what it acknowledged: rows 0 and
	// 1 at 0 and 1, rows 3 and 4 at 2 and 3 (acknowledged after the
	// failure, so not published), then rows 2 to 4 again at 4 to 6.
	for i, row := range rows {
		v, _ := history(t, store, row.ID).Latest()
		want := int64(i)
		if i >= 2 {
			want = int64(i + 2)
		}
		if v.Record == nil || v.Record.Offset != want || v.Record.Topic != "fake" {
			t.Errorf("row %d: record %+v, want offset %d", i, v.Record, want)
		}
	}
}

// Cleanup deletes the rounds' records after the retention, with the
// replaced versions; the latest version stays, published, without its
// place.
func TestHistoryAfterCleanup(t *testing.T) {
	pool := newPool(t)
	store := newStore(t, pool)
	rows := testrows.Rows(3)
	ctx := testContext(t, time.Minute)
	if _, err := store.Stage(ctx, "run", rows); err != nil {
		t.Fatal(err)
	}
	relay, err := outbox.NewRelay(store, &fakeProducer{}, outbox.WithLogger(discard()))
	if err != nil {
		t.Fatal(err)
	}
	drain(t, relay, store, time.Minute)
	if v, _ := history(t, store, rows[0].ID).Latest(); v.Record == nil {
		t.Fatal("no record before cleanup")
	}
	if _, err := store.DeletePublished(ctx, 0); err != nil {
		t.Fatal(err)
	}
	v, ok := history(t, store, rows[0].ID).Latest()
	if !ok || !v.Published || v.Record != nil {
		t.Errorf("after cleanup: %+v; want the latest version, published, with no record", v)
	}
}

// An outbox of schema version 4 migrates in place: its rows, published
// before, have no record, and rows relayed after the migration do.
func TestHistoryMigratedInPlace(t *testing.T) {
	pool := newPool(t)
	schema := testenv.Name(t, "outbox")
	dropSchemaAtCleanup(t, pool, schema)
	store, err := outbox.NewStore(pool, outbox.WithSchema(schema))
	if err != nil {
		t.Fatal(err)
	}
	ctx := testContext(t, time.Minute)
	if err := store.MigrateTo(ctx, 4); err != nil {
		t.Fatal(err)
	}
	rows := testrows.Rows(2)
	if _, err := store.Stage(ctx, "run", rows[:1]); err != nil {
		t.Fatal(err)
	}
	if err := store.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := store.Stage(ctx, "run", rows[1:]); err != nil {
		t.Fatal(err)
	}
	relay, err := outbox.NewRelay(store, &fakeProducer{}, outbox.WithLogger(discard()))
	if err != nil {
		t.Fatal(err)
	}
	drain(t, relay, store, time.Minute)
	for _, row := range rows {
		if v, _ := history(t, store, row.ID).Latest(); !v.Published || v.Record == nil {
			t.Errorf("%s: %+v; want published with a record", row.ID, v)
		}
	}
}
