package kafkasink

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/userstream/userstream/transform"
)

// Topic names. A consumer's dead-letter topic defaults to the name of the
// topic it consumes followed by DLQSuffix.
const (
	DefaultTopic    = "users_created"
	DLQSuffix       = ".dlq"
	DefaultDLQTopic = DefaultTopic + DLQSuffix // the dead-letter topic of DefaultTopic
)

// DLQTopicFor returns the default dead-letter topic of topic: its name
// followed by [DLQSuffix]. A [Consumer] without [WithDLQTopic] and a
// dlq.Queue given the data topic use it.
func DLQTopicFor(topic string) string { return topic + DLQSuffix }

// Record headers written by [NewRecord] and read by [DecodeRecord].
const (
	HeaderContentType   = "content-type"
	HeaderSchemaVersion = "schema-version"
	// HeaderFetchedAt, when a record has it, is when its user was fetched
	// from the API, in microseconds since the Unix epoch: the start of the
	// fetch-to-stored latency, across processes ([Encoded.FetchedAt],
	// [Message.FetchedAt]). Not the record's timestamp, which Kafka's
	// time-based retention reads: a row relayed late must not expire
	// early.
	HeaderFetchedAt = "fetched-at"
	// HeaderRowVersion, when a record has it, is the version of the row
	// (or of the deletion) the record carries, in decimal microseconds
	// since the Unix epoch ([transform.Change.Version]): a versioned
	// outbox writes it, and the consumer hands it on
	// ([Message.Version]) for the store to write at that time, so that the
	// newest version wins in whatever order the records arrive. A record
	// with this header and a null value is a delete. Records without it
	// are unversioned.
	HeaderRowVersion = "row-version"
)

// Record headers added to a dead-lettered record, beside its original ones.
const (
	HeaderDLQReason    = "dlq-reason" // a Reason constant, or the reason a handler gave
	HeaderDLQError     = "dlq-error"  // the error's text
	HeaderDLQTopic     = "dlq-original-topic"
	HeaderDLQPartition = "dlq-original-partition"
	HeaderDLQOffset    = "dlq-original-offset"
	// HeaderDLQValueDropped is on a dead letter whose record was too
	// large to be written with these headers: it went without its value,
	// and this header gives the value's size in bytes. Such a letter
	// cannot be redriven; its original is at the original position.
	HeaderDLQValueDropped = "dlq-value-dropped"
	// HeaderDLQRedriveCount counts how many times a record has been sent
	// back from the dead-letter topic to be consumed again (package
	// kafkasink/dlq writes it on every record it redrives). The consumer
	// keeps it when it dead-letters the record again, so that a record
	// failing after each redrive is seen to, and a redrive tool can stop
	// at a limit instead of looping forever.
	HeaderDLQRedriveCount = "dlq-redrive-count"
)

// isDLQHeader reports whether key is one of the headers the consumer adds
// to a dead letter (dlq-reason, dlq-error, dlq-original-*,
// dlq-value-dropped), which describe one dead-lettering only. Not
// HeaderDLQRedriveCount, which travels with the record.
func isDLQHeader(key string) bool {
	switch key {
	case HeaderDLQReason, HeaderDLQError, HeaderDLQTopic, HeaderDLQPartition, HeaderDLQOffset, HeaderDLQValueDropped:
		return true
	}
	return false
}

// Reasons a record is dead-lettered, the values of the dlq-reason header:
// all but ReasonRejected for poison, ReasonRejected for a message a
// [Handler] rejected without a reason of its own ([Rejection]).
// ReasonSchemaID and ReasonMagicByte occur in registry mode only
// ([WithSchemaRegistry]).
const (
	ReasonDecode        = "decode"
	ReasonValidate      = "validate"
	ReasonSchemaVersion = "schema-version"
	ReasonRejected      = "rejected"
	// ReasonSchemaID: the value's schema id is not in the registry, or
	// names a schema that is not JSON Schema.
	ReasonSchemaID = "schema-id"
	// ReasonMagicByte: the value is neither in the Confluent wire format
	// (magic byte 0 and a 4-byte schema id) nor plain JSON.
	ReasonMagicByte = "magic-byte"
)

// PoisonError reports a record that can never be processed: its value does
// not decode, the row fails validation, or its schema version or schema id
// is unknown.
// The consumer sends such records to the dead-letter topic.
type PoisonError struct {
	Reason string // one of the Reason constants
	Err    error
}

func (e *PoisonError) Error() string { return "poison record (" + e.Reason + "): " + e.Err.Error() }
func (e *PoisonError) Unwrap() error { return e.Err }

// NewRecord returns the users_created record of row for topic: key = id,
// value = JSON, headers content-type and schema-version. It fails, with a
// *[transform.ValidationError], when the row is invalid, so an invalid row
// never reaches the topic.
func NewRecord(topic string, row transform.Row) (*kgo.Record, error) {
	value, err := transform.Marshal(row)
	if err != nil {
		return nil, fmt.Errorf("encode row %q: %w", row.ID, err)
	}
	rec := record(topic, row.ID, value, time.Time{}, 0)
	rec.Headers = slices.Clone(rec.Headers) // the caller's to change
	return rec, nil
}

// recordHeaders are the headers of every record produced. The producer's
// records share them (franz-go only reads them); NewRecord hands out a
// copy.
var recordHeaders = []kgo.RecordHeader{
	{Key: HeaderContentType, Value: []byte(transform.ContentType)},
	{Key: HeaderSchemaVersion, Value: []byte(transform.SchemaVersion)},
}

// record returns the record of a row's value: with the fetched-at header
// if fetchedAt is not zero, and the row-version header if version is not
// 0. A nil value is a tombstone.
func record(topic, id string, value []byte, fetchedAt time.Time, version int64) *kgo.Record {
	h := recordHeaders[:len(recordHeaders):len(recordHeaders)]
	if !fetchedAt.IsZero() {
		h = append(h, kgo.RecordHeader{Key: HeaderFetchedAt, Value: strconv.AppendInt(nil, fetchedAt.UnixMicro(), 10)})
	}
	if version != 0 {
		h = append(h, kgo.RecordHeader{Key: HeaderRowVersion, Value: strconv.AppendInt(nil, version, 10)})
	}
	return &kgo.Record{Topic: topic, Key: []byte(id), Value: value, Headers: h}
}

// wireRecord turns a plain record into its registry-mode form: the value
// in the Confluent wire format (header, then the JSON), and without the
// content-type and schema-version headers, which the schema id replaces.
// A tombstone (a nil value) stays one: there is no value to prefix.
func wireRecord(rec *kgo.Record, header []byte) *kgo.Record {
	if rec.Value != nil {
		value := make([]byte, 0, len(header)+len(rec.Value))
		rec.Value = append(append(value, header...), rec.Value...)
	}
	rec.Headers = rec.Headers[len(recordHeaders):]
	return rec
}

// fetchedAt reads the fetched-at header of rec; the zero time if it has
// none or an unreadable one (it is informational: never poison).
func fetchedAt(rec *kgo.Record) time.Time {
	for _, h := range rec.Headers {
		if h.Key == HeaderFetchedAt {
			if us, err := strconv.ParseInt(string(h.Value), 10, 64); err == nil && us > 0 {
				return time.UnixMicro(us)
			}
		}
	}
	return time.Time{}
}

// DecodeRecord decodes and validates the row in rec. Every error it returns
// is a *[PoisonError]. A record without a schema-version header is read as
// the current version, as the seed's producer wrote no headers.
func DecodeRecord(rec *kgo.Record) (transform.Row, error) {
	for _, h := range rec.Headers {
		if h.Key == HeaderSchemaVersion && string(h.Value) != transform.SchemaVersion {
			return transform.Row{}, &PoisonError{Reason: ReasonSchemaVersion,
				Err: fmt.Errorf("schema version %q, this decoder reads %q", h.Value, transform.SchemaVersion)}
		}
	}
	if id, ok := wireID(rec.Value); ok {
		return transform.Row{}, &PoisonError{Reason: ReasonDecode,
			Err: fmt.Errorf("value is in the Confluent wire format (schema id %d), not plain JSON: consume it in registry mode (WithSchemaRegistry)", id)}
	}
	return decodeValue(rec.Value)
}

// decodeValue decodes and validates a row's JSON.
func decodeValue(value []byte) (transform.Row, error) {
	// transform.Unmarshal turns invalid UTF-8 into U+FFFD, as encoding/json
	// does; a record that carries it is not JSON (RFC 8259 §8.1) and is
	// dead-lettered rather than stored with its text silently changed.
	if !utf8.Valid(value) {
		return transform.Row{}, &PoisonError{Reason: ReasonDecode, Err: errors.New("value is not valid UTF-8")}
	}
	row, err := transform.Unmarshal(value)
	if err != nil {
		return transform.Row{}, &PoisonError{Reason: ReasonDecode, Err: err}
	}
	if err := row.Validate(); err != nil {
		return transform.Row{}, &PoisonError{Reason: ReasonValidate, Err: err}
	}
	return row, nil
}
