package dlq_test

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/userstream/userstream/internal/testenv"
	"github.com/userstream/userstream/internal/testrows"
	"github.com/userstream/userstream/kafkasink"
	"github.com/userstream/userstream/kafkasink/dlq"
	"github.com/userstream/userstream/transform"
)

// refusedAll is a bulk-write error that rejects every row for good.
type refusedAll int

func (n refusedAll) Error() string { return strconv.Itoa(int(n)) + " rows refused" }
func (n refusedAll) RejectedRows() map[int]error {
	out := map[int]error{}
	for i := range int(n) {
		out[i] = errors.New("refused by the first release")
	}
	return out
}

// A redriven record keeps its row-version header, and a redriven tombstone
// stays a tombstone: a redrive of an old version carries its old version,
// so that a store writing at the version does not let it overwrite a newer
// row, and a delete dead-lettered by RowsHandler (unsupported) is applied
// once the consumer uses ChangesHandler.
func TestRedriveKeepsRowVersion(t *testing.T) {
	t.Parallel()
	brokers := testenv.KafkaBrokers(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	topic := newTopics(t, brokers, 1)
	group := testenv.Name(t, "group")
	rows := testrows.Rows(2)
	upsert, err := kafkasink.NewRecord(topic, rows[0])
	if err != nil {
		t.Fatal(err)
	}
	const oldVersion, deleteVersion = 1_600_000_000_000_001, 1_600_000_000_000_002
	upsert.Headers = append(upsert.Headers, kgo.RecordHeader{Key: kafkasink.HeaderRowVersion, Value: []byte(strconv.Itoa(oldVersion))})
	tombstone := &kgo.Record{Topic: topic, Key: []byte(rows[1].ID),
		Headers: []kgo.RecordHeader{{Key: kafkasink.HeaderRowVersion, Value: []byte(strconv.Itoa(deleteVersion))}}}
	produceRecords(ctx, t, brokers, upsert, tombstone)

	// The first release refuses the row and, a RowsHandler, cannot apply
	// the delete: both are dead-lettered.
	first := kafkasink.RowsHandler(func(_ context.Context, rs []transform.Row) error { return refusedAll(len(rs)) }, kafkasink.RejectedRows)
	consume(t, brokers, topic, group, first)

	q, err := dlq.New(brokers, dlq.WithDataTopic(topic), dlq.WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	letters, err := q.List(ctx, dlq.Selection{All: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(letters) != 2 || letters[0].Reason != kafkasink.ReasonRejected || letters[1].Reason != kafkasink.ReasonUnsupported || letters[1].Value != nil {
		t.Fatalf("letters %s, want the row (%s) and the delete (%s, null value)", describe(letters), kafkasink.ReasonRejected, kafkasink.ReasonUnsupported)
	}

	// Redriven to a consumer that applies changes: the old version keeps
	// its version, the delete is a delete.
	rep, err := q.Redrive(ctx, dlq.Selection{All: true})
	if err != nil || len(rep.Redriven) != 2 {
		t.Fatalf("Redrive = %+v, %v; want both letters sent", rep, err)
	}
	var mu sync.Mutex
	var got []transform.Change
	fixed := kafkasink.ChangesHandler(func(_ context.Context, cs []transform.Change) error {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, cs...)
		return nil
	}, kafkasink.RejectedRows)
	consume(t, brokers, topic, group, fixed)
	want := []transform.Change{
		{Row: rows[0], Version: oldVersion},
		{Row: transform.Row{ID: rows[1].ID}, Delete: true, Version: deleteVersion},
	}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("after the redrive the store got %+v, want %+v", got, want)
	}

	// On the topic: one row-version header each, as sent; the tombstone's
	// value null.
	for i, r := range rep.Redriven {
		rec := readAt(ctx, t, brokers, r.To)
		var versions []string
		for _, h := range rec.Headers {
			if h.Key == kafkasink.HeaderRowVersion {
				versions = append(versions, string(h.Value))
			}
		}
		if wantV := strconv.FormatInt(want[i].Version, 10); len(versions) != 1 || versions[0] != wantV {
			t.Errorf("redriven record %s has row-version headers %q, want [%s]", r.To, versions, wantV)
		}
		if want[i].Delete && rec.Value != nil {
			t.Errorf("redriven tombstone %s has value %q, want null", r.To, rec.Value)
		}
	}
}

// readAt reads the record at p.
func readAt(ctx context.Context, t *testing.T, brokers []string, p dlq.Position) *kgo.Record {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{p.Topic: {p.Partition: kgo.NewOffset().At(p.Offset)}}))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	for {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("record %s not read: %v", p, ctx.Err())
		}
		for _, r := range fs.Records() {
			if r.Offset == p.Offset {
				return r
			}
		}
	}
}
