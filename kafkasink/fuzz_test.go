package kafkasink_test

import (
	"bytes"
	"errors"
	"strconv"
	"strings"
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
// header, with or without a row-version header, under an arbitrary key, to
// the consumer's decoder (DecodeChange) and to DecodeRecord. They must
// never panic; every error must be a *PoisonError whose reason matches
// what the record is; what DecodeChange accepts must be a valid row, that
// NewRecord encodes back to the same row, with the header's version, or,
// for a versioned record without a value, the delete of the user its key
// names; DecodeRecord must agree, refusing deletes as unsupported.
func FuzzDecodeRecord(f *testing.F) {
	id := testrows.Rows(1)[0].ID
	for _, r := range testrows.Rows(3) {
		f.Add(transform.AppendJSON(nil, r), transform.SchemaVersion, true, "", false, r.ID)
		f.Add(transform.AppendJSON(nil, r), "", false, "1700000000000000", true, r.ID)
	}
	valid := transform.AppendJSON(nil, testrows.Rows(1)[0])
	f.Add(valid, "2", true, "", false, id)
	f.Add(valid[:len(valid)/2], transform.SchemaVersion, true, "", false, id)
	for _, s := range []string{``, `null`, `[]`, `"x"`, `{}`, `{"id":1}`, "{\"id\":\"\xff\"}", `{"first_name":"\ud800"}`} {
		f.Add([]byte(s), "", false, "", false, id)
	}
	for _, v := range []string{"1", "0", "-1", "+1", " 1", "9223372036854775807", "9223372036854775808", "x", ""} {
		f.Add([]byte(nil), transform.SchemaVersion, true, v, true, id)
		f.Add(valid, "", false, v, true, id)
	}
	for _, k := range []string{"", "x", "00000000-0000-0000-0000-000000000000", strings.ToUpper(id), id + " "} {
		f.Add([]byte(nil), "", false, "5", true, k)
	}
	f.Fuzz(func(t *testing.T, value []byte, version string, withHeader bool, rowVersion string, withRowVersion bool, key string) {
		rec := &kgo.Record{Key: []byte(key), Value: value}
		if withHeader {
			rec.Headers = append(rec.Headers, kgo.RecordHeader{Key: kafkasink.HeaderSchemaVersion, Value: []byte(version)})
		}
		if withRowVersion {
			rec.Headers = append(rec.Headers, kgo.RecordHeader{Key: kafkasink.HeaderRowVersion, Value: []byte(rowVersion)})
		}
		// The oracle: ParseUint takes no sign; 63 bits is int64's range.
		v, verr := strconv.ParseUint(rowVersion, 10, 63)
		badRowVersion := withRowVersion && (verr != nil || v == 0)
		tomb := withRowVersion && !badRowVersion && len(value) == 0
		var idErr error
		var ve *transform.ValidationError
		if errors.As((transform.Row{ID: key}).Validate(), &ve) {
			for _, f := range ve.Fields {
				if f.Field == "id" {
					idErr = f
				}
			}
		}
		wrongVersion := withHeader && version != transform.SchemaVersion

		ch, err := kafkasink.DecodeChange(rec)
		row, rerr := kafkasink.DecodeRecord(rec)
		if err != nil {
			var p *kafkasink.PoisonError
			if !errors.As(err, &p) {
				t.Fatalf("error %v is not a *PoisonError", err)
			}
			if !errors.As(rerr, &p) || rerr.Error() != err.Error() {
				t.Fatalf("DecodeRecord = %v, DecodeChange = %v: want the same poison", rerr, err)
			}
			decoded, derr := transform.Unmarshal(value)
			switch {
			case badRowVersion:
				if p.Reason != kafkasink.ReasonDecode || !strings.Contains(err.Error(), kafkasink.HeaderRowVersion) {
					t.Fatalf("bad row-version %q: %v, want reason %q naming the header", rowVersion, err, kafkasink.ReasonDecode)
				}
			case tomb:
				if p.Reason != kafkasink.ReasonValidate || idErr == nil {
					t.Fatalf("tombstone of key %q: %v, want a delete or, for a key that is no id, reason %q", key, err, kafkasink.ReasonValidate)
				}
			case p.Reason == kafkasink.ReasonSchemaVersion:
				if !wrongVersion {
					t.Fatalf("reason %q without a foreign schema version", p.Reason)
				}
			case p.Reason == kafkasink.ReasonDecode:
				if wrongVersion || utf8.Valid(value) && derr == nil {
					t.Fatalf("reason %q for a decodable value (version %q, %v)", p.Reason, version, withHeader)
				}
			case p.Reason == kafkasink.ReasonValidate:
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
		if badRowVersion {
			t.Fatalf("accepted a record of row-version %q", rowVersion)
		}
		if int64(v) != ch.Version && withRowVersion || !withRowVersion && ch.Version != 0 {
			t.Fatalf("version %d, header %q (%v)", ch.Version, rowVersion, withRowVersion)
		}
		if tomb {
			var p *kafkasink.PoisonError
			if idErr != nil || ch != (transform.Change{Row: transform.Row{ID: key}, Delete: true, Version: int64(v)}) {
				t.Fatalf("tombstone of key %q (%v) decoded to %+v", key, idErr, ch)
			}
			if !errors.As(rerr, &p) || p.Reason != kafkasink.ReasonUnsupported {
				t.Fatalf("DecodeRecord of a delete = %v, want reason %q", rerr, kafkasink.ReasonUnsupported)
			}
			return
		}
		if ch.Delete || wrongVersion || !utf8.Valid(value) {
			t.Fatalf("accepted %+v from a record of version %q (header %v), valid UTF-8 %v", ch, version, withHeader, utf8.Valid(value))
		}
		if rerr != nil || row != ch.Row {
			t.Fatalf("DecodeRecord = %+v, %v; DecodeChange's row %+v", row, rerr, ch.Row)
		}
		if err := ch.Row.Validate(); err != nil {
			t.Fatalf("accepted an invalid row: %v", err)
		}
		again, err := kafkasink.NewRecord("users_created", ch.Row)
		if err != nil {
			t.Fatalf("NewRecord of an accepted row: %v", err)
		}
		back, err := kafkasink.DecodeRecord(again)
		if err != nil || back != ch.Row {
			t.Fatalf("round trip: %+v, %v; want %+v", back, err, ch.Row)
		}
	})
}
