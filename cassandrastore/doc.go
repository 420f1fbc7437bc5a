// Package cassandrastore stores created_users rows ([transform.Row]) in
// Cassandra: a gocqlx repository for the seed pipeline's table
// spark_streams.created_users, with an additive schema migration and fast
// bulk writes.
//
//	session, err := cassandrastore.NewSession(ctx, []string{"127.0.0.1:9042"},
//		cassandrastore.WithLocalDC("datacenter1"))
//	if err != nil { ... }
//	defer session.Close()
//	store, err := cassandrastore.New(session) // no I/O
//	if err != nil { ... }
//	if err := store.Migrate(ctx); err != nil { ... }
//	err = store.UpsertMany(ctx, rows)
//	// or, with versions and deletes ([]transform.Change):
//	err = store.ApplyMany(ctx, changes)
//
// # Session
//
// [NewSession] connects with the settings this package is tuned for:
// token-aware routing over DC-aware round robin ([WithLocalDC]),
// consistency LOCAL_QUORUM ([WithConsistency]), 11s request
// ([WithRequestTimeout]) and 5s connect ([WithConnectTimeout]) timeouts,
// and up to 3 retries of idempotent requests on
// timeouts, unavailability and lost connections only, the wait doubling
// from 100ms to 2s with jitter ([WithRetry]). Authentication and
// encryption come from package secure, the one way to secure each server:
// [WithClusterConfig](sec.Cassandra.Apply), with sec from secure.FromEnv.
// The caller owns the session and closes it; a [Store] only borrows it, so
// one session can serve several stores.
//
// # Options
//
// Options are of three kinds, all an [Opt]: a [StoreOpt] configures [New],
// a [SessionOpt] configures [NewSession], and a [CommonOpt] ([WithLogger])
// configures either. Each option's doc states the default it overrides.
//
// # Schema
//
// [Store.Migrate] creates the keyspace (replication [SimpleStrategy] 1 by
// default; [NetworkTopologyStrategy], or [LocalNetworkTopologyStrategy] for
// the data center Migrate's node is in, for production, through the
// store's [WithReplication]) and the table if they are missing (an
// existing keyspace keeps its replication; a warning says when it holds
// other replica counts), then adds any
// column the table lacks, found through system_schema.columns. A table the
// seed pipeline created (11 columns, no dob) is so upgraded in place by
// ALTER TABLE ... ADD dob text, keeping its rows; their dob reads back
// empty. Migrate never drops or retypes a column; an incompatible table is
// reported as [ErrIncompatibleSchema]. It is idempotent, safe to run from
// several processes, and waits for schema agreement.
//
// Keyspace and table names ([WithKeyspace], [WithTable]) must be CQL
// identifiers: a letter, then up to 47 letters, digits or underscores, not
// a reserved word ([ErrInvalidName]). They are folded to lower case, as
// Cassandra folds unquoted names. They and the replication settings of
// CREATE KEYSPACE (validated data center names and factors) are the only
// text written into statements; every value is a bound parameter of a
// prepared statement.
//
// # Repository
//
// The table has the partition key id (a uuid; [transform.Row] carries it
// in canonical text) and text columns, so [Store.Upsert] of the same row
// twice leaves one row. [Store.Get] returns a row or an error wrapping
// [ErrNotFound] (itself wrapping gocql.ErrNotFound). [Store.All] iterates
// over every row a page at a time, and [Store.Count] counts them; both are
// full scans, meant for tests and the demo. [Store.Ping] checks the
// connection. A Store is safe for concurrent use.
//
// For a reconciler, [Store.Lookup] reads given ids (point reads, 64 in
// flight) and [Store.Scan] the rows of a [TokenRange] in token order, a
// page of 5,000 at a time ([SplitRing] cuts the ring into ranges to scan
// in parallel; [Token] is an id's token); both return each row as a
// [Stored], with its write time.
//
// # Bulk writes
//
// [Store.UpsertMany] writes many rows with one of two strategies
// ([WithWriteStrategy]). [WriteConcurrent] sends one INSERT per row, 64 in
// flight ([WithConcurrency]). [WriteUnloggedBatch], the default, computes
// each row's Murmur3 token, groups the rows by the node that owns the
// token's range (each row is its own partition, so grouping by partition
// would give batches of one; the owner is a replica of every row of its
// group), and sends unlogged batches of up to 32 rows ([WithBatchSize]) and
// 32 KiB, 16 in flight, each coordinated by the owner. The owner, not the
// range: with vnodes a node owns many ranges (16 by default), and a call of
// a hundred rows split by range made batches of five or six. Logged
// batches across partitions, which also write a batchlog to other nodes,
// are known to be slow and never used.
//
// Measured on the local stack (one Cassandra 5.0.6 node with 16 vnodes,
// sharing a 2-core machine with the benchmark) with BenchmarkBulkWrite,
// in which the contenders take turns, in a random order, writing calls of
// 1,000 fresh rows, 100,000 rows each per run:
//
//	                                      run 1    run 2    run 3   rows/s
//	ceiling: plain gocql, 64 goroutines  22,069   16,434   20,594
//	WriteConcurrent (64 in flight)       21,669   17,572   21,474   0.98–1.07× the ceiling
//	WriteUnloggedBatch (16 × 32 rows)    45,324   32,389   35,979   1.75–2.05× the ceiling
//
// The ceiling is a plain loop of Session.Query(insert).Exec with the same
// statement, rows, consistency and concurrency. Earlier runs gave
// 0.85–1.02× for WriteConcurrent and 1.4–1.9× for WriteUnloggedBatch; two
// identical contenders differed by up to 25% in a 50,000-row run, which is
// the noise of Cassandra's garbage collector on two shared cores. Single
// rows plateau from about 64 in flight (16: half the rate; 256: no gain);
// batches plateau from 16 in flight and 32 rows (8-row batches or 4 in
// flight are slower), per BenchmarkWriteTuning. Binding through gocqlx's
// reflection (a loop of Upsert) measured the same as binding the fields
// directly, within that noise.
//
// On a larger cluster a call's rows spread over more nodes, so batches
// shrink (a call of 100 rows over 20 nodes makes batches of about five) and
// the gain with them; a one-row group is sent as a plain INSERT, so the
// batch path then costs at worst about what WriteConcurrent does. Batches of this size exceed Cassandra's default
// batch_size_warn_threshold (5 KiB) and
// unlogged_batch_across_partitions_warn_threshold (10), which only log
// warnings on the server; raise them, or use WriteConcurrent, to silence
// them.
//
// # Versions and deletes
//
// [Store.ApplyMany] applies [transform.Change] values. A change with a
// Version is written at it, INSERT ... USING TIMESTAMP Version, every
// column at that write time, and Cassandra keeps the value of the newest
// write time: the newest version of a user wins whatever order, however
// often and however late the records arrive. A replay of the outbox, a
// redelivery or a redrive of the dead-letter topic never rolls a row
// back, and reading writetime() ([Stored].WriteTime) gives the version
// back.
//
// A delete is DELETE ... USING TIMESTAMP Version, a tombstone at its
// version that hides every write older than it: an older version arriving
// after the delete does not bring the row back; a newer one does.
// Cassandra purges a tombstone in compaction once it is older than the
// table's gc_grace_seconds (default 864000 s, 10 days). After that an
// older version applied again brings the row back, so replays and
// redrives must not reach further back than gc_grace_seconds, or the
// table's gc_grace_seconds must be raised (ALTER TABLE ... WITH
// gc_grace_seconds = ..., at the cost of keeping tombstones longer).
//
// Writes made outside the pipeline (an UPDATE in cqlsh, another program)
// carry the client's or the coordinator's clock, usually newer than the
// versions before them, so they win until the user's next version; a
// reconciler's repair re-stages the user with a fresh version, which wins
// over them.
//
// A change with Version 0, and every row of [Store.UpsertMany], is written
// without a timestamp, at the driver's clock: the last write wins, as the
// seed pipeline's writes always did.
//
// BenchmarkApplyMany, versioned ApplyMany beside UpsertMany of the same
// rows in turns (3 runs of 30,000 rows each, same stack): 0.79–1.05× the
// rows/s of UpsertMany with WriteConcurrent and 0.87–1.17× with
// WriteUnloggedBatch, which is within the noise; 2 more heap allocations
// per row (65 instead of 63, and 32 instead of 30), the version's boxing
// and encoding.
//
// # Errors
//
// Errors are wrapped with the operation and keep the driver's error in
// their chain. A bulk write that loses rows returns a *[WriteError] listing
// each failed row as a [RowError] (index, id, error); the other rows were
// written. [IsTimeout] and [IsUnavailable] tell a timeout (the write may or
// may not have been applied) from a refusal (it was not), and
// [IsRetryable] groups them with lost connections: callers should back off
// and write such rows again, which upserts make safe, rather than drop
// them. A row whose id is not a UUID fails with [ErrInvalidID], and a
// change with a negative version with [ErrInvalidVersion], without being
// sent.
//
// # Metrics
//
// The store's [WithMetrics] registers these series on a
// prometheus.Registerer and records them (without it, none are kept).
// Several stores given one registerer share the series: their counts add
// up.
//
//	name                            type       labels  buckets (seconds)          meaning
//	userstream_rows_stored_total    counter    none    -                          rows written to Cassandra (successful writes)
//	userstream_store_errors_total   counter    none    -                          bulk writes (UpsertMany or ApplyMany calls) that failed
//	userstream_store_batch_seconds  histogram  none    0.001 doubling to 65.536   time of one bulk write (UpsertMany or ApplyMany call)
//
// [Store.UpsertMany] adds the rows it wrote (all of them, or those a
// *[WriteError] does not list), counts an error when any row failed, and
// observes its duration, whether it failed or not; a call with no rows
// records nothing. [Store.ApplyMany] records the same way, counting each
// change applied, deletes included, as a row stored. [Store.Upsert] adds its row when written. The buckets
// are prometheus.ExponentialBuckets(0.001, 2, 17).
//
// # Logging
//
// [WithLogger] passes a *slog.Logger to [New] or [NewSession]; by default
// logs are discarded. Schema changes log at Info, failed rows at Debug,
// retries and the driver's own messages at Warn.
package cassandrastore
