package pipeline

import (
	"flag"
	"testing"
)

func TestMemoryLimitFlag(t *testing.T) {
	for in, want := range map[string]int64{"0": 0, "40MiB": 40 << 20, "1GiB": 1 << 30, "512KiB": 512 << 10, "1000": 1000, "1000B": 1000} {
		var c Config
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		c.ServerFlags(fs)
		if c.MemoryLimit != DefaultMemoryLimit {
			t.Fatalf("default %d, want %d", c.MemoryLimit, DefaultMemoryLimit)
		}
		if err := fs.Parse([]string{"-memory-limit", in}); err != nil {
			t.Fatalf("%s: %v", in, err)
		}
		if c.MemoryLimit != want {
			t.Errorf("-memory-limit %s = %d, want %d", in, c.MemoryLimit, want)
		}
	}
	for _, in := range []string{"", "-1", "40MB", "lots", "99999999999TiB"} {
		var c Config
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		fs.SetOutput(discard{})
		c.ServerFlags(fs)
		if err := fs.Parse([]string{"-memory-limit", in}); err == nil {
			t.Errorf("-memory-limit %q accepted as %d", in, c.MemoryLimit)
		}
	}
	limit := int64(40 << 20)
	if got := (byteSize{&limit}).String(); got != "40MiB" {
		t.Errorf("String = %q, want 40MiB", got)
	}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// The dead-letter topic follows -topic unless -dlq-topic names one, in
// either order: poison of one topic never lands among another's.
func TestDLQTopicFollowsTopic(t *testing.T) {
	for _, tc := range []struct {
		args       []string
		topic, dlq string
	}{
		{nil, "users_created", "users_created.dlq"},
		{[]string{"-topic", "orders"}, "orders", "orders.dlq"},
		{[]string{"-dlq-topic", "dead", "-topic", "orders"}, "orders", "dead"},
		{[]string{"-topic", "orders", "-dlq-topic", "dead"}, "orders", "dead"},
	} {
		var c Config
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		c.ServerFlags(fs)
		if err := fs.Parse(tc.args); err != nil {
			t.Fatal(err)
		}
		if c.Topic != tc.topic || c.DLQTopic != tc.dlq {
			t.Errorf("%q: topic %q, dead-letter topic %q; want %q, %q", tc.args, c.Topic, c.DLQTopic, tc.topic, tc.dlq)
		}
	}
}
