// Package kafkasink moves [transform.Row] values through Kafka: a [Producer]
// that writes them to a topic (default users_created) and a [Consumer] that
// reads them back in a consumer group, hands them to a [Handler] in batches,
// and commits offsets only after the handler is done with them. Both sit on
// github.com/twmb/franz-go.
//
//	p, err := kafkasink.NewProducer(brokers, kafkasink.WithTopic("users"))
//	...
//	deliveries, err := p.ProduceSync(ctx, rows...)
//
//	c, err := kafkasink.NewConsumer(brokers, "users-to-store",
//		kafkasink.RowsHandler(store.UpsertMany, rejectBadRows),
//		kafkasink.WithTopic("users"), kafkasink.WithLogger(logger))
//	...
//	defer c.Close()
//	err = c.Run(ctx) // until ctx ends
//
// # Options
//
// Options are checked at compile time, as in cassandrastore and outbox
// and as franz-go's kgo does: [NewProducer] takes [ProducerOpt]s and
// [NewConsumer] [ConsumerOpt]s, and the options of both sides
// ([CommonOpt]: [WithTopic], [WithLogger], [WithClientOpts],
// [WithSchemaRegistry], [WithMetrics]) are both, so a consumer's option
// given to NewProducer (or the reverse) does not compile. A slice of
// common options cannot be spread into both constructors; spell them in
// each call, or append them to a []ProducerOpt and a []ConsumerOpt. Each
// option's documentation gives the default it overrides. The default
// logger discards.
//
// # Wire format
//
// A record's key is the row's id (the Random User API's login.uuid), its
// value the row's JSON ([transform.Marshal]), and its headers carry
// content-type and schema-version ([NewRecord], [DecodeRecord]). Records
// without headers, such as those of the seed's Python producer, decode too.
// A fetched-at header, when present, carries the time the user was fetched
// ([FetchedRow], [Encoded.FetchedAt], [Message.FetchedAt]), so the latency
// from fetch to store is known wherever the consumer runs. A row-version
// header ([HeaderRowVersion]), when present, carries the record's version,
// and with a null value makes the record a delete (see below).
//
// # Versions and deletes
//
// A versioned outbox gives each record a row-version header: the version
// of the row, or of the deletion, in decimal microseconds since the Unix
// epoch ([transform.Change.Version]; [Encoded.Version]). A record with the
// header and a null (or empty) value is a tombstone: the deletion of the
// user its key names ([Encoded.Delete]). The consumer reads both
// ([DecodeChange]) and hands them on: [Message.Version] and
// [Message.Delete], or [Message.Change]. A header that is not a positive
// decimal int64 makes the record poison ([ReasonDecode]), and so does a
// tombstone whose key is not a UUID ([ReasonValidate]); in registry mode a
// tombstone has no wire-format header and is read as a delete all the
// same. Records without the header are read as they always were:
// unversioned (Version 0), and a null value without the header is poison.
//
// [ChangesHandler] gives a store's [ChangeWriter] every change, rows and
// deletes with their versions; a store that writes at the version keeps
// the newest whatever order the records arrive in:
//
//	kafkasink.ChangesHandler(store.ApplyMany, kafkasink.RejectedRows)
//
// [RowsHandler] writes rows only: a versioned row is written as a row, its
// version ignored (the last write wins), and a delete is dead-lettered
// with [ReasonUnsupported], never dropped or written as an empty row;
// redrive such letters (package kafkasink/dlq, which keeps the header and
// the null value) once the consumer uses ChangesHandler.
//
// # Registry mode
//
// [WithSchemaRegistry] switches both sides to what registry-based readers
// (Confluent serdes, Kafka Connect, ksqlDB, Spark with ABRiS) expect. The
// producer registers the row's JSON Schema ([RegistrySchema]) under the
// subject <topic>-value ([ValueSubject]), after setting the subject's
// compatibility rule ([WithSchemaCompatibility], BACKWARD by default), and
// writes each value in the Confluent wire format: magic byte 0, the 4-byte
// schema id, the row's JSON. A schema the rule refuses is an
// *[IncompatibleSchemaError] ([ErrIncompatibleSchema]) before anything is
// produced; [RegisterSchema] checks a next version of the schema the same
// way. The consumer looks schema ids up in the registry and dead-letters
// records with an unknown id ([ReasonSchemaID]) or a first byte that is
// neither 0 nor '{' ([ReasonMagicByte]); it still reads plain JSON records,
// so a topic switches to registry mode without a stop (consumers first).
//
// # Producer
//
// [NewProducer] builds a franz-go client with the settings a pipeline that
// must not lose data wants: idempotent writes with acks from all in-sync
// replicas, batching with a short linger, snappy compression, and a bounded
// buffer that blocks [Producer.Produce] when full (backpressure instead of
// unbounded memory). Every record's outcome reaches the caller, through the
// callback of [Producer.Produce] or the result of [Producer.ProduceSync];
// nothing is dropped silently. [Producer.ProduceFetchedSync] writes rows with
// the time they were fetched, and [Producer.ProduceEncodedSync] writes rows
// already in their wire form, as an outbox stores them, without decoding and
// encoding them again. Call [Producer.Flush] before [Producer.Close]. A
// Producer is safe for concurrent use.
//
// # Consumer
//
// [Consumer.Run] first checks that the topic and its dead-letter topic
// exist: a missing one fails Run within seconds with [ErrTopicNotFound],
// naming the topic, unless [WithCreateDLQ] asks Run to create the
// dead-letter topic.
// Then it polls, decodes and validates each record, and calls the handler
// with the good rows of one partition at a time. Partitions are processed
// concurrently, each in offset order.
//
// Offsets are committed after the handler is done with the records they
// cover (at-least-once; with idempotent upserts downstream the effect is
// exactly-once). The [Handler] contract decides what done means: nil means
// every message is handled; a *[RejectError] ([Reject]) sends the messages
// it names to the dead-letter topic and counts the others handled; any
// other error is backpressure: nothing is dead-lettered or committed, and
// the same batch is retried with backoff ([WithBackoff]) until it succeeds,
// so a store outage holds the partition instead of losing or dead-lettering
// its records. [RowsHandler] turns a store's bulk write of rows
// ([RowWriter]) into a handler, mapping the rows the store rejects for good
// back to their messages ([RejectFunc]); [ChangesHandler] does the same
// with a store's bulk write of changes, deletes included ([ChangeWriter]).
//
// A record that cannot be decoded or fails validation is poison: it goes to
// the dead-letter topic with headers naming the reason, the error, and the
// original topic, partition and offset, and is then committed, so one bad
// record never stalls the pipeline. A value that is not valid UTF-8 is
// poison too. A record too large to be written to the dead-letter topic with
// those headers goes there without its value (the dlq-error header says
// so, and dlq-value-dropped gives the size dropped). The dead-letter topic
// defaults to the consumed topic's name plus [DLQSuffix] ([WithDLQTopic]).
// Package kafkasink/dlq lists the letters and redrives them once the cause
// is fixed; a redriven record carries a dlq-redrive-count header
// ([HeaderDLQRedriveCount]), which the consumer keeps on the new letter
// when the record fails again.
//
// Rebalances wait until the batch in flight is handled and committed, and
// so does shutdown, bounded by [WithShutdownTimeout]. Run returns when its
// context ends or [Consumer.Close] is called; with [WithStopAtEnd] it also
// returns nil once the group has committed up to the end offsets it saw at
// its start (a backfill or batch job; at once if there is nothing to
// consume). Close releases the consumer's franz-go client: call it whether
// or not Run ran (a consumer never run still holds the client's
// goroutines); it is idempotent and, during Run, waits for Run to return.
//
// # Broker failover
//
// A broker that dies without a word (SIGKILL, a lost host) keeps leading
// its partitions until the controller fences it, one broker session timeout
// after its last heartbeat (broker.session.timeout.ms, 9 s by default).
// Until then acks=all writes wait (the dead broker is still an in-sync
// replica of every partition it holds, so on three brokers with
// replication factor 3 the whole topic waits, and so do offset commits),
// and no client setting shortens that. What the clients add after the fence
// is the time to ask for metadata again and to retry; the producer and the
// consumer bound it with their own defaults for franz-go's client, each
// overridable through [WithClientOpts]:
//
//   - a metadata refresh at most every [DefaultMetadataMinAge] (500ms;
//     franz-go's is 5s): a failed request asks for one, so the new leader is
//     known within half a second of the fence;
//   - retries backing off from [DefaultRetryBackoffMin] to
//     [DefaultRetryBackoffMax] (100ms to 1s, the Java client's; franz-go's
//     250ms to 5s): a consumer retries a fetch from a dead broker, and with
//     it the metadata refresh, at least once a second;
//   - a consumer's heartbeats retried for at least [DefaultHeartbeatRetry]
//     (30s; franz-go gives up after the session timeout): when the group's
//     coordinator dies, the group moves to another broker only after the
//     fence, and a member still heartbeating then keeps its partitions,
//     with no rebalance;
//   - up to [DefaultRequestRetries] tries of a request (60; franz-go's 20),
//     so that its time bound (30s), not the count, ends the retries of a
//     commit or a heartbeat waiting for the group to move;
//   - a consumer's refused connections retried like those that time out:
//     franz-go gives a heartbeat or a commit up when two lookups of the
//     group's coordinator in a row are refused, as happens while the dead
//     broker still coordinates the group, and the member then loses its
//     partitions. For TLS give [WithDialTLS]: this dialer then does the
//     handshake. A dialer given through [WithClientOpts] (kgo.Dialer, or
//     kgo.DialTLSConfig, which franz-go takes only without one) replaces
//     it.
//
// On the local cluster the last partition resumed 0.9–1.9 s after the
// fence, where it took 4–6.5 s with franz-go's defaults; 1.7–4.8 s when the
// dead broker also coordinated the group (5–8 s before), more when a
// member still lost its partitions (RELIABILITY.md, "Broker failover"). A
// graceful stop (SIGTERM) moves leadership at once and waits for none of
// this.
//
// # Lag
//
// [Consumer.LagByPartition] returns, by partition, the records the group
// has not committed yet, counting every member's commits; a partition the
// group has never committed (also before its first commit) counts whole,
// end offset minus start offset. [Consumer.Lag] is their sum. Both work
// before and during Run, and fail with [ErrClosed] after [Consumer.Close]
// or once Run has returned.
//
// [Consumer.OldestUnstored] returns the fetch time of the oldest record
// the group has not committed, the oldest user in Kafka not known stored:
// over the partitions with a lag, the fetched-at header (or, without one,
// the timestamp) of the record at the committed offset, read by a fetch
// of one record batch. It is Kafka's part of the pipeline's freshness; the
// outbox's is package outbox's userstream_outbox_oldest_pending_seconds.
//
// # Replay from a time
//
// [Replay] moves a stopped group's committed offsets back to the first
// records stamped at or after a time, so that the group reads them again
// when it next runs: to restore what a store lost or had overwritten since.
// [PlanReplay] is its dry run: by partition, the committed offset, the
// target and the records to be read again ([ReplayPlan]); it only reads,
// so it works while the group runs. A replay only rewinds: a partition the
// group has not read past the time, or never committed, is left as it is.
// A group with members is refused with a *[GroupActiveError]
// ([ErrGroupActive]) naming them. With [ChangesHandler] and a store that
// writes at the version, a replayed record never overwrites a newer write:
// rows that are gone come back, rows overwritten by hand since (at the wall
// clock's time) do not; unversioned records restore both (last write wins).
//
// # Bounded runs that fail
//
// A handler that keeps failing is retried forever by default: for a
// service, a store outage is backpressure. [WithMaxHandlerAttempts] bounds
// the failures in a row on one batch; past it Run returns a *[HandlerError]
// wrapping the handler's error, with nothing of that batch committed, so
// that a batch job ([WithStopAtEnd]) whose store fails for good ends.
//
// # Metrics
//
// [WithMetrics] registers the series below on the prometheus.Registerer
// given (opt-in: without it nothing is registered or recorded). Names are
// stable. Durations are in seconds, in the buckets
// prometheus.ExponentialBuckets(0.001, 2, 17) (1ms..65s below: 1ms to
// about 65s, doubling). Labels never carry user data.
//
//	name                                          type       labels                  buckets   recorded by  meaning
//	userstream_records_dead_lettered_total        counter    -                       -         Consumer     records written to the dead-letter topic: poison and rejected
//	userstream_handler_errors_total               counter    -                       -         Consumer     handler calls that failed (the batch is retried, or Run ends past WithMaxHandlerAttempts), except those that failed because shutdown cancelled their context
//	userstream_consumer_lag                       gauge      group, topic, partition -         Consumer     records of the topic not yet committed by the group, by partition (LagByPartition)
//	userstream_consumer_oldest_unstored_seconds   gauge      group, topic            -         Consumer     now minus the fetch time of the oldest record the group has not committed (OldestUnstored); 0 when none
//	userstream_fetch_to_store_seconds             histogram  -                       1ms..65s  Consumer     from a record's fetched-at header to its handler returning success
//	userstream_produce_to_store_seconds           histogram  -                       1ms..65s  Consumer     from a record's produce timestamp to its handler returning success
//	userstream_kafka_producer_*                   (kprom)    client_id               kprom's   Producer     franz-go's client series, through plugin/kprom
//	userstream_kafka_consumer_*                   (kprom)    client_id               kprom's   Consumer     franz-go's client series, through plugin/kprom
//
// The latencies are observed by the consumer itself when the handler
// returns success for a batch, once per message stored (rejected messages
// are not), whatever the handler is: [RowsHandler] or another. A record
// without a fetched-at header has no fetch-to-store sample.
//
// The lag gauge is refreshed by a running consumer at most once per
// [LagRefreshInterval] (5s), whatever the commits, and at least that often
// (a commit refreshes it at once only when the last refresh is that old, as
// at Run's first commit); and once more when Run ends, after its last
// commit, best effort (for at most 1s: with the brokers down the gauge
// keeps its last value); not before Run starts. Its group and topic labels
// are the consumer's group and topic, so consumers of different groups or
// topics may share a registry: each writes its own series. Two members of
// one group write the same series, with the same value (the group's lag).
// Sum it without partition for a group's lag on a topic.
//
// userstream_consumer_oldest_unstored_seconds is set by the same refresh,
// after the lag, to the age then of [Consumer.OldestUnstored]: 0 without a
// read when no partition has a lag; otherwise one metadata request and one
// fetch per partition with a lag (of one record batch, at most the
// producer's batch size), so at most one such fetch per partition every
// 5 s, and none while the group keeps up. A refresh that fails leaves the
// oldest as it was, and the gauge grows from it. Like the lag, it is the
// group's (every member reads every partition) and each member writes the
// same series; its first value comes with the first refresh. Freshness
// across the pipeline is the larger of it and outbox's
// userstream_outbox_oldest_pending_seconds: the console shows it, and the
// example alert UserstreamStale watches both.
//
// The kprom series are franz-go's own (connections, bytes and records read
// and written, request latencies, buffered records; see plugin/kprom's
// documentation), with the namespace userstream, the subsystem
// kafka_producer or kafka_consumer, and a client_id label naming the
// client: each Producer and Consumer gets one of its own
// (userstream-producer-<n>, userstream-consumer-<n>), unless
// [WithClientOpts] sets kgo.ClientID. A client's kprom series are
// unregistered when it is closed (a Consumer's when Run returns).
//
// Several producers and consumers may share one registry: the package's
// own series are registered once and shared, so their counts add up (the
// lag gauge keeps one series per group, topic and partition).
// A constructor fails, rather than panics, when the registry holds one of
// these names as another type, or a client id twice.
//
// # Administration
//
// [EnsureTopic] creates a topic with partitions, replication factor and
// configs through kadm, and tells an existing topic apart from a new one.
package kafkasink
