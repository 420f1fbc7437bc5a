// Package kafkasink moves [transform.Row] values through Kafka: a [Producer]
// that writes them to the users_created topic and a [Consumer] that reads
// them back in a consumer group, hands them to a [Handler] in batches, and
// commits offsets only after the handler succeeded. Both sit on
// github.com/twmb/franz-go.
//
// # Wire format
//
// A record's key is the row's id (the Random User API's login.uuid), its
// value the row's JSON ([transform.Marshal]), and its headers carry
// content-type and schema-version ([NewRecord], [DecodeRecord]). Records
// without headers, such as those of the seed's Python producer, decode too.
// A fetched-at header, when present, carries the time the user was fetched
// ([Encoded.FetchedAt], [Message.FetchedAt]), so the latency from fetch to
// store is known wherever the consumer runs.
//
// # Producer
//
// [NewProducer] builds a franz-go client with the settings a pipeline that
// must not lose data wants: idempotent writes with acks from all in-sync
// replicas, batching with a short linger, snappy compression, and a bounded
// buffer that blocks [Producer.Produce] when full (backpressure instead of
// unbounded memory). Every record's outcome reaches the caller, through the
// callback of [Producer.Produce] or the result of [Producer.ProduceSync];
// nothing is dropped silently. Call [Producer.Flush] before [Producer.Close].
// [Producer.ProduceEncodedSync] produces rows already in their wire form,
// as an outbox stores them, without decoding and encoding them again.
//
// # Consumer
//
// [Consumer.Run] polls, decodes and validates each record, and calls the
// handler with the good rows of one partition at a time. Partitions are
// processed concurrently, each in offset order. A handler error is retried
// with exponential backoff, never skipped: a store outage is backpressure,
// not data loss. Offsets are committed after the handler succeeded for the
// records they cover (at-least-once; with idempotent upserts downstream the
// effect is exactly-once). Rebalances wait until the batch in flight is
// handled and committed, and so does shutdown, bounded by
// [ShutdownTimeout].
//
// A record that cannot be decoded or fails validation is poison: it goes to
// the dead-letter topic (default users_created.dlq) with headers naming the
// reason, the error, and the original topic, partition and offset, and is
// then committed, so one bad record never stalls the pipeline. A value that
// is not valid UTF-8 is poison too. A record too large to be written to the
// dead-letter topic with those headers goes there without its value (the
// dlq-error header says so).
//
// # Administration
//
// [EnsureTopic] creates a topic with partitions, replication factor and
// configs through kadm, and tells an existing topic apart from a new one.
package kafkasink
