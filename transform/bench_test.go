package transform_test

import (
	"encoding/json"
	"testing"

	"github.com/userstream/userstream/transform"
)

// The consumer decodes every record, so Unmarshal is the hot path. The
// encoding/json benchmarks are the baseline the hand-written codec is
// measured against.

func BenchmarkMarshal(b *testing.B) {
	row := seedRow
	b.ReportAllocs()
	b.SetBytes(int64(len(transform.AppendJSON(nil, row))))
	for b.Loop() {
		if _, err := transform.Marshal(row); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAppendJSON(b *testing.B) {
	row := seedRow
	buf := transform.AppendJSON(nil, row)
	b.ReportAllocs()
	b.SetBytes(int64(len(buf)))
	for b.Loop() {
		buf = transform.AppendJSON(buf[:0], row)
	}
}

func BenchmarkUnmarshal(b *testing.B) {
	for _, bb := range []struct {
		name string
		data []byte
	}{
		{"compact", transform.AppendJSON(nil, seedRow)},
		{"seed_producer", []byte(seedMessage)},
	} {
		b.Run(bb.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(bb.data)))
			for b.Loop() {
				if _, err := transform.Unmarshal(bb.data); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkValidate(b *testing.B) {
	row := seedRow
	b.ReportAllocs()
	for b.Loop() {
		if err := row.Validate(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkFromUser(b *testing.B) {
	u := apiUser()
	b.ReportAllocs()
	for b.Loop() {
		_ = transform.FromUser(u)
	}
}

func BenchmarkEncodingJSONMarshal(b *testing.B) {
	row := seedRow
	b.ReportAllocs()
	b.SetBytes(int64(len(transform.AppendJSON(nil, row))))
	for b.Loop() {
		if _, err := json.Marshal(row); err != nil {
			b.Fatal(err)
		}
	}
}

// encoding/json cannot read a numeric post_code into a string, so the
// baseline decodes the compact payload only.
func BenchmarkEncodingJSONUnmarshal(b *testing.B) {
	data := transform.AppendJSON(nil, seedRow)
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		var r transform.Row
		if err := json.Unmarshal(data, &r); err != nil {
			b.Fatal(err)
		}
	}
}
