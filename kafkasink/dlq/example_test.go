package dlq_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/userstream/userstream/kafkasink"
	"github.com/userstream/userstream/kafkasink/dlq"
)

// A consumer dead-letters a record it cannot decode; the letter is listed
// with its reason and origin, redriven once the cause is fixed (here the
// fix is left out: the record goes back as it is), and a second redrive of
// the same selection sends nothing. The example runs against kfake,
// franz-go's in-process fake broker; point brokers at a real cluster the
// same way.
func Example() {
	cluster, err := kfake.NewCluster(kfake.SeedTopics(1, kafkasink.DefaultTopic, kafkasink.DefaultDLQTopic))
	if err != nil {
		panic(err)
	}
	defer cluster.Close()
	brokers := cluster.ListenAddrs()
	ctx := context.Background()

	// A record that is not a row, and a consumer that dead-letters it.
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		panic(err)
	}
	defer cl.Close()
	poison := &kgo.Record{Topic: kafkasink.DefaultTopic, Key: []byte("k1"), Value: []byte("<html>502 Bad Gateway</html>")}
	if err := cl.ProduceSync(ctx, poison).FirstErr(); err != nil {
		panic(err)
	}
	store := func(context.Context, []kafkasink.Message) error { return nil }
	c, err := kafkasink.NewConsumer(brokers, "example", store, kafkasink.WithStopAtEnd())
	if err != nil {
		panic(err)
	}
	defer c.Close()
	if err := c.Run(ctx); err != nil {
		panic(err)
	}

	q, err := dlq.New(brokers) // users_created.dlq
	if err != nil {
		panic(err)
	}
	defer q.Close()
	letters, err := q.List(ctx, dlq.Selection{})
	if err != nil {
		panic(err)
	}
	for _, l := range letters {
		fmt.Printf("%s: %s, from %s, key %s, redriven %d times\n", l.Position, l.Reason, l.Original, l.Key, l.RedriveCount)
	}

	sel := dlq.Selection{Reason: kafkasink.ReasonDecode}
	rep, err := q.Redrive(ctx, sel)
	if err != nil {
		panic(err)
	}
	for _, r := range rep.Redriven {
		fmt.Printf("redriven %s to %s, redrive count %d\n", r.Letter, r.To, r.Count)
	}
	rep, err = q.Redrive(ctx, sel)
	if err != nil {
		panic(err)
	}
	for _, s := range rep.Skipped {
		fmt.Printf("skipped %s: already redriven: %t\n", s.Letter, errors.Is(s.Err, dlq.ErrAlreadyRedriven))
	}
	// Output:
	// users_created.dlq/0/0: decode, from users_created/0/0, key k1, redriven 0 times
	// redriven users_created.dlq/0/0 to users_created/0/1, redrive count 1
	// skipped users_created.dlq/0/0: already redriven: true
}

// Latest returns the newest letters first, reading no more than it
// returns: what a status page shows. Here the letters are written by hand,
// with the headers a kafkasink consumer gives them.
func ExampleQueue_Latest() {
	cluster, err := kfake.NewCluster(kfake.SeedTopics(1, "orders.dlq"))
	if err != nil {
		panic(err)
	}
	defer cluster.Close()
	ctx := context.Background()
	cl, err := kgo.NewClient(kgo.SeedBrokers(cluster.ListenAddrs()...))
	if err != nil {
		panic(err)
	}
	defer cl.Close()
	for i, reason := range []string{"decode", "validate", "rejected"} {
		letter := &kgo.Record{Topic: "orders.dlq", Key: fmt.Appendf(nil, "order-%d", i), Headers: []kgo.RecordHeader{
			{Key: kafkasink.HeaderDLQReason, Value: []byte(reason)},
			{Key: kafkasink.HeaderDLQTopic, Value: []byte("orders")},
			{Key: kafkasink.HeaderDLQPartition, Value: []byte("0")},
			{Key: kafkasink.HeaderDLQOffset, Value: fmt.Appendf(nil, "%d", 10*i)},
		}}
		if err := cl.ProduceSync(ctx, letter).FirstErr(); err != nil {
			panic(err)
		}
	}

	q, err := dlq.New(cluster.ListenAddrs(), dlq.WithDataTopic("orders")) // orders.dlq
	if err != nil {
		panic(err)
	}
	defer q.Close()
	latest, err := q.Latest(ctx, dlq.Selection{}, 2) // every reason
	if err != nil {
		panic(err)
	}
	for _, l := range latest {
		fmt.Printf("%s %s from %s\n", l.Key, l.Reason, l.Original)
	}
	decode, err := q.Latest(ctx, dlq.Selection{Reason: kafkasink.ReasonDecode}, 2)
	if err != nil {
		panic(err)
	}
	for _, l := range decode {
		fmt.Printf("%s %s from %s\n", l.Key, l.Reason, l.Original)
	}
	// Output:
	// order-2 rejected from orders/0/20
	// order-1 validate from orders/0/10
	// order-0 decode from orders/0/0
}
