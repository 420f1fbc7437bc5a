package kafkasink_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/userstream/userstream/internal/testrows"
	"github.com/userstream/userstream/kafkasink"
	"github.com/userstream/userstream/transform"
)

func TestNewRecordAndDecodeRecord(t *testing.T) {
	row := testrows.Rows(1)[0]
	rec, err := kafkasink.NewRecord("users_created", row)
	if err != nil {
		t.Fatal(err)
	}
	if string(rec.Key) != row.ID || rec.Topic != "users_created" {
		t.Errorf("record key %q topic %q, want key = id", rec.Key, rec.Topic)
	}
	h := map[string]string{}
	for _, kv := range rec.Headers {
		h[kv.Key] = string(kv.Value)
	}
	if h[kafkasink.HeaderContentType] != transform.ContentType || h[kafkasink.HeaderSchemaVersion] != transform.SchemaVersion {
		t.Errorf("headers = %v", h)
	}
	got, err := kafkasink.DecodeRecord(rec)
	if err != nil || got != row {
		t.Errorf("DecodeRecord = %+v, %v; want %+v", got, err, row)
	}
}

// A record of the seed's (fixed) Python producer: no key, no headers, id as
// a string, a numeric post_code, json.dumps spacing.
func TestDecodeSeedRecord(t *testing.T) {
	rec := &kgo.Record{Value: []byte(`{"id": "9b1deb4d-3b7d-4bad-9bdd-2b0d7b3dcb6d", "first_name": "Ruben", ` +
		`"last_name": "Sj\u00f8berg", "gender": "male", "address": "7161 Kirkegata, Tolga, Vestfold, Norway", ` +
		`"post_code": 5106, "email": "ruben.sjoberg@example.com", "username": "bigduck417", ` +
		`"dob": "1992-03-08T15:13:16.688Z", "registered_date": "2008-04-26T07:39:25.347Z", ` +
		`"phone": "55148291", "picture": "https://randomuser.me/api/portraits/med/men/12.jpg"}`)}
	row, err := kafkasink.DecodeRecord(rec)
	if err != nil {
		t.Fatalf("DecodeRecord: %v", err)
	}
	if row.PostCode != "5106" || row.LastName != "Sjøberg" || row.ID != "9b1deb4d-3b7d-4bad-9bdd-2b0d7b3dcb6d" {
		t.Errorf("decoded %+v", row)
	}
}

func TestDecodeRecordPoison(t *testing.T) {
	valid := transform.AppendJSON(nil, testrows.Rows(1)[0])
	cases := []struct {
		name   string
		rec    *kgo.Record
		reason string
	}{
		{"truncated", &kgo.Record{Value: valid[:len(valid)/2]}, kafkasink.ReasonDecode},
		{"not an object", &kgo.Record{Value: []byte(`"hello"`)}, kafkasink.ReasonDecode},
		{"invalid utf-8", &kgo.Record{Value: []byte("{\"id\": \"\xff\xfe\"}")}, kafkasink.ReasonDecode},
		{"empty", &kgo.Record{}, kafkasink.ReasonDecode},
		{"missing names", &kgo.Record{Value: []byte(`{"id": "9b1deb4d-3b7d-4bad-9bdd-2b0d7b3dcb6d"}`)}, kafkasink.ReasonValidate},
		{"future schema", &kgo.Record{Value: valid, Headers: []kgo.RecordHeader{{Key: kafkasink.HeaderSchemaVersion, Value: []byte("2")}}}, kafkasink.ReasonSchemaVersion},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := kafkasink.DecodeRecord(tc.rec)
			var p *kafkasink.PoisonError
			if !errors.As(err, &p) {
				t.Fatalf("DecodeRecord error = %v, want a *PoisonError", err)
			}
			// Invalid UTF-8 inside a string is a decode error or, if the
			// decoder replaces it, a validation error; both are poison.
			if p.Reason != tc.reason && tc.name != "invalid utf-8" {
				t.Errorf("reason %q, want %q (%v)", p.Reason, tc.reason, err)
			}
		})
	}
}

// versioned returns a record of row with a row-version header; a nil row
// value makes it a tombstone keyed by id.
func versioned(key string, value []byte, version string) *kgo.Record {
	return &kgo.Record{Key: []byte(key), Value: value,
		Headers: []kgo.RecordHeader{{Key: kafkasink.HeaderRowVersion, Value: []byte(version)}}}
}

func TestDecodeChange(t *testing.T) {
	row := testrows.Rows(1)[0]
	value := transform.AppendJSON(nil, row)
	cases := []struct {
		name string
		rec  *kgo.Record
		want transform.Change
	}{
		{"unversioned", &kgo.Record{Key: []byte(row.ID), Value: value}, transform.Change{Row: row}},
		{"versioned upsert", versioned(row.ID, value, "1700000000000001"), transform.Change{Row: row, Version: 1700000000000001}},
		{"delete, null value", versioned(row.ID, nil, "1700000000000002"),
			transform.Change{Row: transform.Row{ID: row.ID}, Delete: true, Version: 1700000000000002}},
		{"delete, empty value", versioned(row.ID, []byte{}, "3"),
			transform.Change{Row: transform.Row{ID: row.ID}, Delete: true, Version: 3}},
		{"delete, upper-case id", versioned("9B1DEB4D-3B7D-4BAD-9BDD-2B0D7B3DCB6D", nil, "4"),
			transform.Change{Row: transform.Row{ID: "9B1DEB4D-3B7D-4BAD-9BDD-2B0D7B3DCB6D"}, Delete: true, Version: 4}},
		{"delete, foreign schema version", func() *kgo.Record {
			r := versioned(row.ID, nil, "5")
			r.Headers = append(r.Headers, kgo.RecordHeader{Key: kafkasink.HeaderSchemaVersion, Value: []byte("2")})
			return r
		}(), transform.Change{Row: transform.Row{ID: row.ID}, Delete: true, Version: 5}},
		{"header twice, same value", func() *kgo.Record {
			r := versioned(row.ID, value, "6")
			r.Headers = append(r.Headers, r.Headers[0])
			return r
		}(), transform.Change{Row: row, Version: 6}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := kafkasink.DecodeChange(tc.rec)
			if err != nil || got != tc.want {
				t.Fatalf("DecodeChange = %+v, %v; want %+v", got, err, tc.want)
			}
			// DecodeRecord agrees on rows and refuses deletes.
			r, err := kafkasink.DecodeRecord(tc.rec)
			var p *kafkasink.PoisonError
			switch {
			case tc.want.Delete && (!errors.As(err, &p) || p.Reason != kafkasink.ReasonUnsupported || !strings.Contains(err.Error(), "DecodeChange")):
				t.Errorf("DecodeRecord of a delete = %v, want poison %q naming DecodeChange", err, kafkasink.ReasonUnsupported)
			case !tc.want.Delete && (err != nil || r != tc.want.Row):
				t.Errorf("DecodeRecord = %+v, %v; want the row", r, err)
			}
		})
	}
}

func TestDecodeChangePoison(t *testing.T) {
	row := testrows.Rows(1)[0]
	value := transform.AppendJSON(nil, row)
	cases := []struct {
		name, reason, errHas string
		rec                  *kgo.Record
	}{
		{"version not a number", kafkasink.ReasonDecode, `row-version is "soon"`, versioned(row.ID, value, "soon")},
		{"version zero", kafkasink.ReasonDecode, "row-version", versioned(row.ID, value, "0")},
		{"version negative", kafkasink.ReasonDecode, "row-version", versioned(row.ID, value, "-5")},
		{"version with a sign", kafkasink.ReasonDecode, "row-version", versioned(row.ID, value, "+5")},
		{"version with a space", kafkasink.ReasonDecode, "row-version", versioned(row.ID, value, " 5")},
		{"version empty", kafkasink.ReasonDecode, "row-version", versioned(row.ID, value, "")},
		{"version overflows", kafkasink.ReasonDecode, "row-version", versioned(row.ID, value, "9223372036854775808")},
		{"version long", kafkasink.ReasonDecode, "(100 bytes)", versioned(row.ID, value, strings.Repeat("7", 100))},
		{"bad version on a delete", kafkasink.ReasonDecode, "row-version", versioned(row.ID, nil, "x")},
		{"versions disagree", kafkasink.ReasonDecode, "given twice", func() *kgo.Record {
			r := versioned(row.ID, value, "6")
			r.Headers = append(r.Headers, kgo.RecordHeader{Key: kafkasink.HeaderRowVersion, Value: []byte("7")})
			return r
		}()},
		{"delete, key not a UUID", kafkasink.ReasonValidate, "id: not a UUID", versioned("user-1", nil, "5")},
		{"delete, no key", kafkasink.ReasonValidate, "id: missing", versioned("", nil, "5")},
		{"delete, nil UUID", kafkasink.ReasonValidate, "nil UUID", versioned("00000000-0000-0000-0000-000000000000", nil, "5")},
		{"null value without the header", kafkasink.ReasonDecode, "", &kgo.Record{Key: []byte(row.ID)}},
		{"versioned, invalid row", kafkasink.ReasonValidate, "", versioned(row.ID, []byte(`{"id":"x"}`), "5")},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := kafkasink.DecodeChange(tc.rec)
			var p *kafkasink.PoisonError
			if !errors.As(err, &p) || p.Reason != tc.reason || !strings.Contains(err.Error(), tc.errHas) {
				t.Fatalf("DecodeChange = %+v, %v; want poison %q mentioning %q", got, err, tc.reason, tc.errHas)
			}
			if _, rerr := kafkasink.DecodeRecord(tc.rec); !errors.As(rerr, &p) || p.Reason != tc.reason {
				t.Errorf("DecodeRecord = %v, want poison %q too", rerr, tc.reason)
			}
		})
	}
}
