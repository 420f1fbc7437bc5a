package kafkasink_test

import (
	"context"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/userstream/userstream/internal/testenv"
	"github.com/userstream/userstream/internal/testrows"
	"github.com/userstream/userstream/kafkasink"
	"github.com/userstream/userstream/transform"
)

// Versions and deletes, end to end on the real Kafka. The records are
// written with kgo as a versioned outbox writes them (key = id, a
// row-version header, a null value for a delete), not by the producer.

// upsertRec is a record of row at version (unversioned when 0), as the
// producer writes it in plain mode.
func upsertRec(topic string, row transform.Row, version int64) *kgo.Record {
	rec, err := kafkasink.NewRecord(topic, row)
	if err != nil {
		panic(err)
	}
	if version != 0 {
		rec.Headers = append(rec.Headers, kgo.RecordHeader{Key: kafkasink.HeaderRowVersion, Value: strconv.AppendInt(nil, version, 10)})
	}
	return rec
}

// tombstoneRec is the delete of the user key at version: a null value.
func tombstoneRec(topic, key string, version string) *kgo.Record {
	return &kgo.Record{Topic: topic, Key: []byte(key),
		Headers: []kgo.RecordHeader{{Key: kafkasink.HeaderRowVersion, Value: []byte(version)}}}
}

// changeLog is a ChangeWriter that records what it is given, and the
// messages of the handler around it.
type changeLog struct {
	mu      sync.Mutex
	changes []transform.Change
	msgs    []kafkasink.Message
}

func (l *changeLog) write(_ context.Context, cs []transform.Change) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.changes = append(l.changes, cs...)
	return nil
}

// handler is ChangesHandler(l.write, RejectedRows), recording the messages.
func (l *changeLog) handler() kafkasink.Handler {
	h := kafkasink.ChangesHandler(l.write, kafkasink.RejectedRows)
	return func(ctx context.Context, msgs []kafkasink.Message) error {
		l.mu.Lock()
		l.msgs = append(l.msgs, msgs...)
		l.mu.Unlock()
		return h(ctx, msgs)
	}
}

// consumeAll runs a consumer of topic with h until it has committed what
// the topic holds, and returns its stats.
func consumeAll(t testing.TB, brokers []string, topic string, h kafkasink.Handler, opts ...kafkasink.ConsumerOpt) kafkasink.Stats {
	t.Helper()
	opts = append([]kafkasink.ConsumerOpt{kafkasink.WithTopic(topic), kafkasink.WithLogger(quiet),
		kafkasink.WithBackoff(20*time.Millisecond, 200*time.Millisecond), kafkasink.WithStopAtEnd()}, opts...)
	c, err := kafkasink.NewConsumer(brokers, testenv.Name(t, "group"), h, opts...)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := runErr(t, c); err != nil {
		t.Fatalf("Run: %v", err)
	}
	return c.Stats()
}

// dlqByKey reads n dead letters of topic, by key.
func dlqByKey(t testing.TB, brokers []string, topic string, n int) map[string]*kgo.Record {
	t.Helper()
	out := map[string]*kgo.Record{}
	for _, rec := range readAll(t, brokers, topic+kafkasink.DLQSuffix, n) {
		out[string(rec.Key)] = rec
	}
	if len(out) != n {
		t.Fatalf("dead letters %v, want %d of distinct keys", out, n)
	}
	return out
}

// A consumer with ChangesHandler hands the store every version and
// delete, in order, with their fields; a record whose row-version header
// is unreadable, a tombstone whose key is no user id and a null value
// without the header are dead-lettered, with their reasons.
func TestChangesHandlerVersionsAndDeletes(t *testing.T) {
	t.Parallel()
	brokers := testenv.KafkaBrokers(t)
	topic := newTopic(t, brokers, 1)
	rows := testrows.Rows(4)
	a, b, c := rows[0], rows[1], rows[2]
	b2 := b
	b2.Email = "second@example.com"
	produceRaw(t, brokers,
		upsertRec(topic, a, 0),
		upsertRec(topic, b, 1_700_000_000_000_100),
		tombstoneRec(topic, b.ID, "1700000000000200"),
		upsertRec(topic, b2, 1_700_000_000_000_300),
		func() *kgo.Record { // a delete with an empty (not null) value
			r := tombstoneRec(topic, c.ID, "1700000000000400")
			r.Value = []byte{}
			return r
		}(),
	)
	// Poison, keyed by name.
	badVersion := upsertRec(topic, rows[3], 0)
	badVersion.Key = []byte("bad version")
	badVersion.Headers = append(badVersion.Headers, kgo.RecordHeader{Key: kafkasink.HeaderRowVersion, Value: []byte("yesterday")})
	produceRaw(t, brokers,
		badVersion,
		tombstoneRec(topic, "not-a-uuid", "1700000000000500"),
		&kgo.Record{Topic: topic, Key: []byte("null without header")},
	)

	var log changeLog
	st := consumeAll(t, brokers, topic, log.handler())
	want := []transform.Change{
		{Row: a},
		{Row: b, Version: 1_700_000_000_000_100},
		{Row: transform.Row{ID: b.ID}, Delete: true, Version: 1_700_000_000_000_200},
		{Row: b2, Version: 1_700_000_000_000_300},
		{Row: transform.Row{ID: c.ID}, Delete: true, Version: 1_700_000_000_000_400},
	}
	if !reflect.DeepEqual(log.changes, want) {
		t.Fatalf("the store got\n%+v\nwant\n%+v", log.changes, want)
	}
	for i, m := range log.msgs {
		if m.Offset != int64(i) || m.Topic != topic || m.Change() != want[i] || m.Delete != want[i].Delete || m.Version != want[i].Version {
			t.Errorf("message %d = %+v, want offset %d and %+v", i, m, i, want[i])
		}
	}
	if st.Handled != int64(len(want)) || st.DeadLettered != 3 || st.Rejected != 0 {
		t.Errorf("Stats %+v, want %d handled and 3 dead-lettered", st, len(want))
	}

	letters := dlqByKey(t, brokers, topic, 3)
	for key, want := range map[string]struct{ reason, errHas string }{
		"bad version":         {kafkasink.ReasonDecode, `row-version is "yesterday"`},
		"not-a-uuid":          {kafkasink.ReasonValidate, "id: not a UUID"},
		"null without header": {kafkasink.ReasonDecode, ""},
	} {
		h := headers(letters[key])
		if h[kafkasink.HeaderDLQReason] != want.reason || !strings.Contains(h[kafkasink.HeaderDLQError], want.errHas) {
			t.Errorf("%s: dead-lettered as %q (%s), want %q mentioning %q", key, h[kafkasink.HeaderDLQReason], h[kafkasink.HeaderDLQError], want.reason, want.errHas)
		}
	}
	if l := letters["not-a-uuid"]; l.Value != nil || headers(l)[kafkasink.HeaderRowVersion] != "1700000000000500" {
		t.Errorf("the bad tombstone's letter has value %q and headers %v, want a null value and its row-version", l.Value, headers(l))
	}
}

// RowsHandler writes versioned and unversioned rows as rows, and
// dead-letters each delete with ReasonUnsupported (null value and
// row-version kept, for a redrive once the consumer uses ChangesHandler):
// never dropped, never written as an empty row.
func TestRowsHandlerDeadLettersDeletes(t *testing.T) {
	t.Parallel()
	brokers := testenv.KafkaBrokers(t)
	topic := newTopic(t, brokers, 1)
	rows := testrows.Rows(3)
	produceRaw(t, brokers,
		upsertRec(topic, rows[0], 100),
		tombstoneRec(topic, rows[0].ID, "200"),
		upsertRec(topic, rows[1], 0),
		tombstoneRec(topic, rows[2].ID, "300"),
	)
	var mu sync.Mutex
	var written []transform.Row
	write := func(_ context.Context, rs []transform.Row) error {
		mu.Lock()
		defer mu.Unlock()
		for _, r := range rs {
			if r.Validate() != nil {
				t.Errorf("RowsHandler wrote an invalid row %+v", r)
			}
		}
		written = append(written, rs...)
		return nil
	}
	st := consumeAll(t, brokers, topic, kafkasink.RowsHandler(write, kafkasink.RejectedRows))
	if want := rows[:2]; !reflect.DeepEqual(written, want) {
		t.Fatalf("wrote %+v, want the two rows", written)
	}
	if st.Handled != 2 || st.DeadLettered != 2 || st.Rejected != 2 {
		t.Errorf("Stats %+v, want 2 handled, 2 dead-lettered (rejected)", st)
	}
	letters := dlqByKey(t, brokers, topic, 2)
	for key, version := range map[string]string{rows[0].ID: "200", rows[2].ID: "300"} {
		l := letters[key]
		h := headers(l)
		if h[kafkasink.HeaderDLQReason] != kafkasink.ReasonUnsupported || !strings.Contains(h[kafkasink.HeaderDLQError], "ChangesHandler") ||
			h[kafkasink.HeaderRowVersion] != version || l.Value != nil {
			t.Errorf("delete of %s dead-lettered with value %q, headers %v; want reason %q naming ChangesHandler, row-version %s, null value",
				key, l.Value, h, kafkasink.ReasonUnsupported, version)
		}
	}
}

// In registry mode a tombstone has no wire-format header: a consumer
// reads it as a delete, beside versioned rows in the wire format.
func TestRegistryTombstoneIsDelete(t *testing.T) {
	t.Parallel()
	brokers := testenv.KafkaBrokers(t)
	reg := newRegistryClient(t)
	topic := newTopic(t, brokers, 1)
	rows := testrows.Rows(2)
	id := produceRegistry(t, brokers, reg, topic, rows[:1])
	var header sr.ConfluentHeader
	prefix, err := header.AppendEncode(nil, id, nil)
	if err != nil {
		t.Fatal(err)
	}
	payload, err := transform.Marshal(rows[1])
	if err != nil {
		t.Fatal(err)
	}
	produceRaw(t, brokers,
		&kgo.Record{Topic: topic, Key: []byte(rows[1].ID), Value: append(prefix, payload...),
			Headers: []kgo.RecordHeader{{Key: kafkasink.HeaderRowVersion, Value: []byte("10")}}},
		tombstoneRec(topic, rows[0].ID, "20"),
		tombstoneRec(topic, rows[1].ID, "30"),
	)
	var log changeLog
	st := consumeAll(t, brokers, topic, log.handler(), kafkasink.WithSchemaRegistry(reg))
	want := []transform.Change{
		{Row: rows[0]},
		{Row: rows[1], Version: 10},
		{Row: transform.Row{ID: rows[0].ID}, Delete: true, Version: 20},
		{Row: transform.Row{ID: rows[1].ID}, Delete: true, Version: 30},
	}
	if !reflect.DeepEqual(log.changes, want) || st.DeadLettered != 0 {
		t.Fatalf("the store got\n%+v\nwant\n%+v\n(Stats %+v)", log.changes, want, st)
	}
}
