package main

import (
	"flag"
	"io"
	"strings"
	"testing"

	"github.com/userstream/userstream/connect"
)

// -replication: default 1, the environment under the flag, validated.
func TestReplicationFlag(t *testing.T) {
	parse := func(args ...string) (config, error) {
		fs := flag.NewFlagSet("producer", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		return parseFlags(fs, args)
	}
	t.Setenv(connect.EnvReplication, "")
	if c, err := parse(); err != nil || c.replication != 1 {
		t.Fatalf("default: %d, %v; want 1", c.replication, err)
	}
	if _, err := parse("-replication", "0"); err == nil || !strings.Contains(err.Error(), "-replication") {
		t.Errorf("-replication 0: %v, want an error naming the flag", err)
	}
	t.Setenv(connect.EnvReplication, "3")
	if c, err := parse(); err != nil || c.replication != 3 {
		t.Errorf("from the environment: %d, %v; want 3", c.replication, err)
	}
	t.Setenv(connect.EnvReplication, "x")
	if _, err := parse(); err == nil || !strings.Contains(err.Error(), connect.EnvReplication) {
		t.Errorf("%s=x: %v, want an error naming the variable", connect.EnvReplication, err)
	}
	if (connect.Servers{Replication: 1}).Topic("t", 1).Configs != nil || (connect.Servers{Replication: 3}).Topic("t", 1).Configs["min.insync.replicas"] != "2" {
		t.Errorf("topic configs: 1 → %v, 3 → %v", (connect.Servers{Replication: 1}).Topic("t", 1).Configs, (connect.Servers{Replication: 3}).Topic("t", 1).Configs)
	}
}
