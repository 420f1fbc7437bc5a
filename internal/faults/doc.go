// Package faults holds userstream's fault-injection suite: tests that push
// users through the real pipeline (PostgreSQL outbox, Kafka, Cassandra)
// while servers and processes fail, and check that every user arrives
// exactly once in Cassandra. The package has no code of its own; the
// package is its tests.
//
// Two kinds of test live here:
//
//   - Tests that break input, not servers, run with every `go test ./...`
//     (and `make test`): poison records produced straight into the topic
//     must all reach the dead-letter topic with their reason while the good
//     users after them are stored; Random User API faults (5xx bursts, 429
//     with Retry-After, truncated and empty pages, slow and malformed
//     responses, a lasting outage) must be retried or end the run with a
//     clear error that the run ledger records.
//
//   - Scenario tests, behind the build tag "faults", SIGKILL and restart the
//     shared local stack's servers (internal/devstack) and the pipeline's
//     processes (examples/producer and examples/consumer, built once per
//     run): Kafka killed mid-stream, Cassandra killed mid-stream,
//     PostgreSQL restarted mid-relay, consumers killed five times and the
//     relay twice, three consumers in one group with one killed. They stop
//     servers other tests use, so they never run in parallel with anything:
//     `make faults` runs them, alone and in order. After each scenario the
//     rows in Cassandra must be exactly the unique users the API served for
//     the scenario's seed, every one of them, with an empty dead-letter
//     topic; the figures (users in, rows out, duplicates, time to recover)
//     are logged and summed up in RELIABILITY.md.
//
//   - Cluster scenarios, behind the build tag "cluster" (make test-cluster,
//     on the three-broker, three-node cluster of make cluster-up), run the
//     same pipeline with replication factor 3 and LOCAL_QUORUM on
//     Cassandra's default periodic commit log, as a steady stream: a
//     Cassandra node SIGKILLed and restarted, the broker leading most
//     partitions (the consumers' group coordinator among equals)
//     SIGKILLed and restarted, a rolling restart of the three
//     Cassandra nodes, a Cassandra node SIGKILLed and left down. The same
//     checks follow each, read at LOCAL_QUORUM.
//
//   - Network scenarios, behind the build tag "network" (make
//     faults-network, on the local stack with its fault proxy:
//     USERSTREAM_TOXIPROXY=1), run the same pipeline with its processes
//     reaching the servers through Toxiproxy (USERSTREAM_TOXI_* addresses
//     from devstack), driven by Toxiproxy's Go client: the consumers cut
//     off from Cassandra for 30 s (timeout toxic both ways), the
//     producer's connections to Kafka black-holed for 30 s, 300 ms ± 100
//     ms on every PostgreSQL round trip for the whole run, every Kafka and
//     Cassandra connection reset six times (each held until a write or a
//     produce failed on it), and the producer's bandwidth to Kafka
//     limited to 128 KiB/s (the backlog must reach half the users and the
//     producer's memory stay under 64 MiB). The test's own clients stay on the
//     plain addresses, to watch the pipeline through the fault. The same
//     checks follow each, with 100,000 users unless USERSTREAM_FAULT_USERS
//     says otherwise, and each also reports the retries its processes
//     logged and their peak resident memory. Two more in the same target
//     need no proxy: PostgreSQL's disk full during staging (the outbox
//     table in a tablespace on a tmpfs the test mounts as root and fills
//     at 30% published, leaving 1 MiB: the run must fail with the
//     server's "No space left on device", not retried, be marked failed
//     in the ledger, leave the outbox holding exactly the pages before
//     the failed one, and the producer's exit is the one the scenario
//     expects; the filler removed, the next run stages the rest), and the
//     schema registry SIGKILLed during a run in registry mode (the stack
//     with USERSTREAM_REGISTRY=1) with a consumer restarted meanwhile, its
//     schema cache cold: the producer publishes on its cached id, the
//     restarted consumer retries its lookups and must dead-letter
//     nothing, and it resumes once the registry is back.
//
// Two scenarios carry changes, not only creations (updates_test.go). In
// the updates scenarios (TestClusterUpdates, and TestUpdates on the single
// node with the group commit log) day 0's users are consumed, every row's
// write time is read, and then the API serves day 1, on which a third of
// the users changed (randomusertest.WithChangeShare), as a stream: the new
// versions are staged, relayed and consumed while a consumer process and
// a Cassandra node are SIGKILLed and restarted, and the write times are
// read again mid-stream. At the end the table must hold exactly day 1's
// row of every user, the changed users above their day-0 write time and
// the others at it, no write time below one read before (nothing rolled
// back), every version in the topic, and the reconciler (package
// reconcile) must find no difference. TestClusterReconcile runs the
// pipeline, deletes 1,000 rows and overwrites 1,000 by hand (CQL at the
// current time), SIGKILLs a Cassandra node and leaves it down: a check at
// LOCAL_QUORUM must report exactly those 1,000 missing and 1,000 stale,
// Repair and a producer and consumer run carry them, and a second check
// must report none; the node is started again at the end. These three
// carry their users twice, so they take a fifth of USERSTREAM_FAULT_USERS
// (20,000 by default), for about two minutes each.
//
// In every scenario the test acts as a process manager: it restarts at
// once a process it killed, and restarts one that exits by itself, but
// such an exit fails the scenario unless its setup declares why it
// expects one (setup.exits, or setup.producerExits for the producer
// alone; only the disk-full scenario does, for the run that meets the
// full disk): the pipeline is meant to ride through each fault, and a
// restart would hide a bug that only the logs show.
//
// Settings (environment): USERSTREAM_FAULT_USERS, the users per scenario
// (default 100,000); USERSTREAM_FAULT_SEED, the seed of the random kill
// moments (default: from the clock, and logged); USERSTREAM_FAULT_REPORT, a
// file to which the figures table is written as Markdown.
package faults
