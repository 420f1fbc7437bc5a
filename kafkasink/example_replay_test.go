package kafkasink_test

import (
	"context"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/userstream/userstream/kafkasink"
)

// A group has stored a day's records; its store lost the afternoon's
// writes. The dry run says what a replay from noon would read again, the
// replay moves the stopped group's offsets back there, and the group's
// next run stores those records again. (kfake, franz-go's in-process fake
// broker, stands in for a cluster.)
func ExampleReplay() {
	cluster, err := kfake.NewCluster(kfake.SeedTopics(1, kafkasink.DefaultTopic, kafkasink.DefaultDLQTopic))
	if err != nil {
		panic(err)
	}
	defer cluster.Close()
	brokers := cluster.ListenAddrs()
	ctx := context.Background()

	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		panic(err)
	}
	defer cl.Close()
	day := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	for _, hour := range []int{9, 11, 13, 15, 17} { // a record every two hours
		rec, err := kafkasink.NewRecord(kafkasink.DefaultTopic, exampleRow)
		if err != nil {
			panic(err)
		}
		rec.Timestamp = day.Add(time.Duration(hour) * time.Hour)
		if err := cl.ProduceSync(ctx, rec).FirstErr(); err != nil {
			panic(err)
		}
	}
	stored := 0
	store := func(_ context.Context, msgs []kafkasink.Message) error { stored += len(msgs); return nil }
	consumeToEnd := func() {
		c, err := kafkasink.NewConsumer(brokers, "users-to-store", store, kafkasink.WithStopAtEnd())
		if err != nil {
			panic(err)
		}
		defer c.Close()
		if err := c.Run(ctx); err != nil {
			panic(err)
		}
	}
	consumeToEnd()
	fmt.Println("stored", stored)

	noon := day.Add(12 * time.Hour)
	plan, err := kafkasink.PlanReplay(ctx, cl, "users-to-store", kafkasink.DefaultTopic, noon)
	if err != nil {
		panic(err)
	}
	for _, p := range plan.Partitions {
		fmt.Printf("partition %d: committed %d, back to %d: %d records again\n", p.Partition, p.Committed, p.Target, p.Records)
	}
	// The group is stopped (a running member makes Replay fail with
	// ErrGroupActive).
	if plan, err = kafkasink.Replay(ctx, cl, "users-to-store", kafkasink.DefaultTopic, noon); err != nil {
		panic(err)
	}
	fmt.Println("applied", plan.Applied, "records", plan.Records())
	stored = 0
	consumeToEnd()
	fmt.Println("stored again", stored)
	// Output:
	// stored 5
	// partition 0: committed 5, back to 2: 3 records again
	// applied true records 3
	// stored again 3
}
