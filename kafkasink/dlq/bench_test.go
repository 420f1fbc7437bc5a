package dlq_test

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/userstream/userstream/internal/testenv"
	"github.com/userstream/userstream/internal/testrows"
	"github.com/userstream/userstream/kafkasink"
	"github.com/userstream/userstream/kafkasink/dlq"
	"github.com/userstream/userstream/transform"
)

const benchLetters = 10000

// benchQueue fills a dead-letter topic with benchLetters letters of rows
// (about 400 bytes each, with the headers a consumer writes) and returns a
// queue of it with a redrive log of its own.
func benchQueue(b *testing.B) (*dlq.Queue, []string, string) {
	b.Helper()
	brokers := testenv.KafkaBrokers(b)
	topic := testenv.Name(b, "bench")
	dead := topic + kafkasink.DLQSuffix
	b.Cleanup(func() { deleteTopics(brokers, topic, dead, dead+dlq.RedriveLogSuffix) })
	ctx := context.Background()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ProducerLinger(5*time.Millisecond))
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	for _, spec := range []kafkasink.TopicSpec{{Name: topic, Partitions: 3, ReplicationFactor: 1}, {Name: dead, Partitions: 1, ReplicationFactor: 1}} {
		if _, err := kafkasink.EnsureTopic(ctx, cl, spec); err != nil {
			b.Fatal(err)
		}
	}
	recs := make([]*kgo.Record, benchLetters)
	for i, row := range testrows.Rows(benchLetters) {
		recs[i] = &kgo.Record{Topic: dead, Key: []byte(row.ID), Value: transform.AppendJSON(nil, row), Headers: []kgo.RecordHeader{
			{Key: kafkasink.HeaderContentType, Value: []byte(transform.ContentType)},
			{Key: kafkasink.HeaderDLQReason, Value: []byte(kafkasink.ReasonRejected)},
			{Key: kafkasink.HeaderDLQError, Value: []byte("rejected by the handler")},
			{Key: kafkasink.HeaderDLQTopic, Value: []byte(topic)},
			{Key: kafkasink.HeaderDLQPartition, Value: []byte("0")},
			{Key: kafkasink.HeaderDLQOffset, Value: []byte(strconv.Itoa(i))},
		}}
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		b.Fatal(err)
	}
	q, err := dlq.New(brokers, dlq.WithDLQTopic(dead), dlq.WithLogger(quiet))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(q.Close)
	return q, brokers, dead
}

// List of the whole topic, Redrive of every letter (each iteration with a
// redrive log of its own, so that each sends them all), and a second
// Redrive that skips them all (it reads the log and the topic, and writes
// nothing).
func BenchmarkQueue(b *testing.B) {
	q, brokers, dead := benchQueue(b)
	ctx := context.Background()
	perSecond := func(b *testing.B) {
		b.ReportMetric(float64(benchLetters)*float64(b.N)/b.Elapsed().Seconds(), "letters/s")
	}
	b.Run("List", func(b *testing.B) {
		for b.Loop() {
			if ls, err := q.List(ctx, dlq.Selection{}); err != nil || len(ls) != benchLetters {
				b.Fatalf("List: %d letters, %v", len(ls), err)
			}
		}
		perSecond(b)
	})
	b.Run("Redrive", func(b *testing.B) {
		i := 0
		for b.Loop() {
			i++
			log := fmt.Sprintf("%s.redrive%d", dead, i)
			b.Cleanup(func() { deleteTopics(brokers, log) })
			rq, err := dlq.New(brokers, dlq.WithDLQTopic(dead), dlq.WithRedriveLog(log), dlq.WithLogger(quiet))
			if err != nil {
				b.Fatal(err)
			}
			rep, err := rq.Redrive(ctx, dlq.Selection{All: true})
			rq.Close()
			if err != nil || len(rep.Redriven) != benchLetters {
				b.Fatalf("Redrive: %d redriven, %v", len(rep.Redriven), err)
			}
		}
		perSecond(b)
	})
	b.Run("RedriveAgain", func(b *testing.B) {
		if _, err := q.Redrive(ctx, dlq.Selection{All: true}); err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			rep, err := q.Redrive(ctx, dlq.Selection{All: true})
			if err != nil || len(rep.Skipped) != benchLetters {
				b.Fatalf("Redrive again: %d skipped, %v", len(rep.Skipped), err)
			}
		}
		perSecond(b)
	})
}
