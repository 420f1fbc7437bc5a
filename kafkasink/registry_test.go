package kafkasink_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/userstream/userstream/internal/testenv"
	"github.com/userstream/userstream/internal/testrows"
	"github.com/userstream/userstream/kafkasink"
	"github.com/userstream/userstream/transform"
)

// The tests of registry mode run against the schema registry of the local
// stack (USERSTREAM_REGISTRY=1 devstack run ...), never a fake: each uses
// subjects of its own (its topic's), so they run in parallel and re-run
// against a long-lived registry.

// newRegistryClient returns a client of the registry in
// USERSTREAM_TEST_SCHEMA_REGISTRY_URL.
func newRegistryClient(t testing.TB) *sr.Client {
	t.Helper()
	// sr's default client gives a request 5 s. A registry just started
	// (a cold JVM) answering the whole suite's parallel tests on two busy
	// cores took longer than that for its first registrations in CI:
	// a slow answer is not what these tests are about.
	cl, err := sr.NewClient(sr.URLs(testenv.SchemaRegistryURL(t)), sr.HTTPClient(&http.Client{Timeout: time.Minute}))
	if err != nil {
		t.Fatal(err)
	}
	return cl
}

// produceRegistry writes rows through a producer in registry mode and
// returns the schema id it registered.
func produceRegistry(t testing.TB, brokers []string, reg *sr.Client, topic string, rows []transform.Row) int {
	t.Helper()
	p, err := kafkasink.NewProducer(brokers, kafkasink.WithTopic(topic), kafkasink.WithLogger(quiet),
		kafkasink.WithSchemaRegistry(reg))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	id, err := p.RegisterSchema(ctx)
	if err != nil {
		t.Fatalf("RegisterSchema: %v", err)
	}
	if _, err := p.ProduceSync(ctx, rows...); err != nil {
		t.Fatalf("ProduceSync: %v", err)
	}
	return id
}

// consumeToEnd runs a consumer of topic in registry mode (or plain, with no
// registry) until it has committed what the topic holds, and returns what
// its handler got.
func consumeToEnd(t testing.TB, brokers []string, reg *sr.Client, topic string) (*collector, kafkasink.Stats) {
	t.Helper()
	col := newCollector()
	opts := []kafkasink.ConsumerOpt{kafkasink.WithTopic(topic), kafkasink.WithLogger(quiet),
		kafkasink.WithBackoff(20*time.Millisecond, 200*time.Millisecond), kafkasink.WithStopAtEnd()}
	if reg != nil {
		opts = append(opts, kafkasink.WithSchemaRegistry(reg))
	}
	c, err := kafkasink.NewConsumer(brokers, testenv.Name(t, "group"), col.handle, opts...)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := runErr(t, c); err != nil {
		t.Fatalf("Run: %v", err)
	}
	return col, c.Stats()
}

// rowJSON is the row as a generic JSON object, as a reader that knows only
// the schema sees it.
func rowJSON(t testing.TB, row transform.Row) map[string]any {
	t.Helper()
	b, err := transform.Marshal(row)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// A producer in registry mode registers the row's schema under
// <topic>-value with BACKWARD compatibility and writes the Confluent wire
// format; a consumer in registry mode reads every row back.
func TestRegistryRoundTrip(t *testing.T) {
	t.Parallel()
	brokers := testenv.KafkaBrokers(t)
	reg := newRegistryClient(t)
	topic := newTopic(t, brokers, 3)
	rows := testrows.Rows(200)
	id := produceRegistry(t, brokers, reg, topic, rows)

	ctx := context.Background()
	subject := kafkasink.ValueSubject(topic)
	if subject != topic+"-value" {
		t.Fatalf("ValueSubject(%q) = %q", topic, subject)
	}
	ss, err := reg.SchemaByVersion(ctx, subject, -1)
	if err != nil {
		t.Fatalf("latest schema of %s: %v", subject, err)
	}
	if ss.ID != id || ss.Type != sr.TypeJSON || ss.Schema.Schema != kafkasink.RegistrySchema().Schema {
		t.Errorf("subject %s holds id %d type %v, want id %d, JSON, RegistrySchema()", subject, ss.ID, ss.Type, id)
	}
	if c := reg.Compatibility(ctx, subject)[0]; c.Err != nil || c.Level != sr.CompatBackward {
		t.Errorf("compatibility of %s = %v, %v; want BACKWARD", subject, c.Level, c.Err)
	}
	// A second producer finds the schema registered: same id, no new
	// version.
	if id2 := produceRegistry(t, brokers, reg, topic, nil); id2 != id {
		t.Errorf("second registration got id %d, want %d", id2, id)
	}
	if vs, err := reg.SubjectVersions(ctx, subject); err != nil || len(vs) != 1 {
		t.Errorf("versions of %s = %v, %v; want one", subject, vs, err)
	}

	for _, rec := range readAll(t, brokers, topic, len(rows)) {
		if len(rec.Value) < 5 || rec.Value[0] != 0 || int(binary.BigEndian.Uint32(rec.Value[1:5])) != id {
			t.Fatalf("value %q does not start with magic byte 0 and schema id %d", rec.Value[:min(8, len(rec.Value))], id)
		}
		h := headers(rec)
		if _, ok := h[kafkasink.HeaderSchemaVersion]; ok {
			t.Errorf("registry-mode record carries a schema-version header: %v", h)
		}
	}

	col, st := consumeToEnd(t, brokers, reg, topic)
	for _, row := range rows {
		if col.seen[row.ID] != 1 {
			t.Errorf("row %s handled %d times, want 1", row.ID, col.seen[row.ID])
		}
	}
	if st.Handled != int64(len(rows)) || st.DeadLettered != 0 {
		t.Errorf("Stats = %+v", st)
	}
}

// Interoperability, both ways, with franz-go's plain sr.Serde, which knows
// nothing of kafkasink: given only the registry's URL, it decodes what
// kafkasink's producer wrote, and kafkasink's consumer reads what it
// encodes.
func TestRegistryInteropWithPlainSerde(t *testing.T) {
	t.Parallel()
	brokers := testenv.KafkaBrokers(t)
	url := testenv.SchemaRegistryURL(t)
	topic := newTopic(t, brokers, 1)
	rows := testrows.Rows(20)
	produceRegistry(t, brokers, newRegistryClient(t), topic, rows[:10])

	// The reader: a client with only the URL, and a Serde that learns
	// each schema id from the registry.
	ctx := context.Background()
	cl, err := sr.NewClient(sr.URLs(url))
	if err != nil {
		t.Fatal(err)
	}
	var serde sr.Serde
	want := map[string]map[string]any{}
	for _, row := range rows {
		want[row.ID] = rowJSON(t, row)
	}
	for _, rec := range readAll(t, brokers, topic, 10) {
		id, _, err := serde.DecodeID(rec.Value)
		if err != nil {
			t.Fatalf("DecodeID: %v", err)
		}
		if !serde.IsRegistered(id) {
			s, err := cl.SchemaByID(ctx, id)
			if err != nil {
				t.Fatalf("SchemaByID(%d): %v", id, err)
			}
			if s.Type != sr.TypeJSON {
				t.Fatalf("schema %d is %v, want JSON", id, s.Type)
			}
			serde.Register(id, map[string]any{}, sr.DecodeFn(json.Unmarshal))
		}
		var got map[string]any
		if err := serde.Decode(rec.Value, &got); err != nil {
			t.Fatalf("sr.Serde.Decode: %v", err)
		}
		if !reflect.DeepEqual(got, want[string(rec.Key)]) {
			t.Errorf("record %s decoded by sr.Serde = %v, want %v", rec.Key, got, want[string(rec.Key)])
		}
	}

	// The writer: the schema registered by a plain client, values encoded
	// by a plain Serde (its JSON has another key order than kafkasink's).
	id, err := cl.RegisterSchema(ctx, kafkasink.ValueSubject(topic), kafkasink.RegistrySchema(), -1, -1)
	if err != nil {
		t.Fatal(err)
	}
	var enc sr.Serde
	enc.Register(id, map[string]any{}, sr.EncodeFn(json.Marshal))
	for _, row := range rows[10:] {
		v, err := enc.Encode(rowJSON(t, row))
		if err != nil {
			t.Fatal(err)
		}
		produceRaw(t, brokers, &kgo.Record{Topic: topic, Key: []byte(row.ID), Value: v})
	}
	col, st := consumeToEnd(t, brokers, newRegistryClient(t), topic)
	for _, row := range rows {
		if col.seen[row.ID] != 1 {
			t.Errorf("row %s handled %d times, want 1", row.ID, col.seen[row.ID])
		}
	}
	if st.DeadLettered != 0 {
		t.Errorf("Stats = %+v", st)
	}
}

// A consumer in registry mode sends to the dead-letter topic, with the
// reason, the records whose schema id the registry does not have or names
// a schema that is not JSON, and those whose value starts with neither the
// magic byte nor '{'; it hands the good ones on.
func TestRegistryPoisonGoesToDeadLetterTopic(t *testing.T) {
	t.Parallel()
	brokers := testenv.KafkaBrokers(t)
	reg := newRegistryClient(t)
	topic := newTopic(t, brokers, 1)
	good := testrows.Rows(3)
	id := produceRegistry(t, brokers, reg, topic, good)

	ctx := context.Background()
	avroID, err := reg.RegisterSchema(ctx, topic+"-avro-value", sr.Schema{Schema: `{"type": "string"}`, Type: sr.TypeAvro}, -1, -1)
	if err != nil {
		t.Fatalf("register an Avro schema: %v", err)
	}
	payload, err := transform.Marshal(testrows.Rows(1)[0])
	if err != nil {
		t.Fatal(err)
	}
	wire := func(id uint32) []byte { return binary.BigEndian.AppendUint32([]byte{0}, id) }
	poison := map[string][]byte{
		"unknown id":   append(wire(1<<31-1), payload...),
		"avro id":      append(wire(uint32(avroID)), payload...),
		"magic byte 1": append([]byte{1}, append(wire(uint32(id))[1:], payload...)...),
		"short":        {0, 0, 1},
		"empty":        {},
		"bad row":      append(wire(uint32(id)), `{"id": "x"}`...),
	}
	wantReason := map[string]string{
		"unknown id": kafkasink.ReasonSchemaID, "avro id": kafkasink.ReasonSchemaID,
		"magic byte 1": kafkasink.ReasonMagicByte, "short": kafkasink.ReasonMagicByte, "empty": kafkasink.ReasonMagicByte,
		"bad row": kafkasink.ReasonValidate,
	}
	for name, v := range poison {
		produceRaw(t, brokers, &kgo.Record{Topic: topic, Key: []byte(name), Value: v})
	}

	col, st := consumeToEnd(t, brokers, reg, topic)
	if col.count() != len(good) || st.DeadLettered != int64(len(poison)) {
		t.Errorf("handled %d, dead-lettered %d; want %d and %d (Stats %+v)", col.count(), st.DeadLettered, len(good), len(poison), st)
	}
	for _, rec := range readAll(t, brokers, topic+kafkasink.DLQSuffix, len(poison)) {
		name, h := string(rec.Key), headers(rec)
		if h[kafkasink.HeaderDLQReason] != wantReason[name] {
			t.Errorf("%s: reason %q (%s), want %q", name, h[kafkasink.HeaderDLQReason], h[kafkasink.HeaderDLQError], wantReason[name])
		}
		if !bytes.Equal(rec.Value, poison[name]) {
			t.Errorf("%s: value changed on its way to the dead-letter topic", name)
		}
	}
}

// A topic switches to registry mode without a stop: a consumer in registry
// mode reads the plain records written before the switch and the wire
// format written after it. A consumer left in plain mode dead-letters the
// new records with a reason that says what they are, which is why the
// consumers switch first.
func TestRegistryMigrationFromPlainRecords(t *testing.T) {
	t.Parallel()
	brokers := testenv.KafkaBrokers(t)
	reg := newRegistryClient(t)
	topic := newTopic(t, brokers, 2)
	rows := testrows.Rows(40)
	produce(t, brokers, topic, rows[:20]) // before the switch: plain JSON
	produceRegistry(t, brokers, reg, topic, rows[20:])

	col, st := consumeToEnd(t, brokers, reg, topic)
	for _, row := range rows {
		if col.seen[row.ID] != 1 {
			t.Errorf("row %s handled %d times, want 1", row.ID, col.seen[row.ID])
		}
	}
	if st.DeadLettered != 0 {
		t.Errorf("registry-mode consumer: Stats = %+v, want nothing dead-lettered", st)
	}

	col, st = consumeToEnd(t, brokers, nil, topic)
	if col.count() != 20 || st.DeadLettered != 20 {
		t.Errorf("plain consumer handled %d and dead-lettered %d, want 20 and 20", col.count(), st.DeadLettered)
	}
	for _, rec := range readAll(t, brokers, topic+kafkasink.DLQSuffix, 20) {
		h := headers(rec)
		if h[kafkasink.HeaderDLQReason] != kafkasink.ReasonDecode || !strings.Contains(h[kafkasink.HeaderDLQError], "Confluent wire format") {
			t.Fatalf("plain consumer dead-lettered a registry record with %q: %q", h[kafkasink.HeaderDLQReason], h[kafkasink.HeaderDLQError])
		}
	}
}

// failingTransport fails requests, as a registry that cannot be reached
// does, while down is set and for the first n requests; the others go to
// the real registry.
type failingTransport struct {
	down atomic.Bool
	mu   sync.Mutex
	n    int
}

var errUnreachable = errors.New("registry unreachable (injected)")

func (f *failingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	f.mu.Lock()
	fail := f.n > 0 || f.down.Load()
	f.n--
	f.mu.Unlock()
	if fail {
		return nil, errUnreachable
	}
	return http.DefaultTransport.RoundTrip(req)
}

// A registry that cannot be reached fails the producer's registration (and
// the rows produced meanwhile) with an error that is not a refusal, and the
// next attempt succeeds; on the consumer's side it holds the partition,
// retried with backoff: nothing is dead-lettered or skipped.
func TestRegistryOutageIsRetriedNotDeadLettered(t *testing.T) {
	t.Parallel()
	brokers := testenv.KafkaBrokers(t)
	url := testenv.SchemaRegistryURL(t)
	topic := newTopic(t, brokers, 1)
	rows := testrows.Rows(10)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	flaky := &failingTransport{}
	flaky.down.Store(true)
	reg, err := sr.NewClient(sr.URLs(url), sr.HTTPClient(&http.Client{Transport: flaky}))
	if err != nil {
		t.Fatal(err)
	}
	p, err := kafkasink.NewProducer(brokers, kafkasink.WithTopic(topic), kafkasink.WithLogger(quiet), kafkasink.WithSchemaRegistry(reg))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if _, err := p.RegisterSchema(ctx); !errors.Is(err, errUnreachable) || errors.Is(err, kafkasink.ErrIncompatibleSchema) {
		t.Fatalf("RegisterSchema with the registry down = %v, want the transport's error", err)
	}
	if _, err := p.ProduceSync(ctx, rows[0]); !errors.Is(err, errUnreachable) {
		t.Fatalf("ProduceSync with the registry down = %v, want the transport's error", err)
	}
	flaky.down.Store(false)
	if _, err := p.ProduceSync(ctx, rows...); err != nil {
		t.Fatalf("ProduceSync once the registry answers: %v", err)
	}

	flaky = &failingTransport{n: 3}
	reg, err = sr.NewClient(sr.URLs(url), sr.HTTPClient(&http.Client{Transport: flaky}))
	if err != nil {
		t.Fatal(err)
	}
	col := newCollector()
	c, err := kafkasink.NewConsumer(brokers, testenv.Name(t, "group"), col.handle, kafkasink.WithTopic(topic),
		kafkasink.WithLogger(quiet), kafkasink.WithBackoff(10*time.Millisecond, 50*time.Millisecond),
		kafkasink.WithStopAtEnd(), kafkasink.WithSchemaRegistry(reg))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := runErr(t, c); err != nil {
		t.Fatalf("Run: %v", err)
	}
	st := c.Stats()
	if col.count() != len(rows) || st.DeadLettered != 0 || st.Retries < 3 {
		t.Errorf("handled %d of %d; Stats %+v; want all handled, none dead-lettered, 3 lookups retried", col.count(), len(rows), st)
	}
}

// evolve returns the registry schema changed by fn, as a next version.
func evolve(t testing.TB, fn func(s map[string]any)) sr.Schema {
	t.Helper()
	var s map[string]any
	if err := json.Unmarshal([]byte(kafkasink.RegistrySchema().Schema), &s); err != nil {
		t.Fatal(err)
	}
	fn(s)
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return sr.Schema{Schema: string(b), Type: sr.TypeJSON}
}

func properties(s map[string]any) map[string]any { return s["properties"].(map[string]any) }

// Schema evolution under the default rule, BACKWARD: a next version that
// adds an optional field is accepted; one that makes a field required, or
// removes one, is refused with an error that names the difference.
func TestSchemaEvolution(t *testing.T) {
	t.Parallel()
	reg := newRegistryClient(t)
	ctx := context.Background()
	subject := kafkasink.ValueSubject(testenv.Name(t, "topic"))

	v1, err := kafkasink.RegisterSchema(ctx, reg, subject, kafkasink.RegistrySchema(), sr.CompatBackward)
	if err != nil {
		t.Fatalf("register the current schema: %v", err)
	}
	added := evolve(t, func(s map[string]any) {
		properties(s)["nickname"] = map[string]any{"type": "string", "maxLength": 1024}
	})
	v2, err := kafkasink.RegisterSchema(ctx, reg, subject, added, sr.CompatBackward)
	if err != nil {
		t.Fatalf("a next version with an added optional field was refused: %v", err)
	}
	if v2 == v1 {
		t.Fatalf("the next version got the current one's id %d", v1)
	}

	refused := map[string]struct {
		schema sr.Schema
		diffs  []string // the difference, as Apicurio or Confluent names it
	}{
		"field made required": {evolve(t, func(s map[string]any) {
			properties(s)["nickname"] = map[string]any{"type": "string", "maxLength": 1024}
			s["required"] = append(s["required"].([]any), "nickname")
		}), []string{"REQUIRED_PROPERTIES_MEMBER_ADDED", "REQUIRED_PROPERTY_ADDED"}},
		"field removed": {evolve(t, func(s map[string]any) {
			properties(s)["nickname"] = map[string]any{"type": "string", "maxLength": 1024}
			delete(properties(s), "dob")
		}), []string{"PROPERTY_SCHEMAS_NARROWED", "PROPERTY_REMOVED"}},
	}
	for name, tc := range refused {
		_, err := kafkasink.RegisterSchema(ctx, reg, subject, tc.schema, sr.CompatBackward)
		var ie *kafkasink.IncompatibleSchemaError
		if !errors.Is(err, kafkasink.ErrIncompatibleSchema) || !errors.As(err, &ie) {
			t.Errorf("%s: RegisterSchema = %v, want an IncompatibleSchemaError", name, err)
			continue
		}
		named := slices.ContainsFunc(tc.diffs, func(d string) bool { return strings.Contains(err.Error(), d) })
		if ie.Subject != subject || ie.Compatibility != sr.CompatBackward || !named {
			t.Errorf("%s: error %q (subject %s, %v); want subject %s, BACKWARD, naming one of %q", name, err, ie.Subject, ie.Compatibility, subject, tc.diffs)
		}
	}
	if vs, err := reg.SubjectVersions(ctx, subject); err != nil || len(vs) != 2 {
		t.Errorf("versions of %s = %v, %v; want the two accepted", subject, vs, err)
	}
}

// A producer whose schema the subject's rule refuses fails at
// RegisterSchema, and fails every row with the same error, before anything
// is produced.
func TestRegistryRefusedSchemaProducesNothing(t *testing.T) {
	t.Parallel()
	brokers := testenv.KafkaBrokers(t)
	reg := newRegistryClient(t)
	topic := newTopic(t, brokers, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	// The subject already holds a version without the picture field; the
	// producer's schema requires it, which BACKWARD forbids.
	older := evolve(t, func(s map[string]any) {
		delete(properties(s), "picture")
		s["required"] = slices.DeleteFunc(s["required"].([]any), func(v any) bool { return v == "picture" })
	})
	if _, err := kafkasink.RegisterSchema(ctx, reg, kafkasink.ValueSubject(topic), older, sr.CompatBackward); err != nil {
		t.Fatal(err)
	}

	p, err := kafkasink.NewProducer(brokers, kafkasink.WithTopic(topic), kafkasink.WithLogger(quiet),
		kafkasink.WithSchemaRegistry(reg))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if _, err := p.RegisterSchema(ctx); !errors.Is(err, kafkasink.ErrIncompatibleSchema) {
		t.Fatalf("RegisterSchema = %v, want ErrIncompatibleSchema", err)
	}
	ds, err := p.ProduceSync(ctx, testrows.Rows(5)...)
	if !errors.Is(err, kafkasink.ErrIncompatibleSchema) {
		t.Fatalf("ProduceSync = %v, want ErrIncompatibleSchema", err)
	}
	for _, d := range ds {
		if !errors.Is(d.Err, kafkasink.ErrIncompatibleSchema) || d.Offset != -1 {
			t.Errorf("delivery %+v, want refused and not produced", d)
		}
	}
	if err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if got := sum(endOffsets(t, brokers, topic)); got != 0 {
		t.Errorf("the topic holds %d records, want none", got)
	}
}

// WithSchemaCompatibility sets the subject's rule; 0 leaves it as it is.
func TestRegistryCompatibilityOption(t *testing.T) {
	t.Parallel()
	brokers := testenv.KafkaBrokers(t)
	reg := newRegistryClient(t)
	ctx := context.Background()
	for _, level := range []sr.CompatibilityLevel{sr.CompatFull, 0} {
		topic := testenv.Name(t, "topic") // no records: the topic need not exist
		subject := kafkasink.ValueSubject(topic)
		if level == 0 {
			if r := reg.SetCompatibility(ctx, sr.SetCompatibility{Level: sr.CompatForwardTransitive}, subject)[0]; r.Err != nil {
				t.Fatal(r.Err)
			}
		}
		p, err := kafkasink.NewProducer(brokers, kafkasink.WithTopic(topic), kafkasink.WithSchemaRegistry(reg),
			kafkasink.WithSchemaCompatibility(level))
		if err != nil {
			t.Fatal(err)
		}
		_, err = p.RegisterSchema(ctx)
		p.Close()
		if err != nil {
			t.Fatal(err)
		}
		want := level
		if level == 0 {
			want = sr.CompatForwardTransitive
		}
		if c := reg.Compatibility(ctx, subject)[0]; c.Err != nil || c.Level != want {
			t.Errorf("WithSchemaCompatibility(%v): subject's rule %v, %v; want %v", level, c.Level, c.Err, want)
		}
	}
	if _, err := kafkasink.NewProducer(brokers, kafkasink.WithSchemaCompatibility(99)); err == nil {
		t.Error("NewProducer accepted WithSchemaCompatibility(99)")
	}
}

// Registrations of the same schema at once, under one subject and under
// several, all succeed (Apicurio answers 409 to some of them, as if the
// rule had refused them; RegisterSchema tells the two apart), and those
// under one subject get one id.
func TestRegisterSchemaConcurrently(t *testing.T) {
	t.Parallel()
	reg := newRegistryClient(t)
	ctx := context.Background()
	shared := kafkasink.ValueSubject(testenv.Name(t, "shared"))
	subjects := []string{shared, shared, shared, shared}
	for range 6 {
		subjects = append(subjects, kafkasink.ValueSubject(testenv.Name(t, "own")))
	}
	ids := make([]int, len(subjects))
	errs := make([]error, len(subjects))
	var wg sync.WaitGroup
	for i, subject := range subjects {
		wg.Go(func() {
			ids[i], errs[i] = kafkasink.RegisterSchema(ctx, reg, subject, kafkasink.RegistrySchema(), sr.CompatBackward)
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("registration %d under %s: %v", i, subjects[i], err)
		}
	}
	if ids[0] != ids[1] || ids[0] != ids[2] || ids[0] != ids[3] {
		t.Errorf("one subject, ids %v; want one id", ids[:4])
	}
}

// registryDialect is what RegistrySchema does to a committed schema file.
func registryDialect(b []byte) []byte {
	return bytes.Replace(b, []byte(`"$schema": "https://json-schema.org/draft/2020-12/schema"`),
		[]byte(`"$schema": "http://json-schema.org/draft-07/schema#"`), 1)
}

// The CI check of the committed schema files against the registry's rule:
// every users_created.vN.json under transform/schema, registered in version
// order under a fresh subject with BACKWARD compatibility, is accepted, and
// the newest is what the producer registers. (transform's tests check the
// files against what the encoder writes.)
func TestCommittedSchemasFollowTheRegistryRule(t *testing.T) {
	t.Parallel()
	reg := newRegistryClient(t)
	ctx := context.Background()
	files, err := filepath.Glob("../transform/schema/users_created.v*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no committed schema files: %v", err)
	}
	version := regexp.MustCompile(`\.v(\d+)\.json$`)
	n := func(f string) int { v, _ := strconv.Atoi(version.FindStringSubmatch(f)[1]); return v }
	slices.SortFunc(files, func(a, b string) int { return n(a) - n(b) })
	if last := n(files[len(files)-1]); strconv.Itoa(last) != transform.SchemaVersion {
		t.Errorf("newest schema file is v%d, transform.SchemaVersion is %s", last, transform.SchemaVersion)
	}

	subject := kafkasink.ValueSubject(testenv.Name(t, "committed"))
	var last []byte
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		last = registryDialect(b)
		if _, err := kafkasink.RegisterSchema(ctx, reg, subject, sr.Schema{Schema: string(last), Type: sr.TypeJSON}, sr.CompatBackward); err != nil {
			t.Fatalf("%s breaks the BACKWARD rule of the versions before it: %v", filepath.Base(f), err)
		}
	}
	if string(last) != kafkasink.RegistrySchema().Schema {
		t.Errorf("the producer registers another schema than the newest committed file %s", filepath.Base(files[len(files)-1]))
	}
}

// RegistrySchema is the committed schema with only its dialect changed
// (no registry needed).
func TestRegistrySchemaIsTheCommittedOne(t *testing.T) {
	got := kafkasink.RegistrySchema()
	if got.Type != sr.TypeJSON {
		t.Errorf("type %v, want JSON", got.Type)
	}
	var reg, file map[string]any
	if err := json.Unmarshal([]byte(got.Schema), &reg); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(transform.PayloadSchema, &file); err != nil {
		t.Fatal(err)
	}
	if reg["$schema"] != "http://json-schema.org/draft-07/schema#" {
		t.Errorf("$schema %q, want draft-07", reg["$schema"])
	}
	delete(reg, "$schema")
	delete(file, "$schema")
	if !reflect.DeepEqual(reg, file) {
		t.Error("RegistrySchema differs from transform.PayloadSchema beyond $schema")
	}
}
