package connect_test

import (
	"errors"
	"flag"
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/userstream/userstream/connect"
)

func clearEnv(t *testing.T) {
	for _, v := range []string{connect.EnvKafkaBrokers, connect.EnvSchemaRegistryURL, connect.EnvCassandraHosts, connect.EnvPostgresDSN, connect.EnvReplication, connect.EnvCassandraConsistency} {
		t.Setenv(v, "")
	}
}

// Unset: the local stack's addresses. Set: the variables, trimmed and split.
func TestFromEnv(t *testing.T) {
	clearEnv(t)
	s, err := connect.FromEnv()
	if err != nil {
		t.Fatal(err)
	}
	want := connect.Servers{KafkaBrokers: []string{"127.0.0.1:9092"}, CassandraHosts: []string{"127.0.0.1:9042"},
		PostgresDSN: connect.DefaultPostgresDSN, Replication: 1, CassandraConsistency: "local_quorum"}
	if !equal(s, want) {
		t.Errorf("defaults %+v, want %+v", s, want)
	}
	t.Setenv(connect.EnvKafkaBrokers, " k1:9092, k2:9092,, ")
	t.Setenv(connect.EnvCassandraHosts, "c1")
	t.Setenv(connect.EnvPostgresDSN, "postgres://elsewhere/db")
	t.Setenv(connect.EnvSchemaRegistryURL, "http://reg:8081")
	t.Setenv(connect.EnvReplication, " 3 ")
	t.Setenv(connect.EnvCassandraConsistency, "ONE")
	s, err = connect.FromEnv()
	want = connect.Servers{KafkaBrokers: []string{"k1:9092", "k2:9092"}, CassandraHosts: []string{"c1"}, PostgresDSN: "postgres://elsewhere/db",
		SchemaRegistryURL: "http://reg:8081", Replication: 3, CassandraConsistency: "ONE"}
	if err != nil || !equal(s, want) {
		t.Errorf("from the environment %+v, %v; want %+v", s, err, want)
	}
}

// A bad value is a typed error naming the variable; the rest is still
// read, so a command can show its help.
func TestFromEnvErrors(t *testing.T) {
	clearEnv(t)
	for _, v := range []string{"x", "0", "-1", "40000"} {
		t.Setenv(connect.EnvReplication, v)
		s, err := connect.FromEnv()
		var ee *connect.EnvError
		if !errors.As(err, &ee) || ee.Name != connect.EnvReplication || ee.Value != v {
			t.Errorf("%s=%s: %v, want an EnvError", connect.EnvReplication, v, err)
			continue
		}
		if s.Replication != 1 || len(s.KafkaBrokers) != 1 {
			t.Errorf("%s=%s: %+v, want the defaults", connect.EnvReplication, v, s)
		}
	}
	t.Setenv(connect.EnvCassandraConsistency, "eventual")
	s, err := connect.FromEnv()
	if err == nil || !strings.Contains(err.Error(), connect.EnvReplication) || !strings.Contains(err.Error(), connect.EnvCassandraConsistency) {
		t.Errorf("two bad variables: %v, want both named", err)
	}
	if s.CassandraConsistency != "local_quorum" {
		t.Errorf("consistency %q after a bad value, want the default", s.CassandraConsistency)
	}
	if connect.CheckReplication(0) == nil || connect.CheckReplication(3) != nil {
		t.Error("CheckReplication")
	}
}

// Flags over the environment, which is their default.
func TestFlags(t *testing.T) {
	clearEnv(t)
	t.Setenv(connect.EnvKafkaBrokers, "k1:9092")
	s, _ := connect.FromEnv()
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	s.KafkaFlags(fs)
	s.CassandraFlags(fs)
	if d := fs.Lookup("brokers").DefValue; d != "k1:9092" {
		t.Errorf("-brokers default %q", d)
	}
	if d := fs.Lookup("consistency").DefValue; d != "local_quorum" {
		t.Errorf("-consistency default %q", d)
	}
	if err := fs.Parse([]string{"-brokers", "a:1,b:2", "-cassandra-hosts", "c", "-schema-registry", "http://r", "-consistency", "quorum"}); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(s.KafkaBrokers, []string{"a:1", "b:2"}) || !slices.Equal(s.CassandraHosts, []string{"c"}) || s.SchemaRegistryURL != "http://r" || s.CassandraConsistency != "quorum" {
		t.Errorf("parsed %+v", s)
	}
	for _, args := range [][]string{{"-brokers", " , "}, {"-consistency", "any"}, {"-consistency", ""}} {
		if err := fs.Parse(args); err == nil || !strings.Contains(err.Error(), args[0]) {
			t.Errorf("%q: %v, want an error naming the flag", args, err)
		}
	}
	if fs.Lookup("postgres-dsn") != nil {
		t.Error("a DSN flag would show the password in ps")
	}
}

func equal(a, b connect.Servers) bool {
	return slices.Equal(a.KafkaBrokers, b.KafkaBrokers) && slices.Equal(a.CassandraHosts, b.CassandraHosts) &&
		a.PostgresDSN == b.PostgresDSN && a.SchemaRegistryURL == b.SchemaRegistryURL && a.Replication == b.Replication &&
		a.CassandraConsistency == b.CassandraConsistency
}
