package connect_test

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/userstream/userstream/connect"
	"github.com/userstream/userstream/internal/testenv"
	"github.com/userstream/userstream/internal/testrows"
	"github.com/userstream/userstream/kafkasink"
	"github.com/userstream/userstream/secure"
)

// With a registry, Kafka.NewProducer registers the topic's value schema
// before anything is produced and writes the Confluent wire format, which
// a consumer of Kafka.NewConsumer reads back.
func TestKafkaNewProducerAndConsumer(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	topic := testenv.Name(t, "connectk")
	s := connect.Servers{KafkaBrokers: testenv.KafkaBrokers(t), SchemaRegistryURL: testenv.SchemaRegistryURL(t), Replication: 1}
	k, err := s.OpenKafka(ctx, secure.Kafka{})
	if err != nil {
		t.Fatal(err)
	}
	p, err := k.NewProducer(ctx, kafkasink.WithTopic(topic))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	t.Cleanup(func() { // after p is closed: a client of its own
		if cl, err := k.NewClient(); err == nil {
			_, _ = kadm.NewClient(cl).DeleteTopics(context.Background(), topic, topic+kafkasink.DLQSuffix)
			cl.Close()
		}
	})
	if _, err := k.Registry.SchemaByVersion(ctx, kafkasink.ValueSubject(topic), -1); err != nil {
		t.Fatalf("value schema not registered by NewProducer: %v", err)
	}
	if _, err := connect.EnsureTopics(ctx, p.Client(), s.Topic(topic, 1), s.Topic(topic+kafkasink.DLQSuffix, 1)); err != nil {
		t.Fatal(err)
	}
	row := testrows.Row(3)
	if _, err := p.ProduceSync(ctx, row); err != nil {
		t.Fatal(err)
	}

	cl, err := k.NewClient(kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	recs := cl.PollFetches(ctx).Records()
	if len(recs) != 1 || len(recs[0].Value) < 5 || recs[0].Value[0] != 0 {
		t.Fatalf("records %v: want one in the Confluent wire format (magic byte 0)", recs)
	}

	var got []string
	c, err := k.NewConsumer(topic, func(_ context.Context, msgs []kafkasink.Message) error {
		for _, m := range msgs {
			got = append(got, m.Row.ID)
		}
		return nil
	}, kafkasink.WithTopic(topic), kafkasink.WithStopAtEnd())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0] != row.ID {
		t.Errorf("consumed %v, want [%s]", got, row.ID)
	}
}
