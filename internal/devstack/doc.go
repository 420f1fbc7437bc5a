// Package devstack holds the local server stack that userstream's tests, demo
// and benchmarks run against: real Apache Kafka (KRaft), Apache Cassandra and
// PostgreSQL on loopback, started by the devstack script beside this file
// (`make up`, or `internal/devstack/devstack up`). No Docker is needed: Kafka
// and Cassandra are resolved from Maven artifacts and run on the machine's
// JDK; PostgreSQL comes from the machine's packages.
//
// Beside the plain listeners the stack runs secured ones: Kafka SASL
// (SCRAM-SHA-512, PLAIN) with and without TLS, PostgreSQL TLS with a
// TLS-only role, and in secure mode (USERSTREAM_STACK_SECURE=1) a second
// Cassandra node with PasswordAuthenticator and TLS; certificates and
// passwords are generated under the stack folder. Package secure tests
// against them (make test-secure).
//
// When asked (USERSTREAM_REGISTRY=1, or `devstack start registry`) the
// stack also runs a schema registry with the Confluent REST API, Apicurio
// Registry 2.4.2 built from Maven artifacts by the runner project in
// registry/, on 127.0.0.1:8081 (USERSTREAM_TEST_SCHEMA_REGISTRY_URL for the tests); kafkasink's
// registry mode is tested against it.
//
// The package's Go code is only its smoke tests, one real round trip per
// server; the probe sub-command is what the script uses to await readiness
// and to set up the secured listeners (certificates, SCRAM user, roles).
package devstack
