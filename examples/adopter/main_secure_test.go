//go:build secure

package main

import (
	"testing"

	"github.com/userstream/userstream/secure"
)

// TestSecureAdopter runs the program as TestAdopter does, but against the
// local stack's secured listeners only, configured through the variables an
// adopter would set: Kafka SASL/SCRAM-SHA-512 over TLS, Cassandra
// PasswordAuthenticator over required TLS, and a PostgreSQL role admitted
// over TLS only (verify-full), each password in a file. None of those
// servers accepts a plain connection, so the run succeeds only if every
// client honours its secure settings. The addresses and files come from the
// USERSTREAM_TEST_* variables that `devstack env` prints (Cassandra's only
// with USERSTREAM_STACK_SECURE=1); `make test-secure` runs it.
func TestSecureAdopter(t *testing.T) {
	ca := lookup(t, "USERSTREAM_TEST_TLS_CA_FILE")
	env := map[string]string{
		kafkaBrokersEnv:                 lookup(t, "USERSTREAM_TEST_KAFKA_SASL_TLS_BROKERS"),
		secure.EnvKafkaUsername:         lookup(t, "USERSTREAM_TEST_KAFKA_USERNAME"),
		secure.EnvKafkaPasswordFile:     lookup(t, "USERSTREAM_TEST_KAFKA_PASSWORD_FILE"),
		secure.EnvKafkaTLSCAFile:        ca,
		cassandraHostsEnv:               lookup(t, "USERSTREAM_TEST_CASSANDRA_TLS_HOSTS"),
		secure.EnvCassandraUsername:     lookup(t, "USERSTREAM_TEST_CASSANDRA_USERNAME"),
		secure.EnvCassandraPasswordFile: lookup(t, "USERSTREAM_TEST_CASSANDRA_PASSWORD_FILE"),
		secure.EnvCassandraTLSCAFile:    ca,
		postgresDSNEnv:                  lookup(t, "USERSTREAM_TEST_POSTGRES_TLS_DSN"),
		secure.EnvPostgresPasswordFile:  lookup(t, "USERSTREAM_TEST_POSTGRES_PASSWORD_FILE"),
		secure.EnvPostgresTLSCAFile:     ca,
	}
	for name, value := range env {
		t.Setenv(name, value)
	}
	runAndVerify(t, "secure")
}
