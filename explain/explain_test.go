package explain_test

import (
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/userstream/userstream/explain"
	"github.com/userstream/userstream/internal/testrows"
	"github.com/userstream/userstream/kafkasink"
	"github.com/userstream/userstream/kafkasink/dlq"
	"github.com/userstream/userstream/kafkasink/outbox"
	"github.com/userstream/userstream/runledger"
	"github.com/userstream/userstream/transform"
)

// keyPlaces reads topic to its end and returns each key's records'
// partitions and offsets, and their row-version headers: the truth the
// explanations are checked against, found by scanning, as explain does not.
func keyPlaces(tb testing.TB, brokers []string, topic string) map[string][]*kgo.Record {
	tb.Helper()
	ctx := testContext(tb, time.Minute)
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		tb.Fatal(err)
	}
	defer cl.Close()
	out := map[string][]*kgo.Record{}
	ends := endOffsets(tb, cl, topic)
	for len(ends) > 0 {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			tb.Fatalf("partitions not read to the end: %v", ends)
		}
		fs.EachRecord(func(r *kgo.Record) {
			out[string(r.Key)] = append(out[string(r.Key)], r)
			if end, ok := ends[r.Partition]; ok && r.Offset+1 >= end {
				delete(ends, r.Partition)
			}
		})
	}
	return out
}

func rowVersion(r *kgo.Record) int64 {
	for _, h := range r.Headers {
		if h.Key == kafkasink.HeaderRowVersion {
			v, _ := strconv.ParseInt(string(h.Value), 10, 64)
			return v
		}
	}
	return 0
}

// fixture is a pipeline of the test's own with an Explainer of it.
type fixture struct {
	box   *outbox.Store
	pool  *pgxpool.Pool
	tbl   table
	p     *pipeline
	runs  *runledger.Ledger
	queue *dlq.Queue
	ex    *explain.Explainer
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	box, pool := newOutbox(t)
	tbl := newTable(t)
	p := newPipeline(t, box, tbl)
	runs, err := runledger.New(pool, runledger.WithSchema(box.Schema()))
	if err != nil {
		t.Fatal(err)
	}
	if err := runs.Migrate(testContext(t, time.Minute)); err != nil {
		t.Fatal(err)
	}
	queue, err := dlq.New(p.Brokers, dlq.WithDataTopic(p.Topic))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(queue.Close)
	ex, err := explain.New(box, tbl.Store, []kgo.Opt{kgo.SeedBrokers(p.Brokers...)},
		explain.WithRuns(runs), explain.WithDeadLetters(queue), explain.WithConsumerGroup(p.Group))
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{box: box, pool: pool, tbl: tbl, p: p, runs: runs, queue: queue, ex: ex}
}

func (f *fixture) explain(t *testing.T, id string) *explain.Report {
	t.Helper()
	rep, err := f.ex.User(testContext(t, time.Minute), id)
	if err != nil {
		t.Fatalf("User(%s): %v", id, err)
	}
	if _, err := json.Marshal(rep); err != nil {
		t.Fatalf("report of %s: json: %v", id, err)
	}
	return rep
}

// One pipeline, users in every state: stored (after an update), deleted,
// dead-lettered, pending, and never staged.
func TestUser(t *testing.T) {
	f := newFixture(t)
	ctx := testContext(t, 5*time.Minute)
	if err := f.runs.Start(ctx, "run-a", "full"); err != nil {
		t.Fatal(err)
	}
	rows := testrows.Rows(12)
	if _, err := f.box.Stage(ctx, "run-a", rows); err != nil {
		t.Fatal(err)
	}
	updated := rows[0]
	updated.Email = "updated@example.com"
	if _, err := f.box.Stage(ctx, "run-b", []transform.Row{updated}); err != nil { // not in the ledger
		t.Fatal(err)
	}
	if _, err := f.box.StageDeletes(ctx, "run-b", []string{rows[1].ID}); err != nil {
		t.Fatal(err)
	}
	// A payload that is not a valid row, inserted by hand: the relay
	// publishes it, the consumer dead-letters it.
	poison := testrows.Row(100).ID
	if _, err := f.pool.Exec(ctx, `INSERT INTO `+pgx.Identifier{f.box.Schema(), "outbox"}.Sanitize()+
		` (id, payload, run_id, fetched_at) VALUES ($1, '{"id": 1}', 'by-hand', now())`, poison); err != nil {
		t.Fatal(err)
	}
	f.p.Carry(t)
	pending := testrows.Row(200)
	if _, err := f.box.Stage(ctx, "run-c", []transform.Row{pending}); err != nil {
		t.Fatal(err)
	}
	truth := keyPlaces(t, f.p.Brokers, f.p.Topic)

	t.Run("stored", func(t *testing.T) {
		rep := f.explain(t, rows[0].ID)
		if rep.Verdict != explain.Stored {
			t.Fatalf("verdict %s: %s", rep.Verdict, rep.Summary)
		}
		vs := rep.Outbox.Versions
		if len(vs) != 2 || !vs[0].Published || !vs[1].Published || vs[0].RunID != "run-a" || vs[1].RunID != "run-b" {
			t.Fatalf("versions %+v", vs)
		}
		latest := vs[1]
		// The place explain reports is the one where the topic, read
		// whole, has the latest version's record.
		recs := truth[rows[0].ID]
		if len(recs) != 2 {
			t.Fatalf("%d records of the id in the topic, want 2", len(recs))
		}
		want := recs[0]
		if rowVersion(recs[1]) == latest.Version {
			want = recs[1]
		}
		k := rep.Kafka
		if !k.Checked || !k.Found || k.Partition != want.Partition || k.Offset != want.Offset || k.Topic != f.p.Topic {
			t.Errorf("kafka %+v; the record is at %d/%d", k, want.Partition, want.Offset)
		}
		if k.RowVersion != latest.Version || rowVersion(want) != latest.Version || !k.FetchedAt.Equal(latest.StagedAt.Truncate(time.Microsecond)) {
			t.Errorf("kafka headers: row-version %d, fetched-at %v; outbox version %d, staged %v", k.RowVersion, k.FetchedAt, latest.Version, latest.StagedAt)
		}
		if k.Consumed == nil || !*k.Consumed {
			t.Errorf("consumed %v, want true: the group ran to the end", k.Consumed)
		}
		if c := rep.Cassandra; !c.Found || c.WriteTime != latest.Version || !c.AtLatest {
			t.Errorf("cassandra %+v, want the row at version %d", c, latest.Version)
		}
		if len(rep.Runs) != 2 || rep.Runs[0].ID != "run-a" || rep.Runs[0].Ledger == nil || rep.Runs[0].Ledger.Kind != "full" ||
			rep.Runs[1].ID != "run-b" || rep.Runs[1].Ledger != nil || rep.Runs[1].Note == "" {
			t.Errorf("runs %+v", rep.Runs)
		}
		if !rep.DeadLetters.Checked || len(rep.DeadLetters.Letters) != 0 || !rep.DeadLetters.Complete {
			t.Errorf("dead letters %+v", rep.DeadLetters)
		}
	})

	t.Run("deleted", func(t *testing.T) {
		rep := f.explain(t, rows[1].ID)
		if rep.Verdict != explain.Deleted {
			t.Fatalf("verdict %s: %s", rep.Verdict, rep.Summary)
		}
		if k := rep.Kafka; !k.Found || !k.Tombstone {
			t.Errorf("kafka %+v, want the tombstone", k)
		}
		if rep.Cassandra.Found {
			t.Errorf("cassandra %+v, want no row", rep.Cassandra)
		}
	})

	t.Run("dead-lettered", func(t *testing.T) {
		rep := f.explain(t, poison)
		if rep.Verdict != explain.DeadLettered {
			t.Fatalf("verdict %s: %s", rep.Verdict, rep.Summary)
		}
		ls := rep.DeadLetters.Letters
		if len(ls) != 1 || ls[0].Reason == "" || ls[0].Original.Topic != f.p.Topic ||
			ls[0].Original.Partition != rep.Kafka.Partition || ls[0].Original.Offset != rep.Kafka.Offset {
			t.Fatalf("letters %+v; the record is at %d/%d", ls, rep.Kafka.Partition, rep.Kafka.Offset)
		}
		if ls[0].RowVersion != rep.Outbox.Versions[0].Version {
			t.Errorf("letter row-version %d, want %d", ls[0].RowVersion, rep.Outbox.Versions[0].Version)
		}
		if rep.Cassandra.Found {
			t.Errorf("cassandra %+v, want no row", rep.Cassandra)
		}
	})

	t.Run("pending", func(t *testing.T) {
		rep := f.explain(t, pending.ID)
		if rep.Verdict != explain.Pending {
			t.Fatalf("verdict %s: %s", rep.Verdict, rep.Summary)
		}
		vs := rep.Outbox.Versions
		if len(vs) != 1 || vs[0].Published || vs[0].Record != nil || vs[0].Seq <= rep.Outbox.Position {
			t.Errorf("versions %+v, position %d", vs, rep.Outbox.Position)
		}
		if rep.Kafka.Checked || rep.Kafka.Found || rep.Kafka.Note == "" || rep.Cassandra.Found {
			t.Errorf("kafka %+v, cassandra %+v: want neither", rep.Kafka, rep.Cassandra)
		}
	})

	t.Run("not staged", func(t *testing.T) {
		rep := f.explain(t, "00000000-0000-4000-8000-000000000000")
		if rep.Verdict != explain.NotStaged || len(rep.Outbox.Versions) != 0 || len(rep.Runs) != 0 ||
			rep.Kafka.Found || rep.Cassandra.Found || !strings.Contains(rep.Summary, "not staged here") {
			t.Errorf("report %+v", rep)
		}
	})

	t.Run("invalid id", func(t *testing.T) {
		var invalid *outbox.InvalidIDError
		if _, err := f.ex.User(ctx, "nope"); !errors.As(err, &invalid) {
			t.Errorf("User(nope) = %v, want an *outbox.InvalidIDError", err)
		}
	})
}

// A record whose place is past the topic's start (deleted by retention)
// is reported gone, not an error; so is a table row written after the
// latest version by hand.
func TestUserGoneAndNewer(t *testing.T) {
	f := newFixture(t)
	ctx := testContext(t, 5*time.Minute)
	rows := testrows.Rows(3)
	if _, err := f.box.Stage(ctx, "run-a", rows); err != nil {
		t.Fatal(err)
	}
	f.p.Carry(t)
	rep := f.explain(t, rows[0].ID)
	if rep.Verdict != explain.Stored {
		t.Fatalf("verdict %s: %s", rep.Verdict, rep.Summary)
	}
	// Delete the records of the partition, as retention would.
	cl, err := kgo.NewClient(kgo.SeedBrokers(f.p.Brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	deleteRecords(t, cl, f.p.Topic, rep.Kafka.Partition, rep.Kafka.Offset+1)
	f.tbl.Exec(t, "UPDATE "+f.tbl.Name+" SET email = 'hand@example.com' WHERE id = ?", rows[0].ID)

	rep = f.explain(t, rows[0].ID)
	if rep.Kafka.Found || !rep.Kafka.Checked || !strings.Contains(rep.Kafka.Note, "no longer in Kafka") {
		t.Errorf("kafka %+v, want gone", rep.Kafka)
	}
	if rep.Verdict != explain.Newer {
		t.Errorf("verdict %s: %s", rep.Verdict, rep.Summary)
	}
}

// Without Kafka options, a table or any option, the hops not given are
// reported unchecked.
func TestUserUnchecked(t *testing.T) {
	box, _ := newOutbox(t)
	ctx := testContext(t, time.Minute)
	row := testrows.Row(1)
	if _, err := box.Stage(ctx, "run", []transform.Row{row}); err != nil {
		t.Fatal(err)
	}
	ex, err := explain.New(box, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := ex.User(ctx, row.ID)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Verdict != explain.Pending || rep.Kafka.Checked || rep.Cassandra.Checked || rep.DeadLetters.Checked ||
		len(rep.Runs) != 1 || rep.Runs[0].Ledger != nil {
		t.Errorf("report %+v", rep)
	}
	if _, err := explain.New(nil, nil, nil); err == nil {
		t.Error("New(nil outbox): no error")
	}
	if _, err := explain.New(box, nil, nil, explain.WithDeadLetterScan(0)); err == nil {
		t.Error("WithDeadLetterScan(0): no error")
	}
}
