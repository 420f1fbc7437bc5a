// Package testenv finds the servers that integration tests run against.
//
// Tests read the same variables as the examples: USERSTREAM_KAFKA_BROKERS,
// USERSTREAM_CASSANDRA_HOSTS, USERSTREAM_POSTGRES_DSN and, for the schema
// registry, USERSTREAM_TEST_SCHEMA_REGISTRY_URL (not the examples'
// USERSTREAM_SCHEMA_REGISTRY_URL, which switches them to registry mode: a
// test runs an example in that mode by passing -schema-registry itself).
// When a variable is
// unset the test is skipped with a message, unless
// USERSTREAM_REQUIRE_INTEGRATION=1, in which case it fails: CI sets that, so
// an integration test can never silently skip there.
//
// Name gives each test its own topic, keyspace or schema name, so tests run
// in parallel and re-run cleanly against a long-lived stack.
package testenv

import (
	"crypto/rand"
	"encoding/hex"
	"os"
	"regexp"
	"strings"
	"testing"
)

// Environment variables read by tests and examples.
const (
	KafkaBrokersEnv   = "USERSTREAM_KAFKA_BROKERS"
	CassandraHostsEnv = "USERSTREAM_CASSANDRA_HOSTS"
	PostgresDSNEnv    = "USERSTREAM_POSTGRES_DSN"
	RequireEnv        = "USERSTREAM_REQUIRE_INTEGRATION"
	// SchemaRegistryEnv is the URL of a schema registry with the
	// Confluent REST API; the local stack runs one when asked
	// (USERSTREAM_REGISTRY=1). Its TEST_ prefix keeps it from being the
	// examples' -schema-registry default in the processes tests start.
	SchemaRegistryEnv = "USERSTREAM_TEST_SCHEMA_REGISTRY_URL"
)

// Environment variables of the secured servers, read by the tests built
// with -tags secure (make test-secure). They carry a TEST_ prefix so that
// exporting them configures no client by accident; the local stack prints
// them (internal/devstack env).
const (
	TLSCAFileEnv             = "USERSTREAM_TEST_TLS_CA_FILE"            // the CA every secured server's certificate chains to
	KafkaSASLBrokersEnv      = "USERSTREAM_TEST_KAFKA_SASL_BROKERS"     // SASL_PLAINTEXT listener (SCRAM-SHA-512 and PLAIN)
	KafkaSASLTLSBrokersEnv   = "USERSTREAM_TEST_KAFKA_SASL_TLS_BROKERS" // SASL_SSL listener
	KafkaUsernameEnv         = "USERSTREAM_TEST_KAFKA_USERNAME"
	KafkaPasswordFileEnv     = "USERSTREAM_TEST_KAFKA_PASSWORD_FILE"
	CassandraTLSHostsEnv     = "USERSTREAM_TEST_CASSANDRA_TLS_HOSTS" // PasswordAuthenticator, TLS required
	CassandraUsernameEnv     = "USERSTREAM_TEST_CASSANDRA_USERNAME"
	CassandraPasswordFileEnv = "USERSTREAM_TEST_CASSANDRA_PASSWORD_FILE"
	PostgresTLSDSNEnv        = "USERSTREAM_TEST_POSTGRES_TLS_DSN" // a role admitted over TLS only; no password in it
	PostgresPasswordFileEnv  = "USERSTREAM_TEST_POSTGRES_PASSWORD_FILE"
)

// lookup returns the variable's value, or skips (or fails, when integration
// is required) the test when it is unset.
func lookup(tb testing.TB, name string) string {
	tb.Helper()
	v := strings.TrimSpace(os.Getenv(name))
	if v != "" {
		return v
	}
	if os.Getenv(RequireEnv) == "1" {
		tb.Fatalf("%s is not set and %s=1: start the stack with `make up` and export what it prints", name, RequireEnv)
	}
	tb.Skipf("integration test skipped: %s is not set (run `make up` and export what it prints)", name)
	return ""
}

// SchemaRegistryURL returns the schema registry's URL from
// USERSTREAM_TEST_SCHEMA_REGISTRY_URL.
func SchemaRegistryURL(tb testing.TB) string {
	tb.Helper()
	return lookup(tb, SchemaRegistryEnv)
}

// KafkaBrokers returns the seed brokers from USERSTREAM_KAFKA_BROKERS.
func KafkaBrokers(tb testing.TB) []string {
	tb.Helper()
	return splitList(lookup(tb, KafkaBrokersEnv))
}

// CassandraHosts returns the contact points from USERSTREAM_CASSANDRA_HOSTS.
func CassandraHosts(tb testing.TB) []string {
	tb.Helper()
	return splitList(lookup(tb, CassandraHostsEnv))
}

// PostgresDSN returns the connection string from USERSTREAM_POSTGRES_DSN.
func PostgresDSN(tb testing.TB) string {
	tb.Helper()
	return lookup(tb, PostgresDSNEnv)
}

// Require returns the value of the variable name, skipping the test (or
// failing it, when integration is required) when it is unset.
func Require(tb testing.TB, name string) string {
	tb.Helper()
	return lookup(tb, name)
}

// RequireList is [Require] for a comma-separated list.
func RequireList(tb testing.TB, name string) []string {
	tb.Helper()
	return splitList(lookup(tb, name))
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

var nonIdent = regexp.MustCompile(`[^a-z0-9_]+`)

// Name returns a name unique to this test run, usable as a Kafka topic, a
// Cassandra keyspace or a Postgres schema: lower case letters, digits and
// underscores, starting with a letter, at most 48 characters (Cassandra's
// limit on keyspace names).
func Name(tb testing.TB, prefix string) string {
	tb.Helper()
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		tb.Fatalf("random name: %v", err)
	}
	name := "t_" + nonIdent.ReplaceAllString(strings.ToLower(prefix+"_"+tb.Name()), "_")
	suffix := "_" + hex.EncodeToString(b[:])
	if max := 48 - len(suffix); len(name) > max {
		name = name[:max]
	}
	return name + suffix
}
