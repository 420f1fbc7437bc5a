package dlq_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/userstream/userstream/cassandrastore"
	"github.com/userstream/userstream/internal/testenv"
	"github.com/userstream/userstream/internal/testrows"
	"github.com/userstream/userstream/kafkasink"
	"github.com/userstream/userstream/kafkasink/dlq"
	"github.com/userstream/userstream/transform"
)

// reasonAlias is the reason the consumer's first release gives for a row it
// refuses.
const reasonAlias = "email-alias"

// aliasRefusingHandler is the consumer's first release, with the bug: it
// takes an address with a plus in its local part (ana+news@example.com) for
// an alias, which it wrongly refuses for good, and dead-letters the row; it
// stores the rest. Its fix is the second release, the plain bulk write
// (kafkasink.RowsHandler(store.UpsertMany, kafkasink.RejectedRows)). The
// record itself needs no change: what was broken was the consumer, so a
// redrive after the fix is deployed is the whole remedy.
func aliasRefusingHandler(store *cassandrastore.Store) kafkasink.Handler {
	return func(ctx context.Context, msgs []kafkasink.Message) error {
		var rows []transform.Row
		var refused []kafkasink.Rejection
		for i, m := range msgs {
			if local, _, _ := strings.Cut(m.Row.Email, "@"); strings.Contains(local, "+") {
				refused = append(refused, kafkasink.Rejection{Index: i, Reason: reasonAlias, Err: fmt.Errorf("email %q is an alias", m.Row.Email)})
				continue
			}
			rows = append(rows, m.Row)
		}
		if err := store.UpsertMany(ctx, rows); err != nil {
			return err // retried, never dead-lettered
		}
		return kafkasink.Reject(refused...)
	}
}

// The redrive a person does, end to end on the real stack: a row the
// consumer's first release refuses is dead-lettered; the fixed release is
// deployed and the letter redriven; the row is stored once. Redriving the
// same selection again sends nothing, and even a record sent twice (its
// redrive log lost) stores one row. A record no fix makes valid comes back
// after each redrive with its redrive count, and once the count reaches
// the limit it is not sent again. The dead-letter topic keeps every
// letter throughout.
func TestRedriveAfterTheFixStoresOnce(t *testing.T) {
	t.Parallel()
	brokers, hosts := testenv.KafkaBrokers(t), testenv.CassandraHosts(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	topic := newTopics(t, brokers, 2)
	store := newStore(ctx, t, hosts)
	group := testenv.Name(t, "group")

	// 20 rows, the row with an aliased address, and a record whose id is
	// not a UUID, which fails validation whatever the release.
	good := testrows.Rows(20)
	aliased := testrows.Row(1000)
	aliased.Email = "ana+news@example.com"
	produceRows(ctx, t, brokers, topic, append(good, aliased)...)
	broken := testrows.Row(1001)
	broken.ID = "not-a-uuid"
	produceRecords(ctx, t, brokers, &kgo.Record{Topic: topic, Key: []byte(broken.ID), Value: transform.AppendJSON(nil, broken)})

	consume(t, brokers, topic, group, aliasRefusingHandler(store))
	if n := count(ctx, t, store); n != int64(len(good)) {
		t.Fatalf("first release stored %d rows, want the %d good ones", n, len(good))
	}
	q, err := dlq.New(brokers, dlq.WithDLQTopic(topic+kafkasink.DLQSuffix), dlq.WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	letters, err := q.List(ctx, dlq.Selection{})
	if err != nil {
		t.Fatal(err)
	}
	byReason := map[string]dlq.Letter{}
	for _, l := range letters {
		byReason[l.Reason] = l
	}
	if a, b := byReason[reasonAlias], byReason[kafkasink.ReasonValidate]; len(letters) != 2 || string(a.Key) != aliased.ID ||
		string(b.Key) != broken.ID || a.Original.Topic != topic || a.RedriveCount != 0 || b.RedriveCount != 0 {
		t.Fatalf("letters %s, want the aliased row (%s) and the broken record (%s)", describe(letters), reasonAlias, kafkasink.ReasonValidate)
	}

	// The fix is deployed; the letter is redriven and the row stored.
	fixed := kafkasink.RowsHandler(store.UpsertMany, kafkasink.RejectedRows)
	byAlias := dlq.Selection{Reason: reasonAlias}
	rep, err := q.Redrive(ctx, byAlias)
	if err != nil || len(rep.Redriven) != 1 || len(rep.Skipped) != 0 || rep.Redriven[0].Count != 1 || rep.Redriven[0].To.Topic != topic {
		t.Fatalf("Redrive(%s) = %+v, %v; want one letter redriven to %s with count 1", reasonAlias, rep, err, topic)
	}
	consume(t, brokers, topic, group, fixed)
	if got, err := store.Get(ctx, aliased.ID); err != nil || got.Email != aliased.Email {
		t.Fatalf("after the redrive, Get(%s) = %+v, %v; want the row stored", aliased.ID, got, err)
	}
	want := int64(len(good) + 1)
	if n := count(ctx, t, store); n != want {
		t.Fatalf("%d rows stored after the redrive, want %d", n, want)
	}

	// Again: skipped, nothing written to the topic.
	ends := endOffsets(ctx, t, brokers, topic)
	rep, err = q.Redrive(ctx, byAlias)
	if err != nil || len(rep.Redriven) != 0 || len(rep.Skipped) != 1 || !errors.Is(rep.Skipped[0].Err, dlq.ErrAlreadyRedriven) {
		t.Fatalf("second Redrive(%s) = %+v, %v; want the letter skipped as already redriven", reasonAlias, rep, err)
	}
	if now := endOffsets(ctx, t, brokers, topic); fmt.Sprint(now) != fmt.Sprint(ends) {
		t.Errorf("a redrive that skipped everything wrote to %s: end offsets %v, then %v", topic, ends, now)
	}

	// Sent twice all the same (as when a redrive dies between writing the
	// record and its log entry): still one row.
	lost, err := dlq.New(brokers, dlq.WithDLQTopic(q.Topic()), dlq.WithRedriveLog(testenv.Name(t, "lostlog")), dlq.WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	defer lost.Close()
	t.Cleanup(func() { deleteTopics(brokers, lost.RedriveLog()) })
	if rep, err := lost.Redrive(ctx, byAlias); err != nil || len(rep.Redriven) != 1 {
		t.Fatalf("Redrive without the log = %+v, %v; want the letter sent again", rep, err)
	}
	consume(t, brokers, topic, group, fixed)
	if n := count(ctx, t, store); n != want {
		t.Fatalf("%d rows stored after the record was redriven twice, want %d", n, want)
	}

	// The broken record: back with its count after each redrive, then held.
	byValidate := dlq.Selection{Reason: kafkasink.ReasonValidate}
	for round := 1; round <= dlq.DefaultMaxRedrives; round++ {
		rep, err := q.Redrive(ctx, byValidate)
		if err != nil || len(rep.Redriven) != 1 || rep.Redriven[0].Count != round || len(rep.Skipped) != round-1 {
			t.Fatalf("round %d: Redrive = %+v, %v; want its newest letter sent with count %d, the %d older skipped", round, rep, err, round, round-1)
		}
		consume(t, brokers, topic, group, fixed)
		latest, err := q.Latest(ctx, dlq.Selection{}, 1)
		if err != nil || len(latest) != 1 || latest[0].Reason != kafkasink.ReasonValidate || latest[0].RedriveCount != round ||
			latest[0].Original != rep.Redriven[0].To {
			t.Fatalf("round %d: newest letter %s, %v; want the broken record again, redrive count %d, from %s", round, describe(latest), err, round, rep.Redriven[0].To)
		}
	}
	rep, err = q.Redrive(ctx, byValidate)
	if err != nil || len(rep.Redriven) != 0 || len(rep.Skipped) != dlq.DefaultMaxRedrives+1 {
		t.Fatalf("Redrive at the limit = %+v, %v; want nothing sent", rep, err)
	}
	last := rep.Skipped[len(rep.Skipped)-1]
	if !errors.Is(last.Err, dlq.ErrRedriveLimit) || last.RedriveCount != dlq.DefaultMaxRedrives || last.Original.Topic != topic {
		t.Errorf("newest letter skipped as %+v, want ErrRedriveLimit with count %d and its original position", last, dlq.DefaultMaxRedrives)
	}

	// The dead-letter topic's history is whole: every letter, in order,
	// each marked redriven but the held one.
	all, err := q.List(ctx, dlq.Selection{All: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 2+dlq.DefaultMaxRedrives {
		t.Fatalf("the dead-letter topic holds %s, want %d letters", describe(all), 2+dlq.DefaultMaxRedrives)
	}
	for i, l := range all {
		if l.Offset != int64(i) || (l.Redriven == nil) != (i == len(all)-1) {
			t.Errorf("letter %d: %s, redriven %v", i, describe(all[i:i+1]), l.Redriven)
		}
	}
	if n := count(ctx, t, store); n != want {
		t.Errorf("%d rows stored at the end, want %d", n, want)
	}
}

// consume runs a consumer of the group until it has committed what the
// topic holds at its start.
func consume(t *testing.T, brokers []string, topic, group string, h kafkasink.Handler) {
	t.Helper()
	c, err := kafkasink.NewConsumer(brokers, group, h, kafkasink.WithTopic(topic), kafkasink.WithStopAtEnd(),
		kafkasink.WithLogger(quiet), kafkasink.WithBackoff(10*time.Millisecond, 500*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := c.Run(ctx); err != nil || ctx.Err() != nil {
		t.Fatalf("consumer: %v (context: %v)", err, ctx.Err())
	}
}

func describe(ls []dlq.Letter) string {
	var b strings.Builder
	for _, l := range ls {
		fmt.Fprintf(&b, "\n  %s %s key=%s from=%s redrives=%d err=%q", l.Position, l.Reason, l.Key, l.Original, l.RedriveCount, l.Error)
	}
	return b.String()
}
