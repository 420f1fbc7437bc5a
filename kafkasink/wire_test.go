package kafkasink_test

import (
	"errors"
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
