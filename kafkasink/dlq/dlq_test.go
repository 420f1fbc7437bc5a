package dlq_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/userstream/userstream/internal/testenv"
	"github.com/userstream/userstream/internal/testrows"
	"github.com/userstream/userstream/kafkasink"
	"github.com/userstream/userstream/kafkasink/dlq"
	"github.com/userstream/userstream/transform"
)

// deadLetter puts n records that do not decode and m that fail validation
// on a new topic, in that order, and has a consumer dead-letter them. It
// returns the topic and a queue of its dead-letter topic.
func deadLetter(t *testing.T, n, m int) (string, *dlq.Queue) {
	t.Helper()
	brokers := testenv.KafkaBrokers(t)
	topic := newTopics(t, brokers, 1)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var recs []*kgo.Record
	for i := range n {
		recs = append(recs, &kgo.Record{Topic: topic, Key: fmt.Appendf(nil, "decode-%d", i), Value: []byte("<html>502</html>"),
			Headers: []kgo.RecordHeader{{Key: "trace-id", Value: fmt.Appendf(nil, "t%d", i)}}})
	}
	for i := range m {
		row := testrows.Row(i)
		row.Email = "not-an-email"
		recs = append(recs, &kgo.Record{Topic: topic, Key: fmt.Appendf(nil, "validate-%d", i), Value: transform.AppendJSON(nil, row)})
	}
	produceRecords(ctx, t, brokers, recs...)
	consume(t, brokers, topic, testenv.Name(t, "group"), func(context.Context, []kafkasink.Message) error { return nil })
	// The consumer writes to its default dead-letter topic; the queue
	// finds it from the data topic.
	q, err := dlq.New(brokers, dlq.WithDataTopic(topic), dlq.WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(q.Close)
	return topic, q
}

func keys(ls []dlq.Letter) string {
	var out []string
	for _, l := range ls {
		out = append(out, string(l.Key))
	}
	return fmt.Sprint(out)
}

// List reads every letter with its reason, error, origin and the record's
// own headers, and narrows by reason and by offsets; Latest returns the
// newest first.
func TestListAndFilter(t *testing.T) {
	t.Parallel()
	topic, q := deadLetter(t, 3, 2)
	ctx := context.Background()

	all, err := q.List(ctx, dlq.Selection{})
	if err != nil {
		t.Fatal(err)
	}
	if got := keys(all); got != "[decode-0 decode-1 decode-2 validate-0 validate-1]" {
		t.Fatalf("List = %s", got)
	}
	for i, l := range all {
		if l.Offset != int64(i) || l.Topic != q.Topic() || l.Original != (dlq.Position{Topic: topic, Partition: 0, Offset: int64(i)}) ||
			l.Error == "" || l.Time.IsZero() || l.Redriven != nil || l.ValueDropped {
			t.Errorf("letter %d = %+v", i, l)
		}
	}
	if h := all[1].Headers; len(h) != 1 || h[0].Key != "trace-id" || string(h[0].Value) != "t1" {
		t.Errorf("letter 1 headers %v, want the record's own trace-id only", h)
	}

	for _, tc := range []struct {
		sel  dlq.Selection
		want string
	}{
		{dlq.Selection{Reason: kafkasink.ReasonValidate}, "[validate-0 validate-1]"},
		{dlq.Selection{Offsets: &dlq.Range{From: 1, To: 3}}, "[decode-1 decode-2 validate-0]"},
		{dlq.Selection{Reason: kafkasink.ReasonDecode, Offsets: &dlq.Range{From: 2, To: 100}}, "[decode-2]"},
		{dlq.Selection{Offsets: &dlq.Range{Partition: 1, From: 0, To: 100}}, "[]"},
	} {
		got, err := q.List(ctx, tc.sel)
		if err != nil || keys(got) != tc.want {
			t.Errorf("List(%+v) = %s, %v; want %s", tc.sel, keys(got), err, tc.want)
		}
	}
	if _, err := q.List(ctx, dlq.Selection{Offsets: &dlq.Range{From: 5, To: 2}}); err == nil {
		t.Error("List with offsets 5 to 2: no error")
	}

	latest, err := q.Latest(ctx, dlq.Selection{}, 2)
	if err != nil || keys(latest) != "[validate-1 validate-0]" {
		t.Errorf("Latest(2) = %s, %v; want the two newest, newest first", keys(latest), err)
	}
	if latest, err := q.Latest(ctx, dlq.Selection{}, 50); err != nil || len(latest) != 5 {
		t.Errorf("Latest(50) = %d letters, %v; want all 5", len(latest), err)
	}
	for _, tc := range []struct {
		sel  dlq.Selection
		n    int
		want string
	}{
		{dlq.Selection{Reason: kafkasink.ReasonDecode}, 2, "[decode-2 decode-1]"},
		// Only one of the last 3 letters is a decode: Latest reads
		// further back for the others.
		{dlq.Selection{Reason: kafkasink.ReasonDecode}, 3, "[decode-2 decode-1 decode-0]"},
		{dlq.Selection{Reason: kafkasink.ReasonValidate}, 50, "[validate-1 validate-0]"},
		{dlq.Selection{Offsets: &dlq.Range{From: 0, To: 1}}, 5, "[decode-1 decode-0]"},
		{dlq.Selection{Reason: kafkasink.ReasonDecode, Offsets: &dlq.Range{From: 1, To: 4}}, 5, "[decode-2 decode-1]"},
		{dlq.Selection{Reason: "no-such-reason"}, 5, "[]"},
	} {
		got, err := q.Latest(ctx, tc.sel, tc.n)
		if err != nil || keys(got) != tc.want {
			t.Errorf("Latest(%+v, %d) = %s, %v; want %s", tc.sel, tc.n, keys(got), err, tc.want)
		}
	}
	if _, err := q.Latest(ctx, dlq.Selection{Offsets: &dlq.Range{From: 5, To: 2}}, 5); err == nil {
		t.Error("Latest with offsets 5 to 2: no error")
	}
}

// Letters reads up to the end at its start: a letter written while it
// runs is left for the next call, so a read always ends.
func TestLettersReadsToTheEndAtItsStart(t *testing.T) {
	t.Parallel()
	_, q := deadLetter(t, 2, 0)
	ctx := context.Background()
	brokers := testenv.KafkaBrokers(t)
	var got []dlq.Letter
	for l, err := range q.Letters(ctx, dlq.Selection{}) {
		if err != nil {
			t.Fatal(err)
		}
		if len(got) == 0 {
			produceRecords(ctx, t, brokers, &kgo.Record{Topic: q.Topic(), Key: []byte("late"), Value: []byte("x")})
		}
		got = append(got, l)
	}
	if keys(got) != "[decode-0 decode-1]" {
		t.Errorf("Letters = %s, want the two letters there at its start", keys(got))
	}
	if all, err := q.List(ctx, dlq.Selection{}); err != nil || len(all) != 3 {
		t.Errorf("List afterwards = %s, %v; want the late letter too", keys(all), err)
	}
}

// A dry run reports what it would send and writes nothing, not even the
// redrive log; a redrive to another topic goes there; Redrive wants a
// selection said.
func TestRedriveDryRunAndTarget(t *testing.T) {
	t.Parallel()
	topic, q := deadLetter(t, 2, 1)
	ctx := context.Background()
	brokers := testenv.KafkaBrokers(t)
	if _, err := q.Redrive(ctx, dlq.Selection{}); !errors.Is(err, dlq.ErrNoSelection) {
		t.Errorf("Redrive(zero Selection) = %v, want ErrNoSelection", err)
	}
	if _, err := q.Redrive(ctx, dlq.Selection{All: true}, dlq.WithTargetTopic(q.Topic())); err == nil {
		t.Error("Redrive to the dead-letter topic itself: no error")
	}
	ends := endOffsets(ctx, t, brokers, topic)
	rep, err := q.Redrive(ctx, dlq.Selection{All: true}, dlq.WithDryRun())
	if err != nil || !rep.DryRun || rep.Selected != 3 || len(rep.Redriven) != 3 || rep.Redriven[0].To != (dlq.Position{}) || rep.Redriven[0].Count != 1 {
		t.Fatalf("dry run = %+v, %v", rep, err)
	}
	if now := endOffsets(ctx, t, brokers, topic); fmt.Sprint(now) != fmt.Sprint(ends) {
		t.Errorf("a dry run wrote to %s: end offsets %v, then %v", topic, ends, now)
	}
	if topicExists(ctx, t, brokers, q.RedriveLog()) {
		t.Errorf("a dry run created the redrive log %s", q.RedriveLog())
	}

	other := testenv.Name(t, "other")
	t.Cleanup(func() { deleteTopics(brokers, other) })
	if _, err := kafkasink.EnsureTopic(ctx, client(t, brokers), kafkasink.TopicSpec{Name: other, Partitions: 1, ReplicationFactor: 1}); err != nil {
		t.Fatal(err)
	}
	rep, err = q.Redrive(ctx, dlq.Selection{Offsets: &dlq.Range{From: 1, To: 1}}, dlq.WithTargetTopic(other))
	if err != nil || len(rep.Redriven) != 1 || rep.Redriven[0].To != (dlq.Position{Topic: other, Partition: 0, Offset: 0}) {
		t.Fatalf("Redrive to %s = %+v, %v", other, rep, err)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(other), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	recs := cl.PollFetches(pctx).Records()
	if len(recs) != 1 || string(recs[0].Key) != "decode-1" || string(recs[0].Value) != "<html>502</html>" {
		t.Fatalf("redriven records %v", recs)
	}
	h := map[string]string{}
	for _, kv := range recs[0].Headers {
		h[kv.Key] = string(kv.Value)
	}
	if len(h) != 2 || h["trace-id"] != "t1" || h[kafkasink.HeaderDLQRedriveCount] != "1" {
		t.Errorf("redriven record's headers %v, want its own and %s=1, no dlq ones", h, kafkasink.HeaderDLQRedriveCount)
	}
	all, err := q.List(ctx, dlq.Selection{})
	if err != nil || len(all) != 3 || all[1].Redriven == nil || all[1].Redriven.To.Topic != other || all[0].Redriven != nil {
		t.Errorf("after the redrive, List = %s, %v; want letter 1 marked redriven to %s", describe(all), err, other)
	}
}

func topicExists(ctx context.Context, t *testing.T, brokers []string, topic string) bool {
	t.Helper()
	req := kmsg.NewPtrMetadataRequest()
	rt := kmsg.NewMetadataRequestTopic()
	rt.Topic = kmsg.StringPtr(topic)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, client(t, brokers))
	if err != nil {
		t.Fatal(err)
	}
	return resp.Topics[0].ErrorCode == 0
}

// A missing dead-letter topic is kafkasink.ErrTopicNotFound, for List,
// Latest and Redrive alike.
func TestMissingTopic(t *testing.T) {
	t.Parallel()
	brokers := testenv.KafkaBrokers(t)
	q, err := dlq.New(brokers, dlq.WithDLQTopic(testenv.Name(t, "missing")), dlq.WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	ctx := context.Background()
	if _, err := q.List(ctx, dlq.Selection{}); !errors.Is(err, kafkasink.ErrTopicNotFound) {
		t.Errorf("List = %v, want ErrTopicNotFound", err)
	}
	if _, err := q.Latest(ctx, dlq.Selection{}, 5); !errors.Is(err, kafkasink.ErrTopicNotFound) {
		t.Errorf("Latest = %v, want ErrTopicNotFound", err)
	}
	if _, err := q.Redrive(ctx, dlq.Selection{All: true}); !errors.Is(err, kafkasink.ErrTopicNotFound) {
		t.Errorf("Redrive = %v, want ErrTopicNotFound", err)
	}
}

func TestNewValidates(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		brokers []string
		opts    []dlq.Opt
	}{
		"no brokers":        {nil, nil},
		"empty topic":       {[]string{"127.0.0.1:1"}, []dlq.Opt{dlq.WithDLQTopic("")}},
		"log is the topic":  {[]string{"127.0.0.1:1"}, []dlq.Opt{dlq.WithDLQTopic("a"), dlq.WithRedriveLog("a")}},
		"zero max redrives": {[]string{"127.0.0.1:1"}, []dlq.Opt{dlq.WithMaxRedrives(0)}},
		"empty data topic":  {[]string{"127.0.0.1:1"}, []dlq.Opt{dlq.WithDataTopic("")}},
	} {
		if q, err := dlq.New(tc.brokers, tc.opts...); err == nil {
			q.Close()
			t.Errorf("%s: New succeeded", name)
		}
	}
	q, err := dlq.New([]string{"127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	if q.Topic() != kafkasink.DefaultDLQTopic || q.RedriveLog() != kafkasink.DefaultDLQTopic+dlq.RedriveLogSuffix {
		t.Errorf("defaults: topic %s, log %s", q.Topic(), q.RedriveLog())
	}
	for _, tc := range []struct {
		opts []dlq.Opt
		want string
	}{
		{[]dlq.Opt{dlq.WithDataTopic("orders")}, "orders.dlq"},
		{[]dlq.Opt{dlq.WithDLQTopic("dead"), dlq.WithDataTopic("orders")}, "dead"},
	} {
		q, err := dlq.New([]string{"127.0.0.1:1"}, tc.opts...)
		if err != nil {
			t.Fatal(err)
		}
		if q.Topic() != tc.want || q.RedriveLog() != tc.want+dlq.RedriveLogSuffix {
			t.Errorf("topic %s, log %s; want %s", q.Topic(), q.RedriveLog(), tc.want)
		}
		q.Close()
	}
}

// A record too large for the dead-letter topic with its headers is
// dead-lettered without its value (kfake fails the first write with
// MESSAGE_TOO_LARGE, which a real broker does only for a record near its
// size limit); such a letter is listed as such and never redriven, and
// its report names where the original is.
func TestValueDroppedIsNotRedriven(t *testing.T) {
	t.Parallel()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "users", "users.dlq"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Topic: "users.dlq", Err: kerr.MessageTooLarge, Count: 1})
	brokers := c.ListenAddrs()
	ctx := context.Background()
	produceRecords(ctx, t, brokers, &kgo.Record{Topic: "users", Key: []byte("big"), Value: []byte("not json, and large")})
	consume(t, brokers, "users", "g", func(context.Context, []kafkasink.Message) error { return nil })

	q, err := dlq.New(brokers, dlq.WithDLQTopic("users.dlq"), dlq.WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	ls, err := q.List(ctx, dlq.Selection{})
	if err != nil || len(ls) != 1 || !ls[0].ValueDropped || ls[0].DroppedBytes != int64(len("not json, and large")) || len(ls[0].Value) != 0 {
		t.Fatalf("List = %s, %v; want one letter without its value", describe(ls), err)
	}
	rep, err := q.Redrive(ctx, dlq.Selection{All: true})
	if err != nil || len(rep.Redriven) != 0 || len(rep.Skipped) != 1 || !errors.Is(rep.Skipped[0].Err, dlq.ErrValueDropped) ||
		rep.Skipped[0].Original != (dlq.Position{Topic: "users", Partition: 0, Offset: 0}) {
		t.Fatalf("Redrive = %+v, %v; want the letter skipped with ErrValueDropped and its original position", rep, err)
	}
}

// Latest answers again from its last read while nothing moved, and reads
// again once a letter arrives or the redrive log records one: a page
// polling it every second sees both.
func TestLatestFollowsTheTopics(t *testing.T) {
	t.Parallel()
	_, q := deadLetter(t, 1, 0)
	ctx := context.Background()
	first, err := q.Latest(ctx, dlq.Selection{}, 5)
	if err != nil || keys(first) != "[decode-0]" || first[0].Redriven != nil {
		t.Fatalf("Latest = %s, %v", keys(first), err)
	}
	if again, err := q.Latest(ctx, dlq.Selection{}, 5); err != nil || keys(again) != "[decode-0]" {
		t.Fatalf("Latest again = %s, %v", keys(again), err)
	}

	if _, err := q.Redrive(ctx, dlq.Selection{All: true}); err != nil {
		t.Fatal(err)
	}
	redriven, err := q.Latest(ctx, dlq.Selection{}, 5)
	if err != nil || len(redriven) != 1 || redriven[0].Redriven == nil {
		t.Fatalf("Latest after a redrive = %+v, %v; want the letter marked redriven", redriven, err)
	}

	produceRecords(ctx, t, testenv.KafkaBrokers(t), &kgo.Record{Topic: q.Topic(), Key: []byte("later"), Value: []byte("x"),
		Headers: []kgo.RecordHeader{{Key: kafkasink.HeaderDLQReason, Value: []byte(kafkasink.ReasonDecode)}}})
	later, err := q.Latest(ctx, dlq.Selection{}, 5)
	if err != nil || keys(later) != "[later decode-0]" {
		t.Fatalf("Latest after a new letter = %s, %v; want it first", keys(later), err)
	}
}
