// Package userstream is a Go SDK for a real-time user-data pipeline: fetch
// random users from the Random User API, stage them in PostgreSQL, stream them
// to the Kafka topic users_created, validate and transform them as they
// arrive, and store them in the Cassandra table spark_streams.created_users.
//
// The root package holds no code; the pipeline is built from small packages
// that other services import on their own:
//
//   - randomuser: a typed client of the Random User API (version 1.4), with
//     retries, rate limiting and streaming decode; randomuser/randomusertest is
//     an offline API-compatible server for tests and demos.
//   - transform: the typed created_users row, the mapping from an API user to
//     it, its validation and its JSON wire format.
//   - kafkasink: Kafka producer and consumer adapters over franz-go, with
//     at-least-once commits and a dead-letter topic.
//   - cassandrastore: a gocqlx repository for created_users, with schema
//     migration and bulk writes.
//   - secure: SASL, TLS and password settings for franz-go, gocql and pgx,
//     read from USERSTREAM_* variables or set in code, with the passwords
//     redacted in logs and errors. The other packages connect as their
//     drivers are configured, plain by default; this is how to secure them.
//
// The examples directory assembles them into the full pipeline; internal/devstack
// starts the real Kafka, Cassandra and PostgreSQL that the tests and the demo
// use. Servers are found through USERSTREAM_KAFKA_BROKERS,
// USERSTREAM_CASSANDRA_HOSTS and USERSTREAM_POSTGRES_DSN.
package userstream
