// Package devstack holds the local server stack that userstream's tests, demo
// and benchmarks run against: real Apache Kafka (KRaft), Apache Cassandra and
// PostgreSQL on loopback, started by the devstack script beside this file
// (`make up`, or `internal/devstack/devstack up`). No Docker is needed: Kafka
// and Cassandra are resolved from Maven artifacts and run on the machine's
// JDK; PostgreSQL comes from the machine's packages.
//
// The package's Go code is only its smoke tests, one real round trip per
// server; the probe sub-command is what the script uses to await readiness.
package devstack
