package kafkasink_test

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/sr"
	"github.com/twmb/franz-go/pkg/sr/srfake"

	"github.com/userstream/userstream/kafkasink"
)

// Registry mode: the producer registers the row's schema under
// <topic>-value and writes the Confluent wire format; the consumer looks
// the schema id up and hands the row on. The example runs against kfake and
// srfake, franz-go's in-process fake broker and registry, so it needs no
// server (the package's tests use the local stack's real registry); point
// sr.URLs at your registry the same way.
func ExampleWithSchemaRegistry() {
	cluster, err := kfake.NewCluster(kfake.SeedTopics(1, kafkasink.DefaultTopic, kafkasink.DefaultDLQTopic))
	if err != nil {
		panic(err)
	}
	defer cluster.Close()
	registry := srfake.New()
	defer registry.Close()
	brokers := cluster.ListenAddrs()
	ctx := context.Background()

	reg, err := sr.NewClient(sr.URLs(registry.URL()))
	if err != nil {
		panic(err)
	}
	p, err := kafkasink.NewProducer(brokers, kafkasink.WithSchemaRegistry(reg))
	if err != nil {
		panic(err)
	}
	defer p.Close()
	// Optional: Produce registers on first use; this fails fast instead.
	id, err := p.RegisterSchema(ctx)
	if err != nil {
		panic(err) // errors.Is(err, kafkasink.ErrIncompatibleSchema) when the subject's rule refuses it
	}
	if _, err := p.ProduceSync(ctx, exampleRow); err != nil {
		panic(err)
	}
	fmt.Println("registered under", kafkasink.ValueSubject(kafkasink.DefaultTopic), "with id", id)

	handler := func(_ context.Context, msgs []kafkasink.Message) error {
		for _, m := range msgs {
			fmt.Println("handled", m.Row.FirstName, m.Row.LastName)
		}
		return nil
	}
	c, err := kafkasink.NewConsumer(brokers, "example", handler, kafkasink.WithSchemaRegistry(reg), kafkasink.WithStopAtEnd())
	if err != nil {
		panic(err)
	}
	defer c.Close()
	if err := c.Run(ctx); err != nil {
		panic(err)
	}
	// Output:
	// registered under users_created-value with id 1
	// handled Ruben Sjøberg
}
