package faults_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/userstream/userstream/internal/testenv"
	"github.com/userstream/userstream/kafkasink"
	"github.com/userstream/userstream/runledger"
	"github.com/userstream/userstream/transform"
)

// brokerMaxMessageBytes is Kafka's default message.max.bytes (1 MiB plus
// the 12-byte batch log overhead), which the local broker keeps. The
// largest poison record is a bit under it.
const brokerMaxMessageBytes = 1048588

// caseHeader names the poison case in each record; the dead-letter copy
// keeps the original headers, so it tells which case arrived.
const caseHeader = "faults-case"

// poisonCase is a record no consumer can store, and the dead-letter reason
// it must get.
type poisonCase struct {
	name    string
	value   []byte // nil: a tombstone
	headers []kgo.RecordHeader
	reason  string
	// dropped: the record is too large to be dead-lettered whole, so its
	// copy there has no value.
	dropped bool
}

func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// validRow is a row that passes validation, with a fresh id.
func validRow() transform.Row {
	return transform.Row{
		ID: newUUID(), FirstName: "Ada", LastName: "Lovelace", Gender: "female",
		Address: "12 Analytical St, London, United Kingdom", PostCode: "N1 9GU",
		Email: "ada@example.com", Username: "ada", DOB: "1815-12-10T08:00:00.000Z",
		RegisteredDate: "2015-03-08T15:13:16.688Z", Phone: "020 7946 0000",
		Picture: "https://randomuser.me/api/portraits/med/women/1.jpg",
	}
}

// withFirstName is the JSON of a valid row whose first_name is raw: bytes
// put between the quotes as they are, so they may be invalid UTF-8.
func withFirstName(raw []byte) []byte {
	const mark = "FIRSTNAMEMARK"
	r := validRow()
	r.FirstName = mark
	return bytes.Replace(transform.AppendJSON(nil, r), []byte(mark), raw, 1)
}

func poisonCases() []poisonCase {
	valid := transform.AppendJSON(nil, validRow())
	noID := validRow()
	noID.ID = ""
	badID := validRow()
	badID.ID = "not-a-uuid"
	badEmail := validRow()
	badEmail.Email = "ada at example dot com"
	// Huge values: a first_name of almost 1 MB, which a producer with the
	// client's default limit (1,000,012 bytes) can still send; and one a bit
	// under the broker's limit, which only a producer configured up to
	// that limit (as Kafka's Java client is by default) can send.
	huge := withFirstName(bytes.Repeat([]byte("a"), 990_000))
	nearLimit := withFirstName(bytes.Repeat([]byte("b"), brokerMaxMessageBytes-8_000))
	return []poisonCase{
		{name: "malformed JSON (truncated object)", value: valid[:len(valid)/2], reason: kafkasink.ReasonDecode},
		{name: "not JSON (an HTML page)", value: []byte("<html><body>502 Bad Gateway</body></html>"), reason: kafkasink.ReasonDecode},
		{name: "JSON null", value: []byte("null"), reason: kafkasink.ReasonDecode},
		{name: "wrong shape: an array of rows", value: append(append([]byte("["), valid...), ']'), reason: kafkasink.ReasonDecode},
		{name: "wrong shape: a string", value: []byte(`"users_created"`), reason: kafkasink.ReasonDecode},
		{name: "wrong shape: first_name is an object", value: bytes.Replace(valid, []byte(`"first_name":"Ada"`), []byte(`"first_name":{"given":"Ada"}`), 1), reason: kafkasink.ReasonDecode},
		{name: "empty value", value: []byte{}, reason: kafkasink.ReasonDecode},
		{name: "tombstone (null value)", value: nil, reason: kafkasink.ReasonDecode},
		{name: "missing id", value: transform.AppendJSON(nil, noID), reason: kafkasink.ReasonValidate},
		{name: "id not a UUID", value: transform.AppendJSON(nil, badID), reason: kafkasink.ReasonValidate},
		{name: "invalid email", value: transform.AppendJSON(nil, badEmail), reason: kafkasink.ReasonValidate},
		{name: "huge first_name (990,000 bytes)", value: huge, reason: kafkasink.ReasonValidate},
		{name: "first_name a bit under the broker limit", value: nearLimit, reason: kafkasink.ReasonValidate, dropped: true},
		{name: "invalid UTF-8 in first_name", value: withFirstName([]byte("Ad\xff\xfea")), reason: kafkasink.ReasonDecode},
		{name: "invalid UTF-8 in id", value: bytes.Replace(valid, valid[7:11], []byte("\xc3\x28\xa0\xa1"), 1), reason: kafkasink.ReasonDecode},
		{name: "unknown schema version", value: valid, headers: []kgo.RecordHeader{{Key: kafkasink.HeaderSchemaVersion, Value: []byte("2")}}, reason: kafkasink.ReasonSchemaVersion},
	}
}

// TestPoisonGoesToDeadLetters produces poison records straight into the
// topic, ahead of a full pipeline run: malformed JSON, JSON of the wrong
// shape, a missing id, huge values (up to a bit under the broker's limit),
// invalid UTF-8, an unknown schema version. Every one must be in the
// dead-letter topic with its reason and error, and the users produced after
// them must all be stored: the pipeline (examples/fullpipeline, as a
// process of its own) never stalls on poison.
func TestPoisonGoesToDeadLetters(t *testing.T) {
	t.Parallel()
	const users = 5000
	bin := buildFullpipeline(t)
	cfg := newConfig(t, "poison", users)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	cl, err := kgo.NewClient(kgo.SeedBrokers(cfg.Brokers...),
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.ProducerBatchCompression(kgo.NoCompression()),
		kgo.ProducerBatchMaxBytes(brokerMaxMessageBytes-100),
		kgo.RequiredAcks(kgo.AllISRAcks()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	for _, spec := range []kafkasink.TopicSpec{
		{Name: cfg.Topic, Partitions: int32(cfg.Partitions), ReplicationFactor: 1},
		{Name: cfg.DLQTopic, Partitions: 1, ReplicationFactor: 1},
	} {
		if _, err := kafkasink.EnsureTopic(ctx, cl, spec); err != nil {
			t.Fatal(err)
		}
	}

	// The poison goes first, spread over the partitions, so that every
	// partition's good users come after some poison.
	cases := poisonCases()
	byName := map[string]poisonCase{}
	where := map[string]string{} // case -> "partition/offset"
	for i, c := range cases {
		byName[c.name] = c
		headers := append([]kgo.RecordHeader{{Key: caseHeader, Value: []byte(c.name)}}, c.headers...)
		rec := &kgo.Record{Topic: cfg.Topic, Partition: int32(i % cfg.Partitions), Key: []byte(fmt.Sprintf("poison-%d", i)),
			Value: c.value, Headers: headers}
		if err := cl.ProduceSync(ctx, rec).FirstErr(); err != nil {
			t.Fatalf("produce %q (%d bytes): %v", c.name, len(c.value), err)
		}
		where[c.name] = fmt.Sprintf("%d/%d", rec.Partition, rec.Offset)
	}

	logs := &testenv.Buffer{}
	start := time.Now()
	// A stalled partition would keep the run from draining: the deadline
	// turns that into a failure instead of a hang.
	rctx, rcancel := context.WithTimeout(ctx, 3*time.Minute)
	r, out, err := runFull(rctx, t, bin, cfg, logs)
	rcancel()
	if err != nil || r.Status != runledger.StatusSucceeded {
		t.Fatalf("run did not finish (stalled on poison?): %v\n%s\nlogs:\n%s", err, out, tail(logs.String(), 20))
	}
	t.Logf("%d users after %d poison records stored in %v", r.Stored, len(cases), time.Since(start).Round(time.Millisecond))
	if v := r.Verification; v == nil || v.Unique != users || v.Found != users {
		t.Errorf("verification %+v, want all %d users found", r.Verification, users)
	}
	if r.TableRows != users {
		t.Errorf("table holds %d rows, want exactly the %d good users (poison stored?)", r.TableRows, users)
	}
	if r.DeadLetters != int64(len(cases)) || r.DeadLettered != int64(len(cases)) {
		t.Errorf("dead-letter topic holds %d records (%d dead-lettered by this run), want %d", r.DeadLetters, r.DeadLettered, len(cases))
	}

	// Each case is in the dead-letter topic once, with its reason, an error
	// text of reasonable size, and where it came from.
	dlq, err := readTopic(ctx, cfg.Brokers, cfg.DLQTopic)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for _, rec := range dlq {
		name := header(rec, caseHeader)
		c, ok := byName[name]
		if !ok {
			t.Errorf("dead-letter record %q is not poison (headers %v)", rec.Key, rec.Headers)
			continue
		}
		seen[name]++
		reason, derr := header(rec, kafkasink.HeaderDLQReason), header(rec, kafkasink.HeaderDLQError)
		t.Logf("%-42s -> %-14s %.160s", name, reason, derr)
		if reason != c.reason {
			t.Errorf("%s: dlq-reason %q, want %q (dlq-error %q)", name, reason, c.reason, derr)
		}
		if derr == "" || len(derr) > 4096 {
			t.Errorf("%s: dlq-error of %d bytes, want a short description", name, len(derr))
		}
		if got := header(rec, kafkasink.HeaderDLQTopic); got != cfg.Topic {
			t.Errorf("%s: dlq-original-topic %q, want %q", name, got, cfg.Topic)
		}
		if got := header(rec, kafkasink.HeaderDLQPartition) + "/" + header(rec, kafkasink.HeaderDLQOffset); got != where[name] {
			t.Errorf("%s: from %s, want %s", name, got, where[name])
		}
		switch {
		case c.dropped:
			if len(rec.Value) != 0 || !strings.Contains(derr, "dropped") {
				t.Errorf("%s: dead-lettered with a value of %d bytes and error %q, want the value dropped and said so", name, len(rec.Value), derr)
			}
		case !bytes.Equal(rec.Value, c.value):
			t.Errorf("%s: dead-letter value differs from the original (%d bytes, want %d)", name, len(rec.Value), len(c.value))
		}
	}
	for _, c := range cases {
		if seen[c.name] != 1 {
			t.Errorf("%s: %d times in the dead-letter topic, want once", c.name, seen[c.name])
		}
	}

	// The ledger says what happened.
	runs, err := ledger(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != 1 || runs[0].Status != runledger.StatusSucceeded || runs[0].DeadLettered != int64(len(cases)) ||
		runs[0].Stored < users {
		t.Errorf("ledger = %+v, want one succeeded run with %d dead-lettered", runs, len(cases))
	}
	if t.Failed() {
		t.Logf("summary:\n%s\nlogs:\n%s", out, tail(logs.String(), 30))
	}
}
