package main

import (
	"flag"
	"github.com/userstream/userstream/connect"
	"github.com/userstream/userstream/memlimit"
	"io"
	"testing"
)

func parse(t *testing.T, args ...string) (config, error) {
	t.Helper()
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return parseFlags(fs, args)
}

func TestMemoryLimitFlag(t *testing.T) {
	if c, err := parse(t); err != nil || c.memoryLimit != defaultMemoryLimit {
		t.Fatalf("default %d (%v), want %d", c.memoryLimit, err, defaultMemoryLimit)
	}
	for in, want := range map[string]int64{"0": 0, "40MiB": 40 << 20, "1GiB": 1 << 30, "512KiB": 512 << 10, "1000": 1000, "1000B": 1000} {
		c, err := parse(t, "-memory-limit", in)
		if err != nil {
			t.Fatalf("%s: %v", in, err)
		}
		if c.memoryLimit != want {
			t.Errorf("-memory-limit %s = %d, want %d", in, c.memoryLimit, want)
		}
	}
	for _, in := range []string{"", "-1", "40MB", "lots", "99999999999TiB"} {
		if c, err := parse(t, "-memory-limit", in); err == nil {
			t.Errorf("-memory-limit %q accepted as %d", in, c.memoryLimit)
		}
	}
	limit := int64(40 << 20)
	if got := memlimit.Size(&limit).String(); got != "40MiB" {
		t.Errorf("String = %q, want 40MiB", got)
	}
}

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
		c, err := parse(t, tc.args...)
		if err != nil {
			t.Fatal(err)
		}
		if c.topic != tc.topic || c.dlqTopic != tc.dlq {
			t.Errorf("%q: topic %q, dead-letter topic %q; want %q, %q", tc.args, c.topic, c.dlqTopic, tc.topic, tc.dlq)
		}
	}
}

// Consumer i of a process joins as -instance-id, or id-i when the process
// runs several: two live members with one id would fence each other.
func TestInstanceIDs(t *testing.T) {
	for _, tc := range []struct {
		id           string
		consumers, i int
		want         string
	}{
		{"", 1, 0, ""}, {"", 3, 2, ""}, {"pod-7", 1, 0, "pod-7"}, {"pod-7", 3, 0, "pod-7-0"}, {"pod-7", 3, 2, "pod-7-2"},
	} {
		if got := instanceID(tc.id, tc.consumers, tc.i); got != tc.want {
			t.Errorf("instanceID(%q, %d, %d) = %q, want %q", tc.id, tc.consumers, tc.i, got, tc.want)
		}
	}
}

// The servers' addresses come from the environment, with flags over them.
func TestServerFlagsReadTheEnvironment(t *testing.T) {
	t.Setenv(connect.EnvKafkaBrokers, "k1:9092, k2:9092")
	t.Setenv(connect.EnvCassandraHosts, "c1")
	t.Setenv(connect.EnvPostgresDSN, "postgres://elsewhere/db")
	t.Setenv(envInstanceID, "pod-3")
	c, err := parse(t)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.brokers) != 2 || c.brokers[1] != "k2:9092" || c.cassandraHosts[0] != "c1" || c.postgresDSN != "postgres://elsewhere/db" || c.instanceID != "pod-3" {
		t.Errorf("from the environment: %+v", c)
	}
	if c, _ = parse(t, "-brokers", "k3:9092", "-instance-id", ""); len(c.brokers) != 1 || c.brokers[0] != "k3:9092" || c.instanceID != "" {
		t.Errorf("flags over the environment: brokers %q, instance id %q", c.brokers, c.instanceID)
	}
}

func TestChangeShareFlag(t *testing.T) {
	if c, err := parse(t); err != nil || c.changeShare != 0 {
		t.Fatalf("default %v (%v), want 0", c.changeShare, err)
	}
	if c, err := parse(t, "-offline", "-change-share", "0.25"); err != nil || c.changeShare != 0.25 {
		t.Fatalf("-offline -change-share 0.25: %v (%v)", c.changeShare, err)
	}
	for _, args := range [][]string{{"-change-share", "0.25"}, {"-offline", "-change-share", "1.5"}, {"-offline", "-change-share", "-0.1"}} {
		if _, err := parse(t, args...); err == nil {
			t.Errorf("%q accepted", args)
		}
	}
}
