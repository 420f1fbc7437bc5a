package kafkasink_test

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/userstream/userstream/kafkasink"
	"github.com/userstream/userstream/transform"
)

// A consumer given WithMetrics records its own series on the registry: here
// one record stored and one poison record dead-lettered, and a lag of 0 once
// a bounded Run has committed the topic. Against kfake, so it needs no
// server.
func ExampleWithMetrics() {
	cluster, err := kfake.NewCluster(kfake.SeedTopics(1, "orders", "orders.dlq"))
	if err != nil {
		panic(err)
	}
	defer cluster.Close()
	brokers := cluster.ListenAddrs()
	ctx := context.Background()
	reg := prometheus.NewRegistry()

	p, err := kafkasink.NewProducer(brokers, kafkasink.WithTopic("orders"), kafkasink.WithMetrics(reg))
	if err != nil {
		panic(err)
	}
	defer p.Close()
	if _, err := p.ProduceSync(ctx, exampleRow); err != nil {
		panic(err)
	}
	if _, err := p.ProduceEncodedSync(ctx, kafkasink.Encoded{ID: "x", Value: []byte("not json")}); err != nil {
		panic(err)
	}

	store := func(context.Context, []transform.Row) error { return nil }
	c, err := kafkasink.NewConsumer(brokers, "orders-to-store", kafkasink.RowsHandler(store, nil),
		kafkasink.WithTopic("orders"), kafkasink.WithStopAtEnd(), kafkasink.WithMetrics(reg))
	if err != nil {
		panic(err)
	}
	defer c.Close()
	if err := c.Run(ctx); err != nil {
		panic(err)
	}

	mfs, err := reg.Gather()
	if err != nil {
		panic(err)
	}
	var lines []string
	for _, mf := range mfs {
		name := mf.GetName()
		if strings.HasPrefix(name, "userstream_kafka_") {
			continue // franz-go's, through kprom: many
		}
		for _, m := range mf.GetMetric() {
			switch {
			case m.Counter != nil:
				lines = append(lines, fmt.Sprintf("%s %v", name, m.GetCounter().GetValue()))
			case m.Gauge != nil:
				var labels []string
				for _, l := range m.GetLabel() {
					labels = append(labels, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
				}
				lines = append(lines, fmt.Sprintf("%s{%s} %v", name, strings.Join(labels, ","), m.GetGauge().GetValue()))
			case m.Histogram != nil:
				lines = append(lines, fmt.Sprintf("%s: %d sample(s)", name, m.GetHistogram().GetSampleCount()))
			}
		}
	}
	sort.Strings(lines)
	fmt.Println(strings.Join(lines, "\n"))
	// Output:
	// userstream_consumer_lag{group="orders-to-store",partition="0",topic="orders"} 0
	// userstream_consumer_oldest_unstored_seconds{group="orders-to-store",topic="orders"} 0
	// userstream_fetch_to_store_seconds: 0 sample(s)
	// userstream_handler_errors_total 0
	// userstream_produce_to_store_seconds: 1 sample(s)
	// userstream_records_dead_lettered_total 1
}

// LagByPartition counts a partition the group has never committed whole,
// and says ErrClosed once the consumer is closed.
func ExampleConsumer_LagByPartition() {
	cluster, err := kfake.NewCluster(kfake.SeedTopics(1, "orders", "orders.dlq"))
	if err != nil {
		panic(err)
	}
	defer cluster.Close()
	brokers := cluster.ListenAddrs()
	ctx := context.Background()
	p, err := kafkasink.NewProducer(brokers, kafkasink.WithTopic("orders"))
	if err != nil {
		panic(err)
	}
	defer p.Close()
	if _, err := p.ProduceSync(ctx, exampleRow, exampleRow); err != nil {
		panic(err)
	}

	c, err := kafkasink.NewConsumer(brokers, "orders-to-store", func(context.Context, []kafkasink.Message) error { return nil },
		kafkasink.WithTopic("orders"))
	if err != nil {
		panic(err)
	}
	lag, err := c.LagByPartition(ctx) // before the group's first commit
	fmt.Println(lag, err)
	c.Close()
	_, err = c.LagByPartition(ctx)
	fmt.Println(err)
	// Output:
	// map[0:2] <nil>
	// kafkasink: consumer closed
}
