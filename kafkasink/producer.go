package kafkasink

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/userstream/userstream/transform"
)

// Delivery is the outcome of producing one row.
type Delivery struct {
	ID        string // the row's id, the record's key
	Partition int32
	Offset    int64
	Err       error // nil when the broker acknowledged the record
}

// ProduceError reports the rows of a [Producer.ProduceSync] call that were
// not delivered. Errors unwraps to the individual errors.
type ProduceError struct {
	Failed []Delivery
}

func (e *ProduceError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d row(s) not delivered", len(e.Failed))
	for i, d := range e.Failed {
		if i == 3 {
			fmt.Fprintf(&b, "; and %d more", len(e.Failed)-i)
			break
		}
		fmt.Fprintf(&b, "; %s: %v", d.ID, d.Err)
	}
	return b.String()
}

// Unwrap returns the errors of the failed deliveries, for errors.Is and As.
func (e *ProduceError) Unwrap() []error {
	errs := make([]error, len(e.Failed))
	for i, d := range e.Failed {
		errs[i] = d.Err
	}
	return errs
}

// Producer writes rows to a Kafka topic. It is safe for concurrent use.
type Producer struct {
	cl    *kgo.Client
	topic string
	reg   *registryProducer // nil in plain mode
	close func()
}

// ProducerClientOpts returns the franz-go options that [NewProducer] builds
// its client with, so that a plain franz-go client can be configured the
// same (the benchmarks compare the two).
func ProducerClientOpts(brokers []string, opts ...ProducerOpt) []kgo.Opt {
	return producerClientOpts(newConfig(opts), brokers)
}

func producerClientOpts(cfg config, brokers []string) []kgo.Opt {
	return append([]kgo.Opt{
		kgo.SeedBrokers(brokers...),
		kgo.DefaultProduceTopic(cfg.topic),
		// Idempotent writes (franz-go's default) need acks from all
		// in-sync replicas; both are spelled out because losing data is
		// what this pipeline must not do.
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerLinger(cfg.linger),
		kgo.ProducerBatchCompression(cfg.compression),
		kgo.MaxBufferedRecords(cfg.maxBuffered),
		kgo.RecordDeliveryTimeout(cfg.deliveryTimeout),
		kgo.WithLogger(slogLogger{cfg.logger}),
	}, slices.Concat(failoverOpts(), kpromOpts(cfg.metrics, "producer"), cfg.clientOpts, tlsOpts(cfg.dialTLS))...)
}

// NewProducer returns a producer for brokers with its own franz-go client,
// configured by opts: the options common to both sides ([WithTopic],
// [WithLogger], [WithClientOpts], [WithSchemaRegistry], [WithMetrics]) and
// the [ProducerOpt] ones. Like franz-go, it connects lazily:
// [Producer.Ping] checks the brokers.
func NewProducer(brokers []string, opts ...ProducerOpt) (*Producer, error) {
	if len(brokers) == 0 {
		return nil, errors.New("kafkasink: no brokers")
	}
	cfg := newConfig(opts)
	if cfg.topic == "" {
		return nil, errors.New("kafkasink: empty topic")
	}
	if cfg.maxBuffered < 1 {
		return nil, fmt.Errorf("kafkasink: WithMaxBufferedRecords(%d), want at least 1", cfg.maxBuffered)
	}
	if cfg.compat < 0 || cfg.compat > sr.CompatFullTransitive {
		return nil, fmt.Errorf("kafkasink: WithSchemaCompatibility(%d): not a compatibility level", cfg.compat)
	}
	cl, err := newClient(producerClientOpts(cfg, brokers))
	if err != nil {
		return nil, err
	}
	p := &Producer{cl: cl, topic: cfg.topic, close: sync.OnceFunc(cl.Close)}
	if cfg.registry != nil {
		p.reg = &registryProducer{cl: cfg.registry, subject: ValueSubject(cfg.topic), level: cfg.compat}
	}
	return p, nil
}

// Ping checks that a broker answers.
func (p *Producer) Ping(ctx context.Context) error {
	if err := p.cl.Ping(ctx); err != nil {
		return fmt.Errorf("kafkasink: ping: %w", err)
	}
	return nil
}

// Client returns the underlying franz-go client, for administration (see
// [EnsureTopic]) and metrics. The producer owns it: do not close it.
func (p *Producer) Client() *kgo.Client { return p.cl }

// Topic returns the topic the producer writes to.
func (p *Producer) Topic() string { return p.topic }

// Produce encodes row and writes it asynchronously; done, if not nil, is
// called exactly once with the outcome, from a franz-go goroutine, so it
// must not block for long. Produce blocks while the buffer is full
// (backpressure); if ctx ends first, done gets ctx's error. A row that fails
// validation is not sent and done gets the *transform.ValidationError.
func (p *Producer) Produce(ctx context.Context, row transform.Row, done func(Delivery)) {
	p.ProduceFetched(ctx, FetchedRow{Row: row}, done)
}

// FetchedRow is a row with the time its user was fetched from the source
// API, for [Producer.ProduceFetched]: the time travels in the fetched-at
// header ([HeaderFetchedAt]), so a consumer anywhere can measure the
// latency from fetch to store ([Message.FetchedAt]).
type FetchedRow struct {
	Row       transform.Row
	FetchedAt time.Time // zero: no header, as Produce writes
}

// ProduceFetched is [Producer.Produce] for a row with its fetch time: the
// record gets the fetched-at header besides the usual ones.
func (p *Producer) ProduceFetched(ctx context.Context, r FetchedRow, done func(Delivery)) {
	value, err := transform.Marshal(r.Row)
	if err != nil {
		if done != nil {
			done(Delivery{ID: r.Row.ID, Partition: -1, Offset: -1, Err: fmt.Errorf("encode row %q: %w", r.Row.ID, err)})
		}
		return
	}
	p.produce(ctx, Encoded{ID: r.Row.ID, Value: value, FetchedAt: r.FetchedAt}, done)
}

// ProduceFetchedSync is [Producer.ProduceSync] for rows with their fetch
// times, with the deliveries and error of ProduceSync.
func (p *Producer) ProduceFetchedSync(ctx context.Context, rows ...FetchedRow) ([]Delivery, error) {
	return produceSync(len(rows), func(i int, done func(Delivery)) { p.ProduceFetched(ctx, rows[i], done) })
}

// produce writes e's record: its value (nil for a delete: a tombstone)
// with the fetched-at and row-version headers when e has them.
func (p *Producer) produce(ctx context.Context, e Encoded, done func(Delivery)) {
	id, value := e.ID, e.Value
	if e.Delete {
		value = nil
	}
	rec := record(p.topic, id, value, e.FetchedAt, e.Version)
	if p.reg != nil {
		// A tombstone has no value, so no schema: it needs no
		// registration, and a registry outage does not hold deletes back.
		var header []byte
		if value != nil {
			var err error
			if header, err = p.reg.register(ctx); err != nil {
				if done != nil {
					done(Delivery{ID: id, Partition: -1, Offset: -1, Err: err})
				}
				return
			}
		}
		rec = wireRecord(rec, header)
	}
	p.cl.Produce(ctx, rec, func(r *kgo.Record, err error) {
		if done != nil {
			done(Delivery{ID: id, Partition: r.Partition, Offset: r.Offset, Err: err})
		}
	})
}

// ProduceSync writes rows and waits until each is acknowledged or failed.
// The deliveries are in the order of rows. The error is nil when all were
// delivered, and a *[ProduceError] listing the failed rows otherwise.
func (p *Producer) ProduceSync(ctx context.Context, rows ...transform.Row) ([]Delivery, error) {
	return produceSync(len(rows), func(i int, done func(Delivery)) { p.Produce(ctx, rows[i], done) })
}

// Encoded is a row in its wire form, the JSON [transform.Marshal] wrote:
// what a transactional outbox stores, and relays without decoding it again.
type Encoded struct {
	ID    string // the row's id: the record key
	Value []byte // the row's wire JSON: the record value; not modified
	// FetchedAt, if not zero, is when the user was fetched; it goes in
	// the fetched-at header ([HeaderFetchedAt]).
	FetchedAt time.Time
	// Version, if not zero, is the version's order
	// ([transform.Change.Version]); it goes in the row-version header
	// ([HeaderRowVersion]), from which consumers write at that time.
	Version int64
	// Delete marks the user's deletion: the record is a tombstone (key
	// the ID, a null value) with the row-version header, and Value must
	// be nil.
	Delete bool
}

// ProduceEncodedSync is [Producer.ProduceSync] for rows already encoded.
// It trusts rows' values without decoding them: a value that is not a
// valid row reaches the topic, and the consumers' [DecodeRecord] sends it
// to the dead-letter topic with the reason. In registry mode
// ([WithSchemaRegistry]) each value gets the wire-format header in front
// of its JSON, as Produce's do. A row with a Version gets the row-version
// header ([HeaderRowVersion], decimal microseconds); a row with Delete is
// produced as a tombstone, key the ID and a null value (whatever Value
// holds), in registry mode too, with no wire-format header.
func (p *Producer) ProduceEncodedSync(ctx context.Context, rows ...Encoded) ([]Delivery, error) {
	return produceSync(len(rows), func(i int, done func(Delivery)) { p.produce(ctx, rows[i], done) })
}

// produceSync calls produce for n rows and waits for every delivery.
func produceSync(n int, produce func(i int, done func(Delivery))) ([]Delivery, error) {
	out := make([]Delivery, n)
	var wg sync.WaitGroup
	wg.Add(n)
	for i := range n {
		produce(i, func(d Delivery) {
			out[i] = d
			wg.Done()
		})
	}
	wg.Wait()
	var failed []Delivery
	for _, d := range out {
		if d.Err != nil {
			failed = append(failed, d)
		}
	}
	if failed != nil {
		return out, &ProduceError{Failed: failed}
	}
	return out, nil
}

// Flush waits until every buffered record is acknowledged or failed (their
// callbacks have run), or ctx ends.
func (p *Producer) Flush(ctx context.Context) error {
	if err := p.cl.Flush(ctx); err != nil {
		return fmt.Errorf("kafkasink: flush: %w", err)
	}
	return nil
}

// Close closes the client; it is idempotent. Records still buffered fail
// with kgo.ErrClientClosed: call Flush first to deliver them.
func (p *Producer) Close() { p.close() }
