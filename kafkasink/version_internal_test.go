package kafkasink

import (
	"testing"
	"time"
)

// TestTombstoneInRegistryMode: without a registry at hand, the registry
// form of a tombstone keeps its null value (no wire-format header) and its
// row-version header, and drops content-type and schema-version as every
// registry-mode record does. TestProduceVersionsAndTombstones checks the
// same through a registry.
func TestTombstoneInRegistryMode(t *testing.T) {
	rec := wireRecord(record("t", "id", nil, time.Time{}, 1700000000000001), wireHeader(3))
	if rec.Value != nil {
		t.Fatalf("tombstone value %q, want nil", rec.Value)
	}
	if len(rec.Headers) != 1 || rec.Headers[0].Key != HeaderRowVersion || string(rec.Headers[0].Value) != "1700000000000001" {
		t.Fatalf("headers %v, want only row-version", rec.Headers)
	}
	if rec := record("t", "id", []byte(`{}`), time.Time{}, 0); len(rec.Headers) != len(recordHeaders) {
		t.Fatalf("an unversioned record has headers %v", rec.Headers)
	}
}
