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
// all but ReasonRejected and ReasonUnsupported for poison, ReasonRejected
// for a message a [Handler] rejected without a reason of its own
// ([Rejection]), ReasonUnsupported for a valid record its reader cannot
// apply.
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
	// ReasonUnsupported: a valid record that the reader cannot apply: a
	// delete met by [RowsHandler], whose [RowWriter] writes rows only, or
	// by [DecodeRecord]. Redrive it once the consumer uses
	// [ChangesHandler].
	ReasonUnsupported = "unsupported"
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
// the current version, as the seed's producer wrote no headers. A versioned
// record (one with a [HeaderRowVersion] header) gives its row, the version
// left out; a delete has no row and is a *PoisonError of reason
// [ReasonUnsupported]: read such topics with [DecodeChange].
func DecodeRecord(rec *kgo.Record) (transform.Row, error) {
	c, err := DecodeChange(rec)
	if err != nil {
		return transform.Row{}, err
	}
	if c.Delete {
		return transform.Row{}, &PoisonError{Reason: ReasonUnsupported,
			Err: errors.New("record is a delete (a tombstone with a row-version header), which has no row: decode it with DecodeChange")}
	}
	return c.Row, nil
}

// DecodeChange decodes and validates the change in rec: the user's row or,
// for a tombstone, the user's deletion, with the version of its
// [HeaderRowVersion] header. Every error it returns is a *[PoisonError].
//
//   - A record without a row-version header is read as [DecodeRecord]
//     always read it, unversioned (Version 0); an empty value is poison.
//   - A row-version header that is not a positive decimal int64 is poison
//     ([ReasonDecode]); so are two that disagree.
//   - A record with the header and a null or empty value is a delete of
//     the user its key names: Delete set, Row.ID the key, which must be a
//     UUID as [transform.Row.Validate] wants ids, or the record is poison
//     ([ReasonValidate]). A tombstone has no payload, so its
//     schema-version header, if any, is not looked at.
//   - Any other record is the row of its value, with Version the header's.
func DecodeChange(rec *kgo.Record) (transform.Change, error) {
	return decodeChange(rec, nil, nil)
}

// decodeChange decodes the change in rec: its value is read by plain
// mode's rules when reg is nil, by registry mode's with reg and the
// unknown ids of the batch otherwise.
func decodeChange(rec *kgo.Record, reg *registryConsumer, unknown map[int]error) (transform.Change, error) {
	version, versioned, err := rowVersion(rec)
	if err != nil {
		return transform.Change{}, err
	}
	if versioned && len(rec.Value) == 0 {
		// Before any look at the value: a tombstone has no
		// wire-format header in registry mode either.
		return tombstone(rec, version)
	}
	var row transform.Row
	if reg != nil {
		row, err = reg.decode(rec, unknown)
	} else {
		row, err = decodePlain(rec)
	}
	if err != nil {
		return transform.Change{}, err
	}
	return transform.Change{Row: row, Version: version}, nil
}

// decodePlain decodes and validates the row in rec's plain JSON value.
func decodePlain(rec *kgo.Record) (transform.Row, error) {
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

// rowVersion reads rec's row-version header: versioned is false when it
// has none. An unreadable header is poison: a version read wrong would let
// an old row overwrite a newer one, or a newer one lose to an old one.
func rowVersion(rec *kgo.Record) (version int64, versioned bool, err error) {
	for _, h := range rec.Headers {
		if h.Key != HeaderRowVersion {
			continue
		}
		v, ok := parseVersion(h.Value)
		if !ok {
			return 0, true, &PoisonError{Reason: ReasonDecode,
				Err: fmt.Errorf("header %s is %s, want a positive decimal int64 (microseconds since the Unix epoch)", HeaderRowVersion, quoteShort(h.Value))}
		}
		if versioned && v != version {
			return 0, true, &PoisonError{Reason: ReasonDecode,
				Err: fmt.Errorf("header %s given twice, %d and %d", HeaderRowVersion, version, v)}
		}
		version, versioned = v, true
	}
	return version, versioned, nil
}

// parseVersion parses a row-version header: decimal digits only (no sign,
// no spaces), a positive int64.
func parseVersion(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 19 {
		return 0, false
	}
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	v, err := strconv.ParseInt(string(b), 10, 64)
	return v, err == nil && v > 0
}

// quoteShort quotes b for an error text, cut to 40 bytes: a header may be
// large, and the whole of it is in the dead letter anyway.
func quoteShort(b []byte) string {
	const max = 40
	if len(b) > max {
		return fmt.Sprintf("%q... (%d bytes)", b[:max], len(b))
	}
	return fmt.Sprintf("%q", b)
}

// tombstone is the delete that rec, a versioned record without a value,
// carries: of the user named by its key.
func tombstone(rec *kgo.Record, version int64) (transform.Change, error) {
	id := string(rec.Key)
	if err := validateID(id); err != nil {
		return transform.Change{}, &PoisonError{Reason: ReasonValidate,
			Err: fmt.Errorf("delete (a row-version header and no value): the key must be the user's id: %w", err)}
	}
	return transform.Change{Row: transform.Row{ID: id}, Delete: true, Version: version}, nil
}

// validateID checks id as [transform.Row.Validate] checks a row's id,
// returning a *transform.ValidationError of the id field alone.
func validateID(id string) error {
	var verr *transform.ValidationError
	if !errors.As(transform.Row{ID: id}.Validate(), &verr) {
		return nil
	}
	for _, f := range verr.Fields {
		if f.Field == "id" {
			return &transform.ValidationError{Fields: []transform.FieldError{f}}
		}
	}
	return nil
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
