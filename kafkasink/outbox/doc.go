// Package outbox stages fetched users in PostgreSQL and relays them to Kafka
// without loss: the staging table is a transactional outbox, the durable
// hand-off between fetching and streaming.
//
//	pool, err := pgxpool.New(ctx, os.Getenv("USERSTREAM_POSTGRES_DSN"))
//	...
//	store, err := outbox.NewStore(pool)               // schema "userstream"; no I/O
//	err = store.Migrate(ctx)                          // idempotent
//	res, err := store.Stage(ctx, runID, rows)         // res.Staged, res.Duplicates, res.Updates
//	res, err = store.StageDeletes(ctx, runID, ids)    // deletions, published as tombstones
//
//	producer, err := kafkasink.NewProducer(brokers)
//	relay, err := outbox.NewRelay(store, producer)    // any outbox.Producer
//	err = relay.Run(ctx)                              // a service: until ctx ends
//	err = relay.Drain(ctx)                            // a batch job: until nothing is pending
//
// # Tables
//
// [Store.Migrate] creates, in the store's schema ([WithSchema], default
// "userstream"):
//
//   - outbox: one row per version of a user, never updated. seq, a
//     bigint identity, is the stage order and the primary key; id is the
//     user's id (the Random User API's login.uuid), indexed with seq
//     (outbox_id) to find an id's latest version; version is the
//     version's order (see Versions); deleted marks a deletion, whose
//     payload is NULL; payload is the row's wire JSON ([transform.Marshal]),
//     stored as json so the bytes stay as Stage wrote them; then the run
//     id and the fetch time.
//   - outbox_position: a single row holding position, the seq of the last
//     row published. Rows at or below it are published, the rows after it
//     pending ([Store.Counts], [Store.Pending]). It also holds topic, the
//     Kafka topic the outbox is bound to (see Topic binding).
//   - outbox_rounds: one row per relay round that published, with the
//     seq, Kafka partition and offset of each row it published (three
//     arrays, recorded in the statement that moves the position), so
//     [Store.History] says where a version is in Kafka without reading
//     the topic. Cleanup deletes rounds after the retention.
//   - schema_version: the migrations applied. Running Migrate again, or
//     from several processes at once, is safe; each version upgrades the
//     previous one in place (version 2 a version 1 table, which marked
//     each row published; version 3 adds the topic, unbound; version 4
//     makes it versioned, giving existing rows versions in seq order from
//     their earliest fetch time; version 5 adds outbox_rounds, empty: rows
//     published before it have no recorded place).
//
// Version 4 also adds the sequence outbox_version and the function
// outbox_versions(n), which reserves n versions (see Versions).
//
// # Staging
//
// [Store.Stage] stages a page of [transform.Row] values in one
// transaction: all of it or none. A row equal to its user's latest version
// (fetched twice, unchanged) is not stored again and is counted in
// [StageResult.Duplicates]; a changed one is a new version (see
// Versions). [Store.StageDeletes] stages deletions the same way. Pages of
// at least [WithCopyThreshold] rows (default 256) are loaded with COPY
// into a temporary table, smaller pages as arrays; then one call reserves
// the page's versions, and one INSERT ... SELECT writes the rows that
// differ from their user's latest version, in page order.
//
// Inserting transactions take turns. A position is only sound if rows
// become visible in seq order: a page committed while an earlier one is
// still in flight must not be published first, or the earlier one would
// be passed over. So a statement trigger on the outbox (BEFORE INSERT)
// takes a transaction-scoped advisory lock of the table, which every
// inserter takes, this package or not: a transaction draws its seqs, and
// commits, before the next may draw any. Stage takes the lock earlier,
// when it reserves its versions, so its INSERT sees every page committed
// before it. Staging is then one page at a time per outbox, from the
// reservation to the commit (the COPY into the temporary table comes
// before and runs side by side). That caps one outbox at what one stager
// does alone, about 70,000 rows a second on a small machine
// (BenchmarkStage), three times what the pipeline stores in Cassandra on
// the same machine.
//
// # Versions
//
// A user's versions are its rows in the outbox, in seq order; the last is
// its latest version. Each version has a version number, its order: a
// count of microseconds since the Unix epoch, at least the time it was
// staged, and strictly increasing in staging (seq) order, across runs,
// relays, restarts and cleanups ([transform.Change.Version]). The order is
// the staging order: there is one outbox per topic, and staging into it is
// serialized, so the version staged later is the newer one, whatever the
// clocks of the stagers. outbox_versions(n) reserves the versions of a
// page under the serialize lock, from a sequence that never goes back:
// the larger of the sequence's next value and the current time. A row
// inserted into the outbox by other means than this package gets its
// version from the column's DEFAULT, outbox_versions(1), so it is ordered
// the same way.
//
// [Store.Stage] compares each row with its user's latest version, byte for
// byte on the wire JSON ([transform.AppendJSON] is deterministic, and the
// id is written in lower case): equal, it is a duplicate; different (or
// the latest version is a deletion, or there is none), it is a new
// version, counted in [StageResult.Staged] and, if the user had a version,
// in [StageResult.Updates]. Within a page, a row equal to the row before it
// of the same user is a duplicate, a different one a newer version, staged
// after it. [Store.StageDeletes] stages deletions: a version with no
// payload, published as a tombstone; a deletion of a user whose latest
// version is a deletion is a duplicate, one of a user the outbox never had
// is staged (the stores may have the user from elsewhere).
// [Store.Republish] stages a user's latest version again as a new version,
// so that a repair wins over anything written to a store before.
// [Store.Latest] and [Store.EachLatest] read latest versions, for a
// reconciler; [Store.History] reads every version of one id with whether
// and where (Kafka partition and offset) the relay published it, for
// package explain.
//
// The relay publishes each version with its number in the row-version
// header ([kafkasink.HeaderRowVersion], decimal microseconds), and a
// deletion as a tombstone (key the id, a null value), so a store that
// writes at the version keeps the newest version whatever order, and
// however often, the records arrive. Cleanup deletes only published
// versions older than the retention that a newer version of the same user
// replaced: a user's latest version stays for good, since Stage compares
// with it and a reconciler reads it.
//
// # Relaying
//
// A [Relay] publishes through a [Producer], usually a *[kafkasink.Producer].
// Each round ([Relay.RelayOnce]) is one transaction, a [Claim]: lock the
// position row (SELECT ... FOR UPDATE NOWAIT), check the outbox's topic,
// read up to [WithRoundSize] rows (default 500) after the position in seq
// order, produce them as they are ([Producer]
// gets the stored bytes, not a decoded and re-encoded row), and move the
// position past the rows the broker acknowledged, up to the first that was
// not; then commit. Rows go to Kafka in stage order.
//
// One relay publishes at a time. Relays in one process or many may run side
// by side, but only the one holding the position row's lock publishes; a
// relay that finds the row locked stands by ([ErrStandby]) and tries again
// at its next round. When the publishing relay stops or its connection
// drops, Postgres releases the lock and another takes over where it left
// off. Running several relays is for availability, not throughput.
//
// A payload that is not a valid row (inserted by other means than Stage) is
// published too, and the consumers' [kafkasink.DecodeRecord] sends it to
// the dead-letter topic with the reason: one place for poison, where it is
// visible.
//
// [Relay.Run] wakes when rows are staged (a statement trigger sends a
// NOTIFY on the channel <schema>_outbox, [Store.Channel], which the relay
// LISTENs on) and also polls ([WithPollInterval], default 1s), so a lost
// notification or a broken LISTEN connection delays rows but never strands
// them. Every [WithCleanupInterval] (default 5 minutes) it deletes the
// published versions staged more than [WithRetention] (default 24h) ago
// that a newer version replaced ([Relay.Cleanup]).
//
// Three calls relay, one per kind of program:
//
//   - [Relay.Run], for a service: relays as rows are staged until ctx
//     ends, rides out outages, cleans up on its own.
//   - [Relay.Drain], for a batch job (stage, drain, exit): relays until
//     nothing is pending, waiting out another relay that holds the
//     position, then cleans up once and returns; it returns the first
//     failed round's error, and the next run resumes at the position.
//   - [Relay.RelayOnce], for one round under a scheduler of your own, which
//     then also calls [Relay.Cleanup], or the outbox grows forever.
//
// A relay reads its outbox through a [Source], which *[Store] is: a fake
// Source tests code that drives a relay without PostgreSQL.
//
// # Topic binding
//
// An outbox publishes to one topic. The first relay round that publishes
// from it (moves the position) records its producer's topic
// ([Producer].Topic) in outbox_position, in the same statement that moves
// the position; every later round, of any relay, checks it before it reads
// a row, and a relay whose producer has another topic fails with a
// *[TopicMismatchError] (errors.Is [ErrTopicMismatch]) and publishes
// nothing: [Relay.RelayOnce] and [Relay.Drain] return it, and [Relay.Run]
// returns it instead of retrying.
//
// A round that publishes nothing binds nothing: a Drain of an empty
// outbox, or a relay with a mistyped topic whose deliveries all fail,
// leaves the outbox unbound, for the right topic to bind later. Binding
// with the first publish, rather than allowing a rebind while nothing has
// been published, keeps one rule with no state beyond the topic itself:
// an outbox is bound exactly when rows have left it. The binding is made
// by the relay, not by [Store.Migrate], because a store does not know the
// topic (staging processes may never publish), and an outbox migrated from
// an older version binds the same way, at its first publishing round.
// [Store.BoundTopic] reads it. To move an outbox to another topic on
// purpose, drain it and set outbox_position.topic by hand (or to NULL, to
// bind again).
//
// # Delivery guarantee
//
// At least once. A batch with a failed delivery moves the position only up
// to the first failure, so that row and every row after it, acknowledged or
// not, go out again in a later round. A relay that dies after the broker
// acknowledged a batch but before its transaction committed leaves the
// position where it was; Postgres releases the lock when the connection
// drops, and the next round publishes the batch again. So a crash or a
// failed delivery duplicates at most one batch in Kafka, and never loses a
// row. Consumers absorb duplicates with an idempotent upsert by id, at the
// version. Once a
// batch is produced, the relay moves the position and commits even if its
// context has ended (bounded by [WithCommitTimeout]), so a normal shutdown
// does not cause duplicates.
//
// # Errors
//
// Every error from Postgres is an [*Error] naming the operation and the
// schema and wrapping the pgx error (a failed produce is one too, of op
// "produce"): use errors.As with *pgconn.PgError for the SQLSTATE,
// [IsPermissionDenied] for missing privileges, and errors.Is(err,
// [ErrNotMigrated]) for a schema that [Store.Migrate] has not created.
// [ErrStandby] is not a failure: another relay is publishing. Connection
// errors come from pgx, which redacts passwords; this package never sees
// the connection string, so it can print neither. [Relay.Run] retries every
// failed round after a backoff ([WithBackoff], doubling from 100ms to 30s
// by default) and logs it, so a Postgres or Kafka outage is waited out, not
// fatal; a *[TopicMismatchError] (the relay's topic is not its outbox's)
// it returns.
//
// # Metrics
//
// With [WithMetrics], a [Store] and a [Relay] register these series on the
// caller's prometheus.Registerer (none without it). Stores or relays given
// the same registry share the series, and their counts add up. Durations
// are in seconds, in the buckets prometheus.ExponentialBuckets(0.001, 2,
// 17): 1 ms to about 65 s.
//
//	name                                      type       labels  buckets   by     meaning
//	userstream_users_staged_total             counter    none    -         Store  versions written to the outbox (StageResult.Staged, and Republish's)
//	userstream_users_duplicate_total          counter    none    -         Store  users staged again unchanged (StageResult.Duplicates)
//	userstream_stage_batch_seconds            histogram  none    1ms..65s  Store  time of one Stage call that reached the database, failed or not
//	userstream_users_published_total          counter    none    -         Relay  rows the relay published to Kafka (acknowledged, position moved)
//	userstream_outbox_pending                 gauge      none    -         Relay  rows staged and not yet published, as of the relay's last round
//	userstream_relay_errors_total             counter    none    -         Relay  relay rounds that failed (Run retries them; standby is no failure)
//	userstream_outbox_oldest_pending_seconds  gauge      none    -         Relay  now minus the fetch time of the oldest row pending ([Store.OldestPending]); 0 when none is
//
// userstream_outbox_pending is set by every round that held the position:
// after a round that read less than a full round, to the rows it left
// unpublished (it read every visible row); after a full round, by
// counting ([Store.Pending]), at most once per [WithPollInterval]. A relay
// standing by does not change it, and it is 0 until the first round. It
// has no label, so relays of several outboxes on one registry share it
// (the last round of any sets it): give each outbox its own registry, or
// wrap the registerer with prometheus.WrapRegistererWith and a label, to
// tell them apart.
//
// userstream_outbox_oldest_pending_seconds is the outbox's part of the
// pipeline's freshness, how long its oldest user has waited to be stored
// (kafkasink's userstream_consumer_oldest_unstored_seconds is the Kafka
// part; the freshness is the larger of the two, which the console shows and
// the example alert UserstreamStale watches). It is set after every round
// of [Relay.Run], [Relay.Drain] and [Relay.RelayOnce], standing by or
// failed rounds included, to the age at that moment of the oldest pending
// row as last known: a round that left rows unpublished knows it (the
// first of them), one that read less than a full round and published it all
// knows there is none, and otherwise [Store.OldestPending] looks it up, at
// most once per [WithPollInterval]: one probe of the primary key, whatever
// the backlog. A lookup that fails (Postgres down) leaves the oldest as it
// was, and the gauge keeps growing from it. Under Run it is so at most a
// poll interval old; a relay that Drain or RelayOnce drive sets it only
// when called. A relay standing by looks it up too, so every relay of an
// outbox reports the same age, and max over them is right. A [Source]
// other than *Store has no lookup unless it has Store's OldestPending
// method too.
//
// # Concurrency and lifecycle
//
// [Store] and [Relay] are safe for concurrent use; a [Producer] and a
// [Source] must be too. Neither constructor does I/O, and neither owns the
// pool or the producer it is given: the caller closes them after the
// relay's last call (Run, Drain, RelayOnce, Cleanup) has returned.
//
// Options are of two kinds, [StoreOpt] and [RelayOpt], both an [Opt]
// ([WithMetrics] is both: a [StoreRelayOpt]); each states the default it
// overrides. Logging goes to [WithLogger]; by default it is discarded.
package outbox
