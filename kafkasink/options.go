package kafkasink

import (
	"context"
	"crypto/tls"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/userstream/userstream/internal/backoff"
)

// Opt is any option of this package; only the package makes options. Each
// is of a kind, after what it configures, and the constructors take only
// their own kind, so an option given to the wrong one does not compile (as
// in cassandrastore and outbox, and as franz-go's kgo does):
// [NewProducer] takes [ProducerOpt]s, [NewConsumer] [ConsumerOpt]s, and a
// [CommonOpt] ([WithTopic], [WithLogger], [WithClientOpts],
// [WithSchemaRegistry], [WithMetrics]) is both.
type Opt interface {
	apply(*config)
}

// ProducerOpt is an option of [NewProducer]: an [Opt] that configures a
// [Producer].
type ProducerOpt interface {
	Opt
	producerOpt()
}

// ConsumerOpt is an option of [NewConsumer]: an [Opt] that configures a
// [Consumer].
type ConsumerOpt interface {
	Opt
	consumerOpt()
}

// CommonOpt is an option of both sides, a [ProducerOpt] and a
// [ConsumerOpt]. A []CommonOpt spreads into neither constructor: append
// its elements to a []ProducerOpt or []ConsumerOpt.
type CommonOpt interface {
	ProducerOpt
	ConsumerOpt
}

type (
	commonOpt   struct{ fn func(*config) }
	producerOpt struct{ fn func(*config) }
	consumerOpt struct{ fn func(*config) }
)

func (o commonOpt) apply(c *config)   { o.fn(c) }
func (o producerOpt) apply(c *config) { o.fn(c) }
func (o consumerOpt) apply(c *config) { o.fn(c) }
func (commonOpt) producerOpt()        {}
func (commonOpt) consumerOpt()        {}
func (producerOpt) producerOpt()      {}
func (consumerOpt) consumerOpt()      {}

// config holds the settings of both sides, as kgo's cfg does; each
// constructor reads its own.
type config struct {
	topic      string
	logger     *slog.Logger
	clientOpts []kgo.Opt
	dialTLS    *tls.Config
	registry   *sr.Client            // nil: plain mode
	metrics    prometheus.Registerer // nil: no metrics

	// Producer.
	compat          sr.CompatibilityLevel
	linger          time.Duration
	maxBuffered     int
	compression     kgo.CompressionCodec
	deliveryTimeout time.Duration

	// Consumer.
	dlqTopic        string // without WithDLQTopic, NewConsumer sets topic + DLQSuffix
	dlqSet          bool
	createDLQ       bool
	dlqPartitions   int32
	dlqReplication  int16
	maxPollRecords  int
	backoff         backoff.Backoff
	shutdownTimeout time.Duration
	startAtEnd      bool
	stopAtEnd       bool
	onCommit        func(map[string]map[int32]int64)
	maxAttempts     int // 0: retry the handler forever
	instanceID      string
	sessionTimeout  time.Duration
}

// discard is the default logger: a library does not write to the
// process's log unless asked to.
var discard = slog.New(slog.DiscardHandler)

func defaultConfig() config {
	return config{
		topic:           DefaultTopic,
		logger:          discard,
		linger:          5 * time.Millisecond,
		maxBuffered:     10000,
		compat:          sr.CompatBackward,
		compression:     kgo.SnappyCompression(),
		deliveryTimeout: 2 * time.Minute,
		maxPollRecords:  2000,
		backoff:         backoff.Backoff{Min: 100 * time.Millisecond, Max: 10 * time.Second},
		shutdownTimeout: 30 * time.Second,
	}
}

// newConfig applies opts over the defaults.
func newConfig[O Opt](opts []O) config {
	cfg := defaultConfig()
	for _, o := range opts {
		if any(o) == nil {
			continue
		}
		o.apply(&cfg)
	}
	if cfg.logger == nil {
		cfg.logger = discard
	}
	return cfg
}

// WithTopic sets the topic to produce to or consume from, overriding the
// default users_created. A consumer's dead-letter topic follows it (see
// [WithDLQTopic]).
func WithTopic(topic string) CommonOpt { return commonOpt{func(c *config) { c.topic = topic }} }

// WithLogger sets the logger (nil discards), overriding the default, which
// discards. Retries and dead-lettered records are logged at warning level,
// partition assignments at info; franz-go's own messages are passed on at
// warning level and above.
func WithLogger(l *slog.Logger) CommonOpt { return commonOpt{func(c *config) { c.logger = l }} }

// WithDialTLS has the client dial the brokers over TLS configured by cfg
// (a nil cfg: plain TCP, the default), overriding a kgo.DialTLSConfig
// given through [WithClientOpts]. Prefer it to kgo.DialTLSConfig: a
// [Consumer]'s client dials with its own dialer, which retries a refused
// connection ("Broker failover" in the package doc), and franz-go takes a
// dialer only without kgo.DialTLSConfig, so with that option a Consumer
// falls back to franz-go's TLS dialer, and a dead group coordinator can
// again cost its members their partitions. With WithDialTLS the
// Consumer's dialer does the TLS handshake itself. An empty ServerName is
// the broker's host, as with franz-go.
func WithDialTLS(cfg *tls.Config) CommonOpt {
	return commonOpt{func(c *config) { c.dialTLS = cfg }}
}

// WithClientOpts appends options to the franz-go client that the producer or
// consumer builds (TLS, SASL, hooks such as kprom's metrics, fetch sizes),
// overriding the default of none. They come after the package's own
// options, so where both set the same thing these win.
func WithClientOpts(opts ...kgo.Opt) CommonOpt {
	return commonOpt{func(c *config) { c.clientOpts = append(c.clientOpts, opts...) }}
}

// WithSchemaRegistry turns on registry mode, overriding the default plain
// mode (JSON values with content-type and schema-version headers, which the
// seed's Spark job and kcat read).
//
// In registry mode the producer registers the row's value schema
// ([RegistrySchema], JSON Schema) under the subject <topic>-value
// ([ValueSubject]) before its first record, after setting the subject's
// compatibility rule ([WithSchemaCompatibility]), and writes each value in
// the Confluent wire format: magic byte 0, the schema id (4 bytes,
// big-endian), the row's JSON. Its records carry no content-type or
// schema-version header (the schema id replaces them); fetched-at stays.
// A schema the subject's rule refuses fails every row with an
// *[IncompatibleSchemaError] and nothing is produced; a registry that
// cannot be reached fails the rows produced meanwhile, and registration is
// tried again with the next row ([Producer.RegisterSchema] checks both at
// start).
//
// The consumer reads the wire format, looking schema ids up in the
// registry (cached; a registry that cannot be reached is retried like a
// failing handler, never dead-lettered), and sends records whose schema id
// the registry does not have ([ReasonSchemaID]) or whose first byte is
// neither the magic byte nor '{' ([ReasonMagicByte]) to the dead-letter
// topic. It reads plain JSON records as well, so a topic can switch to
// registry mode without a stop: switch the consumers first, then the
// producers.
//
// cl is franz-go's schema-registry client, for example
// sr.NewClient(sr.URLs(url)); its options carry TLS, authentication and
// timeouts.
func WithSchemaRegistry(cl *sr.Client) CommonOpt {
	return commonOpt{func(c *config) { c.registry = cl }}
}

// WithSchemaCompatibility sets the compatibility rule that a producer in
// registry mode puts on its subject before registering the schema,
// overriding the default BACKWARD (a consumer using the new schema can read
// records written with the previous one: fields may be added as optional,
// not removed or made required). 0 leaves the subject's rule as the
// registry has it, for a registry whose rules an operator owns.
func WithSchemaCompatibility(level sr.CompatibilityLevel) ProducerOpt {
	return producerOpt{func(c *config) { c.compat = level }}
}

// WithLinger sets how long a partition's batch may wait for more records,
// overriding the default 5ms. Longer lingers make larger batches (fewer
// requests, better compression) at the cost of latency.
func WithLinger(d time.Duration) ProducerOpt {
	return producerOpt{func(c *config) { c.linger = d }}
}

// WithMaxBufferedRecords bounds the records buffered and in flight,
// overriding the default 10,000. When the buffer is full, Produce blocks
// until space frees up or its context ends: backpressure, never a silent
// drop.
func WithMaxBufferedRecords(n int) ProducerOpt {
	return producerOpt{func(c *config) { c.maxBuffered = n }}
}

// WithCompression sets the batch compression, overriding the default snappy,
// which compresses these JSON rows about as well as lz4 with a fraction of
// its memory (lz4 keeps megabytes of hash tables per compressor).
func WithCompression(codec kgo.CompressionCodec) ProducerOpt {
	return producerOpt{func(c *config) { c.compression = codec }}
}

// WithDeliveryTimeout bounds how long a record may be retried before its
// delivery fails with an error, overriding the default 2 minutes.
func WithDeliveryTimeout(d time.Duration) ProducerOpt {
	return producerOpt{func(c *config) { c.deliveryTimeout = d }}
}

// WithDLQTopic sets the dead-letter topic, overriding the default: the
// consumed topic's name followed by [DLQSuffix] (users_created.dlq for
// users_created, orders.dlq for orders). The topic must exist when Run
// starts, unless [WithCreateDLQ] is given.
func WithDLQTopic(topic string) ConsumerOpt {
	return consumerOpt{func(c *config) { c.dlqTopic, c.dlqSet = topic, true }}
}

// WithCreateDLQ makes Run create the dead-letter topic, with the partitions
// and replication factor given, when it does not exist, overriding the
// default: Run fails with [ErrTopicNotFound] (clusters rarely create topics
// on first use, and a dead-letter topic created so would get the broker's
// defaults).
func WithCreateDLQ(partitions int32, replicationFactor int16) ConsumerOpt {
	return consumerOpt{func(c *config) {
		c.createDLQ, c.dlqPartitions, c.dlqReplication = true, partitions, replicationFactor
	}}
}

// WithMaxPollRecords bounds the records taken by one poll, and so the size of
// the batches the handler sees, overriding the default 2,000.
func WithMaxPollRecords(n int) ConsumerOpt {
	return consumerOpt{func(c *config) { c.maxPollRecords = n }}
}

// WithBackoff sets the waits between retries of a failing handler, a failing
// dead-letter write, or a failed check of the topics at the start of Run:
// the wait doubles on each failure, with jitter, from min up to max,
// overriding the defaults 100ms and 10s.
func WithBackoff(min, max time.Duration) ConsumerOpt {
	return consumerOpt{func(c *config) { c.backoff = backoff.Backoff{Min: min, Max: max} }}
}

// WithShutdownTimeout bounds how long Run, once its context is done (or
// [Consumer.Close] is called), waits for the batch in flight to be handled
// and committed, overriding the default 30s. Records not committed by then
// are delivered again later. With [WithMetrics], Run then refreshes the lag
// gauge once more before it returns, best effort, for at most 1s more.
func WithShutdownTimeout(d time.Duration) ConsumerOpt {
	return consumerOpt{func(c *config) { c.shutdownTimeout = d }}
}

// WithStartAtEnd makes a group with no committed offsets start at the end of
// the topic, overriding the default start at the earliest offset (the
// seed's startingOffsets=earliest).
func WithStartAtEnd() ConsumerOpt { return consumerOpt{func(c *config) { c.startAtEnd = true }} }

// WithStopAtEnd makes Run return nil once the group has committed every
// partition of the topic up to the end offsets Run saw when it started,
// overriding the default of consuming until the context ends: a backfill
// or batch job. Records produced after the start may be handled too, in
// the batches that finish the job, but Run does not wait for them. Run
// returns nil at once, without joining the group, when there is nothing to
// consume: an empty topic, or one the group has already committed to its
// end. It counts commits made by every member of the group. The topic must
// be written without transactions (a transaction marker at the end of a
// partition is never committed past).
func WithStopAtEnd() ConsumerOpt { return consumerOpt{func(c *config) { c.stopAtEnd = true }} }

// WithMaxHandlerAttempts bounds the handler's calls on one batch that fail
// in a row (a *[RejectError] is not a failure) to n, overriding the default
// 0: retry a failing handler forever, what a service wants (a store outage
// is backpressure). After the n-th failure in a row, Run stops and returns
// a *[HandlerError] wrapping the handler's last error; nothing of that
// batch is committed, so the group reads it again next time (the other
// partitions' batches handled meanwhile are committed). Use it for a batch
// job ([WithStopAtEnd]) that must end when the store fails for good, such
// as a keyspace that wants more replicas than the cluster has. It works
// with or without WithStopAtEnd; n below 0 is an error.
//
// The poison records of the failed batch (those that cannot be decoded or
// fail validation) were dead-lettered before the handler was called; as
// their offsets were not committed either, the next run dead-letters them
// again, so the dead-letter topic holds them twice (or once per failed
// run).
func WithMaxHandlerAttempts(n int) ConsumerOpt {
	return consumerOpt{func(c *config) { c.maxAttempts = n }}
}

// WithInstanceID makes the consumer a static member of its group (Kafka's
// group.instance.id, franz-go's kgo.InstanceID), overriding the default of
// a dynamic member. A static member that restarts with the same id within
// the session timeout gets its partitions back at once, with no rebalance
// and no pause for the rest of the group: a crashed consumer process that
// a supervisor restarts is storing again in well under a second
// (RELIABILITY.md), where a dynamic one waits for its old session to
// expire and stops the whole group meanwhile.
//
// The id must be the same across restarts of this consumer and different
// from every other live member of the group: a StatefulSet pod name, a
// systemd instance name, a host name plus an index. Two live consumers with
// one id fence each other (FENCED_INSTANCE_ID), and the older stops. A
// static member does not leave the group when it is closed, so the
// partitions of one that is stopped for good wait a session timeout (see
// [WithSessionTimeout]) before the others take them.
func WithInstanceID(id string) ConsumerOpt {
	return consumerOpt{func(c *config) { c.instanceID = id }}
}

// WithSessionTimeout sets how long the group waits for a member that has
// stopped heartbeating before it gives the member's partitions to the
// others, overriding the default 45s (Kafka's and franz-go's). Heartbeats
// are sent every sixth of it (at most every 3s), from franz-go's own
// goroutine whatever the handler is doing.
//
// Shorter means the partitions of a consumer that dies unreplaced move
// sooner: with 6s, the broker's lowest allowed value by default
// (group.min.session.timeout.ms), the others stored them about 10s after a
// SIGKILL here. The trade is false expiries: a process that is alive but
// silent longer than the timeout (stopped, swapped out, a paused VM) loses
// its partitions, rejoins, and has its uncommitted batch delivered again,
// which an idempotent handler absorbs. Use 6-10s on hosts that do not
// pause, 30-45s where they do.
func WithSessionTimeout(d time.Duration) ConsumerOpt {
	return consumerOpt{func(c *config) { c.sessionTimeout = d }}
}

// WithOnCommit sets a function called after each successful commit with the
// committed offsets (the next offset to read) by topic and partition,
// overriding the default of no callback. It runs on the consumer's goroutine and must
// not block.
func WithOnCommit(fn func(offsets map[string]map[int32]int64)) ConsumerOpt {
	return consumerOpt{func(c *config) { c.onCommit = fn }}
}

// slogLogger adapts a *slog.Logger to franz-go's Logger.
type slogLogger struct{ l *slog.Logger }

// Level asks franz-go for warnings and errors, or for nothing when the
// logger drops them (the default), so that it does not format them in vain.
func (s slogLogger) Level() kgo.LogLevel {
	if !s.l.Enabled(context.Background(), slog.LevelWarn) {
		return kgo.LogLevelNone
	}
	return kgo.LogLevelWarn
}

func (s slogLogger) Log(level kgo.LogLevel, msg string, keyvals ...any) {
	lvl := slog.LevelInfo
	switch level {
	case kgo.LogLevelError:
		lvl = slog.LevelError
	case kgo.LogLevelWarn:
		lvl = slog.LevelWarn
	case kgo.LogLevelDebug:
		lvl = slog.LevelDebug
	}
	s.l.Log(context.Background(), lvl, "kafka: "+msg, keyvals...)
}
