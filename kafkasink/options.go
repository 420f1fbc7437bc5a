package kafkasink

import (
	"context"
	"log/slog"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// ProducerOpt configures a [Producer].
type ProducerOpt interface{ applyProducer(*producerConfig) }

// ConsumerOpt configures a [Consumer].
type ConsumerOpt interface{ applyConsumer(*consumerConfig) }

// Opt configures both a [Producer] and a [Consumer].
type Opt interface {
	ProducerOpt
	ConsumerOpt
}

type common struct {
	topic      string
	logger     *slog.Logger
	clientOpts []kgo.Opt
}

type producerConfig struct {
	common
	linger          time.Duration
	maxBuffered     int
	compression     kgo.CompressionCodec
	deliveryTimeout time.Duration
}

type consumerConfig struct {
	common
	dlqTopic        string
	maxPollRecords  int
	minBackoff      time.Duration
	maxBackoff      time.Duration
	shutdownTimeout time.Duration
	startAtEnd      bool
	onCommit        func(map[string]map[int32]int64)
}

type commonOpt func(*common)

func (o commonOpt) applyProducer(c *producerConfig) { o(&c.common) }
func (o commonOpt) applyConsumer(c *consumerConfig) { o(&c.common) }

type producerOpt func(*producerConfig)

func (o producerOpt) applyProducer(c *producerConfig) { o(c) }

type consumerOpt func(*consumerConfig)

func (o consumerOpt) applyConsumer(c *consumerConfig) { o(c) }

// Topic sets the topic to produce to or consume from, overriding the default
// users_created.
func Topic(topic string) Opt { return commonOpt(func(c *common) { c.topic = topic }) }

// Logger sets the logger, overriding the default slog.Default(). franz-go's
// own messages are passed to it at warning level and above.
func Logger(l *slog.Logger) Opt { return commonOpt(func(c *common) { c.logger = l }) }

// ClientOpts appends options to the franz-go client that the producer or
// consumer builds, after its own: TLS, SASL, hooks such as kprom's metrics.
func ClientOpts(opts ...kgo.Opt) Opt {
	return commonOpt(func(c *common) { c.clientOpts = append(c.clientOpts, opts...) })
}

// Linger sets how long a partition's batch may wait for more records,
// overriding the default 5ms. Longer lingers make larger batches (fewer
// requests, better compression) at the cost of latency.
func Linger(d time.Duration) ProducerOpt {
	return producerOpt(func(c *producerConfig) { c.linger = d })
}

// MaxBufferedRecords bounds the records buffered and in flight, overriding
// the default 10,000. When the buffer is full, Produce blocks until space
// frees up or its context ends: backpressure, never a silent drop.
func MaxBufferedRecords(n int) ProducerOpt {
	return producerOpt(func(c *producerConfig) { c.maxBuffered = n })
}

// Compression sets the batch compression, overriding the default snappy, which compresses these JSON rows about as well as lz4 with a fraction of its memory (lz4 keeps megabytes of hash tables per compressor).
func Compression(codec kgo.CompressionCodec) ProducerOpt {
	return producerOpt(func(c *producerConfig) { c.compression = codec })
}

// DeliveryTimeout bounds how long a record may be retried before its
// delivery fails with an error, overriding the default 2 minutes.
func DeliveryTimeout(d time.Duration) ProducerOpt {
	return producerOpt(func(c *producerConfig) { c.deliveryTimeout = d })
}

// DLQTopic sets the dead-letter topic, overriding the default
// users_created.dlq.
func DLQTopic(topic string) ConsumerOpt {
	return consumerOpt(func(c *consumerConfig) { c.dlqTopic = topic })
}

// MaxPollRecords bounds the records taken by one poll, and so the size of
// the batches the handler sees, overriding the default 2,000.
func MaxPollRecords(n int) ConsumerOpt {
	return consumerOpt(func(c *consumerConfig) { c.maxPollRecords = n })
}

// Backoff sets the first and the longest wait between retries of a failing
// handler or dead-letter write, overriding the defaults 100ms and 10s. The
// wait doubles on each failure, with jitter.
func Backoff(min, max time.Duration) ConsumerOpt {
	return consumerOpt(func(c *consumerConfig) { c.minBackoff, c.maxBackoff = min, max })
}

// ShutdownTimeout bounds how long Run, once its context is done, waits for
// the batch in flight to be handled and committed, overriding the default
// 30s. Records not committed by then are delivered again later.
func ShutdownTimeout(d time.Duration) ConsumerOpt {
	return consumerOpt(func(c *consumerConfig) { c.shutdownTimeout = d })
}

// StartAtEnd makes a group with no committed offsets start at the end of
// the topic, overriding the default start at the earliest offset (the
// seed's startingOffsets=earliest).
func StartAtEnd() ConsumerOpt { return consumerOpt(func(c *consumerConfig) { c.startAtEnd = true }) }

// OnCommit sets a function called after each successful commit with the
// committed offsets (the next offset to read) by topic and partition. It
// runs on the consumer's goroutine and must not block.
func OnCommit(fn func(offsets map[string]map[int32]int64)) ConsumerOpt {
	return consumerOpt(func(c *consumerConfig) { c.onCommit = fn })
}

// slogLogger adapts a *slog.Logger to franz-go's Logger.
type slogLogger struct{ l *slog.Logger }

func (s slogLogger) Level() kgo.LogLevel { return kgo.LogLevelWarn }

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
