// Package devstack holds the local server stack that userstream's tests, demo
// and benchmarks run against: real Apache Kafka (KRaft), Apache Cassandra and
// PostgreSQL on loopback, started by this package through the devstack
// script beside this file (`make up`, or `internal/devstack/devstack up`). No Docker is needed: Kafka
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
// A Stack (FromEnv, or New with a Config) starts, stops, kills and looks at
// the servers: Up, Start, Stop, Kill, Down, Status (typed, no output to
// parse), Env, Logs. The servers are detached processes (a session of
// their own, output to log files, pid files in the stack folder) that
// outlive the program that started them, as with the shell supervisor this
// package replaces; the folder's layout is the same, so a stack it started
// is found again. The servers' configuration files are text/template files
// under templates/, embedded; readiness is a real request through the
// clients userstream uses (probe.go); the secured listeners' certificates
// and passwords are made by secure.go. Maven resolves Kafka and Cassandra
// into DIR/NAME/lib (once per version) and builds the registry into
// DIR/registry/app (once per hash of its runner project).
//
// Kafka and Cassandra are lists of nodes, each with its own address and
// folder. By default each list has one node on Config.Host (127.0.0.1
// unless USERSTREAM_STACK_HOST says otherwise), which is how a second
// stack runs beside the first on 127.0.0.2. Config.Nodes
// (USERSTREAM_STACK_NODES) makes a cluster: node i on the i-th address
// from Host, the same ports on each. The brokers are one KRaft quorum
// (every broker also a controller, one cluster id, min.insync.replicas 2,
// internal topics with three replicas); the Cassandra nodes are one ring
// seeded by the first, started one after another (a node joins the ring
// only when the one before it answers), and the ring is ready once every
// node coordinates a write at consistency ALL (probeRing): every node up
// in every node's view. StartNode, StopNode and KillNode act on one node,
// for the cluster's fault scenarios. `make cluster-up` runs three of each
// on 127.0.0.11-13 in the folder .devstack/cluster, beside the
// single-node stack.
//
// The command cmd/devstack is the command line; the script devstack beside
// this file builds it into the stack folder once and runs it. Its smoke
// tests make one real round trip per server.
package devstack
