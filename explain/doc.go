// Package explain answers "where is this user?": for one id, the evidence
// of each hop of the pipeline, from the run that fetched it to the row in
// Cassandra or its dead letter.
//
//	ex, err := explain.New(box, table, kafkaOpts,                   // *outbox.Store, *cassandrastore.Store, []kgo.Opt
//		explain.WithRuns(ledger), explain.WithDeadLetters(queue))
//	rep, err := ex.User(ctx, "7a0eed16-9430-4d68-901f-c0d4c1c3bf00")
//	fmt.Println(rep.Verdict, rep.Summary)                           // stored: the table's row was written at the latest version ...
//
// # Hops
//
// A [Report] has one part per hop, each saying what it found and, when it
// found nothing, why:
//
//   - Runs: the runs that staged the user's versions (the outbox keeps a
//     run id with each), and with [WithRuns] each as the run ledger holds
//     it: kind, status, start and end.
//   - Outbox: every version the outbox holds ([outbox.Store.History]):
//     seq, version, the staging (fetch) time, whether the relay passed it
//     (seq at or below the relay position), and the Kafka partition and
//     offset the relay round that published it recorded.
//   - Kafka: the latest version's record, fetched at that partition and
//     offset (one fetch, no scan of the topic), its key checked against the
//     id and its row-version and fetched-at headers read; with
//     [WithConsumerGroup], whether the group's committed offset passed it.
//   - Cassandra: the table's row and its write time ([cassandrastore.Store.Lookup]),
//     which for a row the pipeline wrote is the version it wrote.
//   - Dead letters ([WithDeadLetters]): the user's letters, with reason,
//     error and position. Kafka has no index by key, so they are found by
//     reading the newest letters of the dead-letter topic (a small topic),
//     up to [WithDeadLetterScan]; the report says whether the scan read the
//     whole topic.
//
// Report.Verdict says where the latest version stands: [NotStaged],
// [Pending], [Published], [Stored], [Deleted], [DeadLettered] or [Newer].
// An id the outbox never staged is a report, not an error.
//
// # What is kept
//
// The outbox keeps each user's latest version for good, so the outbox hop
// always has it; replaced versions, and the relay rounds' records of where
// rows went in Kafka, are deleted after the relay's retention
// ([outbox.WithRetention], 24h by default). A version published longer
// ago is reported as published without its place, and the Kafka hop is
// then not checked; a record past the topic's own retention is reported as
// gone. Rows published before outbox schema version 5 have no recorded
// place either.
//
// # Cost
//
// One query of the outbox (an index range of the id, and a primary-key
// probe of the relay rounds per version), one ledger read per run, a
// listing of the partition's offsets and one fetch in Kafka, one read in
// Cassandra, and the dead-letter read: it is for a person or a tool asking
// about one user, not for bulk use (package reconcile compares every id).
package explain
