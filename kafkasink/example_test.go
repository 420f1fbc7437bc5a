package kafkasink_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/userstream/userstream/kafkasink"
	"github.com/userstream/userstream/transform"
)

// A producer writes rows and learns each one's outcome; a consumer hands
// them to a handler and commits after it. The example runs against kfake,
// franz-go's in-process fake broker, so it needs no server; point brokers at
// USERSTREAM_KAFKA_BROKERS for a real one.
func Example() {
	cluster, err := kfake.NewCluster(kfake.SeedTopics(1, kafkasink.DefaultTopic, kafkasink.DefaultDLQTopic))
	if err != nil {
		panic(err)
	}
	defer cluster.Close()
	brokers := cluster.ListenAddrs()
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	ctx := context.Background()

	p, err := kafkasink.NewProducer(brokers, kafkasink.Logger(logger))
	if err != nil {
		panic(err)
	}
	defer p.Close()
	row := transform.Row{
		ID: "9b1deb4d-3b7d-4bad-9bdd-2b0d7b3dcb6d", FirstName: "Ruben", LastName: "Sjøberg",
		Gender: "male", Address: "7161 Kirkegata, Tolga, Vestfold, Norway", PostCode: "5106",
		Email: "ruben.sjoberg@example.com", Username: "bigduck417", DOB: "1992-03-08T15:13:16.688Z",
		RegisteredDate: "2008-04-26T07:39:25.347Z", Phone: "55148291",
		Picture: "https://randomuser.me/api/portraits/med/men/12.jpg",
	}
	deliveries, err := p.ProduceSync(ctx, row)
	if err != nil {
		panic(err)
	}
	fmt.Println("delivered at offset", deliveries[0].Offset)

	ctx, stop := context.WithCancel(ctx)
	handler := func(_ context.Context, msgs []kafkasink.Message) error {
		for _, m := range msgs {
			fmt.Println("handled", m.Row.FirstName, m.Row.LastName, "from offset", m.Offset)
		}
		return nil // the offsets are committed after this returns nil
	}
	c, err := kafkasink.NewConsumer(brokers, "example", handler, kafkasink.Logger(logger),
		kafkasink.OnCommit(func(map[string]map[int32]int64) { stop() }))
	if err != nil {
		panic(err)
	}
	if err := c.Run(ctx); err != nil {
		panic(err)
	}
	fmt.Printf("%+v\n", c.Stats())
	// Output:
	// delivered at offset 0
	// handled Ruben Sjøberg from offset 0
	// {Handled:1 DeadLettered:0 Committed:1 Retries:0}
}

// EnsureTopic creates the topic with the partitions and configs given, and
// reports whether it existed.
func ExampleEnsureTopic() {
	p, err := kafkasink.NewProducer([]string{"127.0.0.1:9092"})
	if err != nil {
		panic(err)
	}
	defer p.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	created, err := kafkasink.EnsureTopic(ctx, p.Client(), kafkasink.TopicSpec{
		Name: kafkasink.DefaultTopic, Partitions: 6, ReplicationFactor: 3,
		Configs: map[string]string{"retention.ms": "604800000", "min.insync.replicas": "2"},
	})
	fmt.Println(created, err)
}
