// Package reconcile proves that a Cassandra table holds what a versioned
// outbox staged, and repairs it through the pipeline when it does not.
//
//	rec, err := reconcile.New(outboxStore, table) // an *outbox.Store, a *cassandrastore.Store; no I/O
//	rep, err := rec.Check(ctx, reconcile.Scope{}) // every id; Scope{RunID: id}: one run's
//	fmt.Println(rep.Compared, rep.Missing, rep.Stale, rep.Unexpected)
//	n, err := rec.Repair(ctx, rep, runID)         // re-stage the latest versions; the relay carries them
//
// # What is compared
//
// The outbox keeps every staged change of a user as a version (its
// outbox.Version: a number of microseconds, strictly increasing, and the
// user's row, or a delete), and the consumers write each at its version
// (USING TIMESTAMP), so that the write time of a row in the table is the
// version it holds. [Reconciler.Check] compares the latest version of each
// id with the table's row and write time ([cassandrastore.Stored]) and
// reports, in a [Report], each id that differs as a [Finding]:
//
//   - [Missing]: the latest version is an upsert, and the table has no row.
//   - [Stale]: the row's values differ from the latest version's row, or
//     its write time is below the version (it holds an older version's
//     cells).
//   - [Unexpected]: a row whose latest version is a delete, or whose id the
//     outbox has no version of.
//
// A row written by hand after its latest version with the same values is
// not a difference. The counts are exact; the findings kept are capped
// ([WithMaxFindings], default [DefaultMaxFindings]).
//
// # Scopes
//
// A [Scope] is every id (the zero value), one run's ids (RunID), or some
// token ranges (Ranges), and a run's ids restricted to ranges.
//
// A run's ids are read from the outbox (every id staged in the run, at its
// latest version) and looked up by id in the table ([cassandrastore.Store.Lookup]):
// point reads, as many as the run has ids. An id the run did not stage
// (a row written by hand, say) is not in its scope.
//
// A range is checked in two passes. The first scans the table's rows of
// the range ([cassandrastore.Store.Scan], 5,000 a page, in token order,
// the next page read while the last is compared), reads the latest
// versions of each page's ids from the outbox, and
// reports the stale and unexpected rows; it keeps the ids it met, 24
// bytes a row (token and uuid in a slice sorted by token: about 24 MB for a
// million rows, twice that while the slice grows). The second streams the
// outbox's latest versions (every id's, 5,000 a page), computes each id's
// token ([cassandrastore.Token]) and reports as missing those of the range
// the scan did not meet whose latest version is not a delete. Every id is
// so compared once, whether it has a row, a version or both.
//
// Every id is the ring cut into ranges ([cassandrastore.SplitRing]),
// checked one after the other, so memory stays that of one range however
// big the table: by default one range per [DefaultRangeRows] (a million)
// of the outbox's latest upserts, counted by one pass over the outbox
// first; [WithRanges] sets their number. Each range reads the whole
// outbox once, so fewer, larger ranges are faster and take more memory.
//
// BenchmarkCheck, a whole-ring check of 1,000,000 rows matching their
// outbox, on the local stack (one Cassandra node and PostgreSQL on the
// same 2 cores, otherwise idle), with the default (one range, after the
// counting pass): 42 s, 23,600 ids compared a second. Each range is one
// more pass over the outbox's latest versions, which is why ranges are as
// large as memory allows (before EachLatest's pages were bounded by the
// id they start after, a pass took about 100 s: 4 ranges took 501 s).
//
// # What it can and cannot know
//
// The outbox keeps the latest version of every id it ever staged, forever
// (cleaning up after retention removes the older versions only), so it
// knows every id staged here and what its row should be, and a check
// needs nothing else. It cannot know:
//
//   - what a row written outside the pipeline should be. A row of an id
//     the outbox has no version of (a cqlsh INSERT, another program, ids
//     staged in another outbox) is reported unexpected and never
//     repaired; delete it by hand if it should not be there. A row whose
//     latest version is a delete is repaired: the delete is staged again.
//   - about ids never staged in this outbox: they are not in it, so not
//     missing.
//   - whether the table is behind or wrong while the pipeline runs: a
//     version staged but not yet relayed and consumed shows as missing or
//     stale until it is. Check when the relay and the consumers have
//     caught up, or check the findings again.
//   - which rows are the same once Cassandra purged a tombstone
//     (gc_grace_seconds, see cassandrastore's "Versions and deletes"): a
//     deleted user's older version replayed after that is reported
//     unexpected, and repaired by staging the delete again.
//
// # Repair
//
// [Reconciler.Repair] re-stages (outbox Republish), in a run of its own,
// the latest version of each repairable finding ([Finding.Repairable]):
// missing and stale rows, and rows whose latest version is a delete. Each
// becomes a new version, stamped now, so newer than any write before it,
// a row written by hand included; it goes through the normal relay path
// and takes effect only once a relay has published it and a consumer has
// written it (or its tombstone). Repair is idempotent: run twice, it
// stages the same rows twice, each time newer, which the table resolves to
// the same row. Versions increase in staging order, so a repair never
// rolls back a change staged before it, and a change staged after it
// wins. Only the findings a report kept are repaired ([ErrTruncated]
// says when there were more): check and repair again.
//
// # Concurrency and errors
//
// A [Reconciler] is safe for concurrent use and holds no connection: it
// borrows the outbox and the table, whose owners close them. Errors are
// wrapped with %w and keep the outbox's or the driver's in their chain.
// [WithLogger] logs each range checked and each repair at Info.
package reconcile
