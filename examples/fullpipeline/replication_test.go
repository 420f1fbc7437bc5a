package main

import (
	"bytes"
	"context"
	"github.com/userstream/userstream/connect"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/userstream/userstream/cassandrastore"
	"github.com/userstream/userstream/runledger"
)

// -replication and -consistency: defaults, the environment, and errors
// that say what is wrong.
func TestReplicationAndConsistencyFlags(t *testing.T) {
	t.Setenv(connect.EnvReplication, "")
	t.Setenv(connect.EnvCassandraConsistency, "")
	c, err := parse(t)
	if err != nil || c.replication != 1 || c.consistency != "local_quorum" {
		t.Fatalf("defaults: replication %d, consistency %q, %v; want 1, local_quorum", c.replication, c.consistency, err)
	}
	if c, err := parse(t, "-replication", "3", "-consistency", "QUORUM"); err != nil || c.replication != 3 || c.consistency != "QUORUM" {
		t.Errorf("-replication 3 -consistency QUORUM: %d, %q, %v", c.replication, c.consistency, err)
	}
	for _, args := range [][]string{
		{"-replication", "0"}, {"-replication", "-1"}, {"-replication", "40000"},
		{"-consistency", "any"}, {"-consistency", "strong"}, {"-consistency", ""},
	} {
		if _, err := parse(t, args...); err == nil {
			t.Errorf("%q accepted", args)
		} else if !strings.Contains(err.Error(), args[0]) {
			t.Errorf("%q: error %q does not name the flag", args, err)
		}
	}

	t.Setenv(connect.EnvReplication, "3")
	t.Setenv(connect.EnvCassandraConsistency, "local_one")
	if c, err := parse(t); err != nil || c.replication != 3 || c.consistency != "local_one" {
		t.Errorf("from the environment: %d, %q, %v; want 3, local_one", c.replication, c.consistency, err)
	}
	if c, err := parse(t, "-replication", "2", "-consistency", "one"); err != nil || c.replication != 2 || c.consistency != "one" {
		t.Errorf("flags over the environment: %d, %q, %v; want 2, one", c.replication, c.consistency, err)
	}
	t.Setenv(connect.EnvReplication, "three")
	if _, err := parse(t); err == nil || !strings.Contains(err.Error(), connect.EnvReplication) {
		t.Errorf("%s=three: %v, want an error naming the variable", connect.EnvReplication, err)
	}
}

func TestTopicConfigs(t *testing.T) {
	if got := (connect.Servers{Replication: 1}).Topic("t", 1).Configs; got != nil {
		t.Errorf("replication 1: %v, want the cluster's defaults", got)
	}
	if got := (connect.Servers{Replication: 2}).Topic("t", 1).Configs; got != nil {
		t.Errorf("replication 2: %v, want the cluster's defaults", got)
	}
	if got := (connect.Servers{Replication: 3}).Topic("t", 1).Configs; !maps.Equal(got, map[string]string{"min.insync.replicas": "2"}) {
		t.Errorf("replication 3: %v, want min.insync.replicas 2", got)
	}
}

// On the single-node stack: the keyspace the pipeline creates is
// NetworkTopologyStrategy with one replica in the node's data center, read
// from system.local, and a run at LOCAL_QUORUM stores and verifies every
// user through it. Asking for 3 replicas of one broker fails the run at
// once, before anything is fetched, with Kafka's reason.
func TestReplicationOnOneNode(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	cfg := testConfig(t, 2000)
	cfg.consistency = "local_quorum"
	var out bytes.Buffer
	reports, err := run(ctx, cfg, quiet, &out)
	if err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	if r := reports[0]; r.Status != runledger.StatusSucceeded || r.Verification == nil || r.Verification.Found != 2000 {
		t.Fatalf("run: %+v\n%s", r, out.String())
	}
	session, err := cassandrastore.NewSession(ctx, cfg.cassandraHosts)
	if err != nil {
		t.Fatal(err)
	}
	defer session.Close()
	var dc string
	var repl map[string]string
	if err := session.Session.Query(`SELECT data_center FROM system.local`).WithContext(ctx).Scan(&dc); err != nil {
		t.Fatal(err)
	}
	if err := session.Session.Query(`SELECT replication FROM system_schema.keyspaces WHERE keyspace_name = ?`, cfg.keyspace).
		WithContext(ctx).Scan(&repl); err != nil {
		t.Fatal(err)
	}
	if want := map[string]string{"class": "org.apache.cassandra.locator.NetworkTopologyStrategy", dc: "1"}; !maps.Equal(repl, want) {
		t.Errorf("keyspace replication = %v, want %v", repl, want)
	}

	three := testConfig(t, 2000)
	three.replication = 3
	out.Reset()
	_, err = run(ctx, three, quiet, &out)
	if err == nil || !strings.Contains(err.Error(), "INVALID_REPLICATION_FACTOR") {
		t.Fatalf("run with 3 replicas on one broker = %v, want Kafka's INVALID_REPLICATION_FACTOR\n%s", err, out.String())
	}
	t.Logf("the error: %v", err)
}
