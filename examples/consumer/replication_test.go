package main

import (
	"flag"
	"github.com/userstream/userstream/connect"
	"io"
	"strings"
	"testing"
)

// -replication and -consistency: defaults, the environment under the
// flags, and errors naming the flag.
func TestReplicationAndConsistencyFlags(t *testing.T) {
	parse := func(args ...string) (config, error) {
		fs := flag.NewFlagSet("consumer", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		return parseFlags(fs, args)
	}
	t.Setenv(connect.EnvReplication, "")
	t.Setenv(connect.EnvCassandraConsistency, "")
	if c, err := parse(); err != nil || c.replication != 1 || c.consistency != "local_quorum" {
		t.Fatalf("defaults: %d, %q, %v; want 1, local_quorum", c.replication, c.consistency, err)
	}
	for _, args := range [][]string{{"-replication", "0"}, {"-consistency", "any"}, {"-consistency", "eventual"}} {
		if _, err := parse(args...); err == nil || !strings.Contains(err.Error(), args[0]) {
			t.Errorf("%q: %v, want an error naming the flag", args, err)
		}
	}
	t.Setenv(connect.EnvReplication, "3")
	t.Setenv(connect.EnvCassandraConsistency, "quorum")
	if c, err := parse(); err != nil || c.replication != 3 || c.consistency != "quorum" {
		t.Errorf("from the environment: %d, %q, %v; want 3, quorum", c.replication, c.consistency, err)
	}
	if c, err := parse("-replication", "1", "-consistency", "one"); err != nil || c.replication != 1 || c.consistency != "one" {
		t.Errorf("flags over the environment: %d, %q, %v", c.replication, c.consistency, err)
	}
	if got := (connect.Servers{Replication: 3}).Topic("t", 1).Configs["min.insync.replicas"]; got != "2" {
		t.Errorf("replication 3: min.insync.replicas %q, want 2", got)
	}
}
