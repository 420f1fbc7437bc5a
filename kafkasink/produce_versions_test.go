package kafkasink_test

import (
	"context"
	"encoding/binary"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/userstream/userstream/internal/testenv"
	"github.com/userstream/userstream/internal/testrows"
	"github.com/userstream/userstream/kafkasink"
	"github.com/userstream/userstream/transform"
)

// TestProduceVersionsAndTombstones: ProduceEncodedSync writes a version in
// the row-version header (decimal microseconds), none for a row without
// one, and a delete as a tombstone (key the id, a null value, whatever
// Value held), in plain mode and in registry mode, where a tombstone gets
// no wire-format header. The records are read back raw.
func TestProduceVersionsAndTombstones(t *testing.T) {
	t.Parallel()
	brokers := testenv.KafkaBrokers(t)
	for _, registry := range []bool{false, true} {
		name := "plain"
		if registry {
			name = "registry"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			topic := newTopicOnly(t, brokers, 1)
			opts := []kafkasink.ProducerOpt{kafkasink.WithTopic(topic), kafkasink.WithLogger(quiet)}
			if registry {
				opts = append(opts, kafkasink.WithSchemaRegistry(newRegistryClient(t)))
			}
			p, err := kafkasink.NewProducer(brokers, opts...)
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()

			rows := testrows.Rows(2)
			values := make([][]byte, 2)
			for i, r := range rows {
				if values[i], err = transform.Marshal(r); err != nil {
					t.Fatal(err)
				}
			}
			version := time.Now().UnixMicro()
			fetched := time.Now().Add(-time.Second)
			sent := []kafkasink.Encoded{
				{ID: rows[0].ID, Value: values[0], FetchedAt: fetched, Version: version},
				{ID: rows[1].ID, Value: values[1]}, // unversioned
				{ID: rows[0].ID, Delete: true, Version: version + 1},
				{ID: rows[1].ID, Value: values[1], Delete: true, Version: version + 2}, // Delete wins over Value
			}
			if _, err := p.ProduceEncodedSync(ctx, sent...); err != nil {
				t.Fatalf("ProduceEncodedSync: %v", err)
			}
			got := readAll(t, brokers, topic, len(sent))
			if len(got) != len(sent) {
				t.Fatalf("read %d records, want %d", len(got), len(sent))
			}
			for i, rec := range got {
				e := sent[i]
				if string(rec.Key) != e.ID {
					t.Errorf("record %d: key %q, want %q", i, rec.Key, e.ID)
				}
				hv, hasVersion := header(rec, kafkasink.HeaderRowVersion)
				switch {
				case e.Version == 0 && hasVersion:
					t.Errorf("record %d: row-version %q on an unversioned row", i, hv)
				case e.Version != 0 && hv != strconv.FormatInt(e.Version, 10):
					t.Errorf("record %d: row-version %q (present %v), want %d", i, hv, hasVersion, e.Version)
				}
				_, hasType := header(rec, kafkasink.HeaderContentType)
				if hasType == registry {
					t.Errorf("record %d: content-type header present %v in registry mode %v", i, hasType, registry)
				}
				if e.Delete {
					if rec.Value != nil {
						t.Errorf("record %d: a delete with value %q, want a tombstone", i, rec.Value)
					}
					continue
				}
				value := rec.Value
				if registry {
					if len(value) < 5 || value[0] != 0 || binary.BigEndian.Uint32(value[1:5]) == 0 {
						t.Fatalf("record %d: value %q is not in the wire format", i, value)
					}
					value = value[5:]
				}
				if string(value) != string(e.Value) {
					t.Errorf("record %d: value %s, want %s", i, value, e.Value)
				}
			}
			if at, ok := header(got[0], kafkasink.HeaderFetchedAt); !ok || at != strconv.FormatInt(fetched.UnixMicro(), 10) {
				t.Errorf("record 0: fetched-at %q, want %d", at, fetched.UnixMicro())
			}
		})
	}
}

// header returns the value of rec's header key, and whether it has one.
func header(rec *kgo.Record, key string) (string, bool) {
	for _, h := range rec.Headers {
		if h.Key == key {
			return string(h.Value), true
		}
	}
	return "", false
}
