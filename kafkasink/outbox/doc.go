// Package outbox stages fetched users in PostgreSQL and relays them to Kafka
// without loss: the staging table is a transactional outbox, the durable
// hand-off between fetching and streaming.
//
//	pool, err := pgxpool.New(ctx, os.Getenv("USERSTREAM_POSTGRES_DSN"))
//	...
//	store, err := outbox.NewStore(pool)               // schema "userstream"
//	err = store.Migrate(ctx)                          // idempotent
//	res, err := store.Stage(ctx, runID, rows)         // res.Staged, res.Duplicates
//
//	producer, err := kafkasink.NewProducer(brokers)
//	relay, err := outbox.NewRelay(store, producer)
//	err = relay.Run(ctx)                              // until ctx ends
//
// # Staging
//
// [Store.Stage] writes a page of [transform.Row] values to the table
// <schema>.outbox: the id (the Random User API's login.uuid) as primary key,
// a sequence number (seq), the row's wire JSON ([transform.Marshal]) as
// json, the run id and the fetch time. A user already in the table
// (fetched twice, in two pages or twice in one) is stored once and counted
// in [StageResult.Duplicates]. Pages of at least [CopyThreshold] rows
// (default 256) are loaded with COPY into a temporary table and moved over
// with one INSERT ... ON CONFLICT DO NOTHING; smaller pages take a single
// INSERT. Either way a page is staged in one transaction: all of it or none.
//
// [Store.Migrate] creates the schema and its tables and records the schema
// version in <schema>.schema_version; running it again, or from several
// processes at once, is safe. Version 2 upgrades a version 1 table in place.
//
// # Relay
//
// The outbox is append-only: a row is written once and never updated. What
// has been published is one number, <schema>.outbox_position: the seq of
// the last row published. A [Relay] reads the rows after it in seq order,
// produces them with a [kafkasink.Producer], and moves the position past
// the rows the broker acknowledged, up to the first that failed, in one
// transaction. Marking each row published instead (an UPDATE per row, as
// version 1 did) cost Postgres five times the CPU of reading it, and left a
// dead tuple per row for vacuum.
//
// A position is only sound if rows become visible in seq order: a page
// committed while an earlier one is still in flight must not be published
// first, or the earlier one would be passed over. So inserts into the
// outbox take turns: a statement trigger takes a transaction-scoped
// advisory lock of the table, which holds for inserts by any program.
// Staging is then one page at a time per outbox, from the INSERT to the
// commit (the COPY into the temporary table comes before and runs side by
// side). That caps one outbox at what one stager does alone, 80,000 to
// 100,000 rows a second on a small machine (BenchmarkStage), four times
// what the pipeline stores in Cassandra on the same machine.
//
// Relays in one process or many may run side by side; the one holding the
// position row's lock (SELECT ... FOR UPDATE NOWAIT) publishes, the others
// stand by and take over when it stops. Rows go to Kafka in stage order.
//
// The payload column is json, which keeps the bytes Stage wrote, and the
// relay produces them as they are ([kafkasink.Producer.ProduceEncodedSync])
// without decoding and encoding each row again. A payload that is not a
// valid row (inserted by other means than Stage) is published too, and the
// consumers' [kafkasink.DecodeRecord] sends it to the dead-letter topic
// with the reason: one place for poison, where it is visible.
//
// [Relay.Run] wakes when rows are staged (an insert trigger sends a
// NOTIFY on the channel <schema>_outbox, which the relay LISTENs on) and
// also polls ([PollInterval], default 1s), so a lost notification or a
// broken LISTEN connection delays rows but never strands them. It deletes
// published rows staged more than [Retention] (default 24h) ago every
// [CleanupInterval]. [Relay.RelayOnce] relays one batch, for tests and
// external schedulers.
//
// # Delivery guarantee
//
// At least once. A relay that dies after the broker acknowledged a batch but
// before its transaction committed leaves the position where it was;
// Postgres releases the lock when the connection drops, and the next round
// publishes the batch again. A batch with failed deliveries moves the
// position only up to the first failure, so the acknowledged rows after it
// go out again too. So a crash or a failed delivery duplicates at most one
// batch in Kafka, and never loses a row. Consumers absorb duplicates with
// an idempotent upsert by id. Once a batch is produced, the relay commits
// the position even if its context has ended (bounded by a timeout), so a
// normal shutdown does not cause duplicates.
//
// # Errors
//
// Every error from Postgres is an [*Error] naming the operation and the
// schema and wrapping the pgx error (a failed produce is one too, of op
// "produce"): use errors.As with *pgconn.PgError for the SQLSTATE,
// [IsPermissionDenied] for missing privileges, and errors.Is(err,
// [ErrNotMigrated]) for a schema that [Store.Migrate] has not
// created. Connection errors come from pgx, which redacts passwords; this
// package never sees the connection string, so it can print neither.
// [Relay.Run] retries every failed round with exponential backoff and logs
// it, so a Postgres or Kafka outage is waited out, not fatal.
//
// # Concurrency and lifecycle
//
// [Store] and [Relay] are safe for concurrent use. Neither does I/O in its
// constructor, and neither owns the pool or the producer it is given: the
// caller closes them after Run has returned.
//
// Logging goes to the [Logger] option; by default it is discarded.
package outbox
