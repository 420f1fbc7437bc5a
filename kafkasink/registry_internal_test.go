package kafkasink

import (
	"encoding/binary"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/userstream/userstream/internal/testrows"
	"github.com/userstream/userstream/transform"
)

// The decoding rules of registry mode, once the schema ids of a batch are
// resolved (the registry itself is in registry_test.go): which records are
// rows, which are poison and why. No registry is asked here: the cache of
// resolved ids is filled by hand, as resolve fills it.

func wireHeader(id uint32) []byte { return binary.BigEndian.AppendUint32([]byte{0}, id) }

func TestRegistryDecodeRules(t *testing.T) {
	row := testrows.Rows(1)[0]
	payload, err := transform.Marshal(row)
	if err != nil {
		t.Fatal(err)
	}
	r := &registryConsumer{}
	r.known.Store(7, nil)                                 // a JSON schema
	r.known.Store(8, error(errors.New("an AVRO schema"))) // resolved, not JSON
	unknown := map[int]error{9: errors.New("schema id 9 is not in the registry")}

	for name, tc := range map[string]struct {
		value  []byte
		reason string // "" for a row
		errHas string
	}{
		"wire, known id":     {append(wireHeader(7), payload...), "", ""},
		"plain JSON":         {payload, "", ""},
		"wire, not JSON":     {append(wireHeader(8), payload...), ReasonSchemaID, "AVRO"},
		"wire, unknown id":   {append(wireHeader(9), payload...), ReasonSchemaID, "not in the registry"},
		"wire, never looked": {append(wireHeader(10), payload...), ReasonSchemaID, "not looked up"},
		"magic byte 1":       {append([]byte{1}, payload...), ReasonMagicByte, "0x01"},
		"array":              {[]byte(`[1]`), ReasonMagicByte, "0x5b"},
		"short header":       {[]byte{0, 0, 7}, ReasonMagicByte, "shorter"},
		"empty":              {nil, ReasonMagicByte, "empty"},
		"wire, bad row":      {append(wireHeader(7), `{"id":"x"}`...), ReasonValidate, ""},
		"wire, not UTF-8":    {append(wireHeader(7), 0xff), ReasonDecode, "UTF-8"},
	} {
		got, err := r.decode(&kgo.Record{Value: tc.value}, unknown)
		if tc.reason == "" {
			if err != nil || got.ID != row.ID {
				t.Errorf("%s: decode = %v, %v; want the row", name, got.ID, err)
			}
			continue
		}
		var p *PoisonError
		if !errors.As(err, &p) || p.Reason != tc.reason || !strings.Contains(err.Error(), tc.errHas) {
			t.Errorf("%s: decode error %v, want poison %q mentioning %q", name, err, tc.reason, tc.errHas)
		}
	}

	// Plain mode names the wire format it cannot read.
	_, err = DecodeRecord(&kgo.Record{Value: append(wireHeader(7), payload...)})
	var p *PoisonError
	if !errors.As(err, &p) || p.Reason != ReasonDecode || !strings.Contains(err.Error(), "schema id 7") {
		t.Errorf("DecodeRecord of a wire-format value = %v", err)
	}
}

// In registry mode a tombstone has no wire-format header: a versioned
// record without a value is a delete, read before the magic byte is; a
// versioned wire-format value is its row with the version; a null value
// without the header stays magic-byte poison.
func TestRegistryDecodeChange(t *testing.T) {
	row := testrows.Rows(1)[0]
	payload, err := transform.Marshal(row)
	if err != nil {
		t.Fatal(err)
	}
	r := &registryConsumer{}
	r.known.Store(7, nil)
	version := []kgo.RecordHeader{{Key: HeaderRowVersion, Value: []byte("42")}}

	got, err := decodeChange(&kgo.Record{Key: []byte(row.ID), Headers: version}, r, nil)
	if want := (transform.Change{Row: transform.Row{ID: row.ID}, Delete: true, Version: 42}); err != nil || got != want {
		t.Errorf("tombstone: %+v, %v; want %+v", got, err, want)
	}
	got, err = decodeChange(&kgo.Record{Key: []byte(row.ID), Value: append(wireHeader(7), payload...), Headers: version}, r, nil)
	if want := (transform.Change{Row: row, Version: 42}); err != nil || got != want {
		t.Errorf("versioned wire-format row: %+v, %v; want %+v", got, err, want)
	}
	_, err = decodeChange(&kgo.Record{Key: []byte("nope"), Headers: version}, r, nil)
	var p *PoisonError
	if !errors.As(err, &p) || p.Reason != ReasonValidate {
		t.Errorf("tombstone with a bad key: %v, want poison %q", err, ReasonValidate)
	}
	_, err = decodeChange(&kgo.Record{Key: []byte(row.ID)}, r, nil)
	if !errors.As(err, &p) || p.Reason != ReasonMagicByte {
		t.Errorf("null value without a row-version header: %v, want poison %q", err, ReasonMagicByte)
	}
}

// wireRecord keeps fetched-at and drops the headers the schema id
// replaces.
func TestWireRecordHeaders(t *testing.T) {
	at := time.UnixMicro(1_700_000_000_000_000)
	rec := wireRecord(record("t", "id", []byte(`{}`), at, 0), wireHeader(3))
	if string(rec.Value) != string(append(wireHeader(3), `{}`...)) {
		t.Errorf("value %q", rec.Value)
	}
	if len(rec.Headers) != 1 || rec.Headers[0].Key != HeaderFetchedAt || !fetchedAt(rec).Equal(at) {
		t.Errorf("headers %v, want fetched-at only", rec.Headers)
	}
	if rec := wireRecord(record("t", "id", []byte(`{}`), time.Time{}, 0), wireHeader(3)); len(rec.Headers) != 0 {
		t.Errorf("headers %v, want none", rec.Headers)
	}
}

// BenchmarkWireEncode is the per-row cost of encoding a record, plain and
// in registry mode (the schema id known, as after the first row).
func BenchmarkWireEncode(b *testing.B) {
	row := testrows.Rows(1)[0]
	header := wireHeader(7)
	for _, mode := range []string{"plain", "registry"} {
		b.Run(mode, func(b *testing.B) {
			b.ReportAllocs()
			for range b.N {
				value, err := transform.Marshal(row)
				if err != nil {
					b.Fatal(err)
				}
				rec := record("t", row.ID, value, time.Time{}, 0)
				if mode == "registry" {
					rec = wireRecord(rec, header)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "rows/s")
		})
	}
}

// BenchmarkWireDecode is the per-record cost of decoding and validating,
// plain and in registry mode (the schema id cached, as after the first
// record of an id).
func BenchmarkWireDecode(b *testing.B) {
	row := testrows.Rows(1)[0]
	payload, err := transform.Marshal(row)
	if err != nil {
		b.Fatal(err)
	}
	plain := record("t", row.ID, payload, time.Time{}, 0)
	wire := wireRecord(record("t", row.ID, payload, time.Time{}, 0), wireHeader(7))
	r := &registryConsumer{}
	r.known.Store(7, nil)
	for _, mode := range []string{"plain", "registry"} {
		b.Run(mode, func(b *testing.B) {
			b.ReportAllocs()
			for range b.N {
				var err error
				if mode == "plain" {
					_, err = DecodeRecord(plain)
				} else {
					_, err = r.decode(wire, nil)
				}
				if err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "rows/s")
		})
	}
}

// FuzzDecodeRegistryRecord feeds arbitrary values to the decoder of
// registry mode. It must never panic, and every outcome must follow the
// rules: '{' is a plain record, decoded as DecodeRecord does; a value that
// starts with neither 0 nor '{', or is shorter than the header, is
// magic-byte poison; an id the registry lacks or that is not JSON Schema
// is schema-id poison; a known id's payload decodes as plain JSON does.
func FuzzDecodeRegistryRecord(f *testing.F) {
	for _, r := range testrows.Rows(2) {
		f.Add(append(wireHeader(7), transform.AppendJSON(nil, r)...))
		f.Add(transform.AppendJSON(nil, r))
	}
	for _, v := range [][]byte{nil, {0}, {0, 0, 0, 0}, wireHeader(8), wireHeader(9), append(wireHeader(7), '{', '}'), {1, 2, 3}, []byte("[]")} {
		f.Add(v)
	}
	r := &registryConsumer{}
	r.known.Store(7, nil)
	r.known.Store(8, error(errors.New("not JSON")))
	unknown := map[int]error{9: errors.New("unknown")}
	f.Fuzz(func(t *testing.T, value []byte) {
		rec := &kgo.Record{Value: value}
		row, err := r.decode(rec, unknown)
		var want error
		var wantRow transform.Row
		switch id, wire := wireID(value); {
		case len(value) > 0 && value[0] == '{':
			wantRow, want = DecodeRecord(rec)
		case !wire:
			want = &PoisonError{Reason: ReasonMagicByte}
		case id == 7:
			wantRow, want = decodeValue(value[headerLen:])
		default:
			want = &PoisonError{Reason: ReasonSchemaID}
		}
		if want == nil {
			if err != nil || row != wantRow || row.Validate() != nil {
				t.Fatalf("decode = %+v, %v; want the valid row %+v", row, err, wantRow)
			}
			return
		}
		var got, exp *PoisonError
		if !errors.As(err, &got) || !errors.As(want, &exp) || got.Reason != exp.Reason || got.Error() == "" {
			t.Fatalf("decode error %v, want poison %q", err, exp.Reason)
		}
	})
}
