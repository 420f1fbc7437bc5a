package kafkasink_test

import (
	"bytes"
	"errors"
	"testing"
	"unicode/utf8"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/userstream/userstream/internal/testrows"
	"github.com/userstream/userstream/kafkasink"
	"github.com/userstream/userstream/transform"
)

// Invalid UTF-8 anywhere in the value is poison, even in a field that
// validation does not look into: the decoder would otherwise store it as
// U+FFFD, silently changing the user's data.
func TestDecodeRecordInvalidUTF8(t *testing.T) {
	row := testrows.Rows(1)[0]
	row.Address = "MARK"
	value := bytes.Replace(transform.AppendJSON(nil, row), []byte("MARK"), []byte("12 Rue de l'\xe9glise"), 1)
	_, err := kafkasink.DecodeRecord(&kgo.Record{Value: value})
	var p *kafkasink.PoisonError
	if !errors.As(err, &p) || p.Reason != kafkasink.ReasonDecode {
		t.Fatalf("DecodeRecord = %v, want a poison error of reason %q", err, kafkasink.ReasonDecode)
	}
}

// FuzzDecodeRecord feeds arbitrary values, with or without a schema-version
// header, to the consumer's decoder. It must never panic; every error must
// be a *PoisonError whose reason matches what the value is; and what it
// accepts must be a valid row that NewRecord encodes back to the same row.
func FuzzDecodeRecord(f *testing.F) {
	for _, r := range testrows.Rows(3) {
		f.Add(transform.AppendJSON(nil, r), transform.SchemaVersion, true)
		f.Add(transform.AppendJSON(nil, r), "", false)
	}
	valid := transform.AppendJSON(nil, testrows.Rows(1)[0])
	f.Add(valid, "2", true)
	f.Add(valid[:len(valid)/2], transform.SchemaVersion, true)
	for _, s := range []string{``, `null`, `[]`, `"x"`, `{}`, `{"id":1}`, "{\"id\":\"\xff\"}", `{"first_name":"\ud800"}`} {
		f.Add([]byte(s), "", false)
	}
	f.Fuzz(func(t *testing.T, value []byte, version string, withHeader bool) {
		rec := &kgo.Record{Value: value}
		if withHeader {
			rec.Headers = []kgo.RecordHeader{{Key: kafkasink.HeaderSchemaVersion, Value: []byte(version)}}
		}
		wrongVersion := withHeader && version != transform.SchemaVersion
		row, err := kafkasink.DecodeRecord(rec)
		if err != nil {
			var p *kafkasink.PoisonError
			if !errors.As(err, &p) {
				t.Fatalf("error %v is not a *PoisonError", err)
			}
			decoded, derr := transform.Unmarshal(value)
			switch p.Reason {
			case kafkasink.ReasonSchemaVersion:
				if !wrongVersion {
					t.Fatalf("reason %q without a foreign schema version", p.Reason)
				}
			case kafkasink.ReasonDecode:
				if wrongVersion || utf8.Valid(value) && derr == nil {
					t.Fatalf("reason %q for a decodable value (version %q, %v)", p.Reason, version, withHeader)
				}
			case kafkasink.ReasonValidate:
				if wrongVersion || !utf8.Valid(value) || derr != nil || decoded.Validate() == nil {
					t.Fatalf("reason %q, but the value decodes to a valid row or not at all (%v)", p.Reason, derr)
				}
			default:
				t.Fatalf("unknown reason %q", p.Reason)
			}
			if p.Error() == "" {
				t.Fatal("empty error text")
			}
			return
		}
		if wrongVersion || !utf8.Valid(value) {
			t.Fatalf("accepted a record of version %q (header %v), valid UTF-8 %v", version, withHeader, utf8.Valid(value))
		}
		if err := row.Validate(); err != nil {
			t.Fatalf("accepted an invalid row: %v", err)
		}
		again, err := kafkasink.NewRecord("users_created", row)
		if err != nil {
			t.Fatalf("NewRecord of an accepted row: %v", err)
		}
		back, err := kafkasink.DecodeRecord(again)
		if err != nil || back != row {
			t.Fatalf("round trip: %+v, %v; want %+v", back, err, row)
		}
	})
}
