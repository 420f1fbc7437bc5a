package kafkasink_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/userstream/userstream/internal/testenv"
	"github.com/userstream/userstream/internal/testrows"
	"github.com/userstream/userstream/kafkasink"
	"github.com/userstream/userstream/transform"
)

const benchRows = 20000

// BenchmarkProduce compares kafkasink's producer (which validates and
// encodes each row) with a plain franz-go client built with the same
// options producing the same rows pre-encoded: the adapter's overhead over
// the raw client. Each op produces benchRows rows and flushes.
func BenchmarkProduce(b *testing.B) {
	brokers := testenv.KafkaBrokers(b)
	rows := testrows.Rows(benchRows)
	ctx := context.Background()

	b.Run("kafkasink", func(b *testing.B) {
		topic := newTopic(b, brokers, 3)
		p, err := kafkasink.NewProducer(brokers, kafkasink.WithTopic(topic), kafkasink.WithLogger(quiet))
		if err != nil {
			b.Fatal(err)
		}
		defer p.Close()
		var failed atomic.Int64
		done := func(d kafkasink.Delivery) {
			if d.Err != nil {
				failed.Add(1)
			}
		}
		b.ResetTimer()
		for range b.N {
			for _, r := range rows {
				p.Produce(ctx, r, done)
			}
			if err := p.Flush(ctx); err != nil {
				b.Fatal(err)
			}
		}
		reportRows(b, benchRows)
		if failed.Load() > 0 {
			b.Fatalf("%d deliveries failed", failed.Load())
		}
	})

	// The same work through a plain franz-go client: encode each row with
	// the same codec, build the record with the same key and headers.
	b.Run("franz-go", func(b *testing.B) {
		benchPlain(b, brokers, rows, func(topic string, r transform.Row) (*kgo.Record, error) {
			return kafkasink.NewRecord(topic, r)
		})
	})

	// The raw client's ceiling: records encoded before the clock starts.
	b.Run("franz-go-preencoded", func(b *testing.B) {
		var recs []*kgo.Record
		benchPlain(b, brokers, rows, func(topic string, r transform.Row) (*kgo.Record, error) {
			if recs == nil {
				recs = make([]*kgo.Record, 0, len(rows))
				for _, r := range rows {
					rec, err := kafkasink.NewRecord(topic, r)
					if err != nil {
						return nil, err
					}
					recs = append(recs, rec)
				}
				b.ResetTimer()
			}
			rec := recs[0]
			recs = append(recs[1:], rec)
			return &kgo.Record{Topic: rec.Topic, Key: rec.Key, Value: rec.Value, Headers: rec.Headers}, nil
		})
	})
}

// benchPlain produces rows through a plain franz-go client configured as
// kafkasink configures its own, with records made by newRecord.
func benchPlain(b *testing.B, brokers []string, rows []transform.Row, newRecord func(string, transform.Row) (*kgo.Record, error)) {
	ctx := context.Background()
	topic := newTopic(b, brokers, 3)
	cl, err := kgo.NewClient(kafkasink.ProducerClientOpts(brokers, kafkasink.WithTopic(topic), kafkasink.WithLogger(quiet))...)
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	var failed atomic.Int64
	done := func(_ *kgo.Record, err error) {
		if err != nil {
			failed.Add(1)
		}
	}
	b.ResetTimer()
	for range b.N {
		for _, r := range rows {
			rec, err := newRecord(topic, r)
			if err != nil {
				b.Fatal(err)
			}
			cl.Produce(ctx, rec, done)
		}
		if err := cl.Flush(ctx); err != nil {
			b.Fatal(err)
		}
	}
	reportRows(b, len(rows))
	if failed.Load() > 0 {
		b.Fatalf("%d deliveries failed", failed.Load())
	}
}

// BenchmarkConsume measures a consumer group reading, decoding, validating
// and committing benchRows rows with a handler that does nothing.
func BenchmarkConsume(b *testing.B) {
	brokers := testenv.KafkaBrokers(b)
	topic := newTopic(b, brokers, 3)
	produce(b, brokers, topic, testrows.Rows(benchRows))
	noop := func(context.Context, []kafkasink.Message) error { return nil }

	b.ResetTimer()
	for range b.N {
		r := start(b, brokers, topic, testenv.Name(b, "group"), noop)
		deadline := time.Now().Add(2 * time.Minute)
		for r.c.Stats().Committed < benchRows {
			if time.Now().After(deadline) {
				b.Fatalf("committed %d of %d", r.c.Stats().Committed, benchRows)
			}
			time.Sleep(time.Millisecond)
		}
		b.StopTimer()
		if err := r.shutdown(b); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	reportRows(b, benchRows)
}

// BenchmarkDecodeRecord is the per-record decode and validation cost.
func BenchmarkDecodeRecord(b *testing.B) {
	rec, err := kafkasink.NewRecord("t", testrows.Rows(1)[0])
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for range b.N {
		if _, err := kafkasink.DecodeRecord(rec); err != nil {
			b.Fatal(err)
		}
	}
}

func reportRows(b *testing.B, perOp int) {
	b.ReportMetric(float64(perOp*b.N)/b.Elapsed().Seconds(), "rows/s")
}
