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
// the row's wire JSON ([transform.Marshal]) as jsonb, the run id, the fetch
// time and the publish state. A user already in the table (fetched twice, in
// two pages or twice in one) is stored once and counted in
// [StageResult.Duplicates]. Pages of at least [CopyThreshold] rows (default
// 256) are loaded with COPY into a temporary table and moved over with one
// INSERT ... ON CONFLICT DO NOTHING; smaller pages take a single INSERT.
// Either way a page is staged in one transaction: all of it or none.
//
// [Store.Migrate] creates the schema and its tables and records the schema
// version in <schema>.schema_version; running it again, or from several
// processes at once, is safe.
//
// # Relay
//
// A [Relay] claims unpublished rows in batches with SELECT ... FOR UPDATE
// SKIP LOCKED, so several relays (in one process or many) share the work
// without publishing a row twice. It produces a batch with a
// [kafkasink.Producer], and in the same transaction marks published only
// the rows the broker acknowledged, then commits. Rows whose delivery failed
// stay unpublished and are retried in a later round.
//
// [Relay.Run] wakes when rows are staged (an insert trigger sends a
// NOTIFY on the channel <schema>_outbox, which the relay LISTENs on) and
// also polls ([PollInterval], default 1s), so a lost notification or a
// broken LISTEN connection delays rows but never strands them. It deletes
// published rows older than [Retention] (default 24h) every
// [CleanupInterval]. [Relay.RelayOnce] relays one batch, for tests and
// external schedulers.
//
// # Delivery guarantee
//
// At least once. A relay that dies after the broker acknowledged a batch but
// before its transaction committed leaves the batch unpublished; Postgres
// releases its locks when the connection drops, and the next round
// publishes the batch again. So a crash can duplicate at most one batch per
// relay in Kafka, and never loses a row. Consumers absorb duplicates with an
// idempotent upsert by id. Once a batch is produced, the relay marks and
// commits it even if its context has ended (bounded by a timeout), so a
// normal shutdown does not cause duplicates.
//
// A relay claims the oldest staged rows first (pages in the order they were
// staged; within a page, by id), but relays running side by side publish
// in no particular order. That is harmless: every row is a different user,
// and a user is staged once.
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
