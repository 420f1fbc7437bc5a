// Package userstream is a Go SDK for a real-time user-data pipeline: fetch
// random users from the Random User API, stage them in PostgreSQL, stream them
// to the Kafka topic users_created, validate and transform them as they
// arrive, and store them in the Cassandra table spark_streams.created_users.
//
// The root package holds no code; the pipeline is built from small packages
// that other services import on their own:
//
//   - [github.com/userstream/userstream/randomuser]: a typed client of the Random User API 1.4, with retries and rate limiting.
//   - [github.com/userstream/userstream/randomuser/randomusertest]: an offline server compatible with that API, for tests and demos.
//   - [github.com/userstream/userstream/transform]: the created_users row, its mapping from an API user, validation and JSON wire format.
//   - [github.com/userstream/userstream/kafkasink]: a franz-go producer and consumer of rows, at-least-once, with a dead-letter topic.
//   - [github.com/userstream/userstream/kafkasink/outbox]: a PostgreSQL (pgx) outbox that stages users and relays them to Kafka without loss.
//   - [github.com/userstream/userstream/kafkasink/dlq]: the dead letters read back, and redriven once the cause is fixed.
//   - [github.com/userstream/userstream/cassandrastore]: a gocqlx repository for created_users, with schema migration and bulk writes.
//   - [github.com/userstream/userstream/connect]: where the servers are (USERSTREAM_* variables, flags), and a checked, secured client of each.
//   - [github.com/userstream/userstream/ingest]: the fetch, transform and stage loop from the API into the outbox, and its schedule.
//   - [github.com/userstream/userstream/memlimit]: the soft memory limit from a flag, GOMEMLIMIT winning.
//   - [github.com/userstream/userstream/secure]: secured connections (SASL, TLS, password files) for the drivers, from values or USERSTREAM_* variables.
//   - [github.com/userstream/userstream/runledger]: a PostgreSQL run ledger: what each run of the pipeline fetched, staged, published and stored, and how it ended.
//   - [github.com/userstream/userstream/console]: a status page (an http.Handler) of the runs, rates, latency, lag and dead letters.
//
// The client packages connect as their drivers are configured, plain by
// default; secure is how to authenticate and encrypt those connections, and
// connect opens each client with it. The service Example is the pipeline as
// a service wires it (the README shows it): servers and clients from connect,
// the ingest loop on a schedule, the outbox relay and the consumer group
// running at once, every package's metrics on one registry. The examples
// directory assembles the packages into complete commands; internal/devstack
// starts the real Kafka, Cassandra and PostgreSQL that the tests and the demo
// use. Servers are found through USERSTREAM_KAFKA_BROKERS,
// USERSTREAM_CASSANDRA_HOSTS and USERSTREAM_POSTGRES_DSN.
//
// The module needs Go 1.25 or later.
package userstream
