package outbox_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/userstream/userstream/internal/testenv"
	"github.com/userstream/userstream/internal/testrows"
	"github.com/userstream/userstream/kafkasink/outbox"
)

const benchPage = 5000

// BenchmarkStage stages pages of 5,000 new users, with COPY (the path
// pages of this size take) and, for comparison, with the single INSERT that
// small pages take. rows/s counts rows staged.
func BenchmarkStage(b *testing.B) {
	for _, path := range []struct {
		name      string
		threshold int
	}{{"copy", 256}, {"insert", 1 << 30}} {
		b.Run(path.name, func(b *testing.B) {
			pool := newPool(b)
			store := newStore(b, pool, outbox.WithCopyThreshold(path.threshold))
			ctx := context.Background()
			for b.Loop() {
				b.StopTimer()
				rows := testrows.Rows(benchPage)
				b.StartTimer()
				res, err := store.Stage(ctx, "bench", rows)
				if err != nil {
					b.Fatal(err)
				}
				if res.Staged != benchPage {
					b.Fatalf("staged %d of %d", res.Staged, benchPage)
				}
			}
			b.ReportMetric(float64(b.N*benchPage)/b.Elapsed().Seconds(), "rows/s")
		})
	}
}

// BenchmarkRelay relays 5,000 staged rows to Kafka: read, produced,
// acknowledged by the broker and the position moved past them. rows/s
// counts rows published.
func BenchmarkRelay(b *testing.B) {
	brokers := testenv.KafkaBrokers(b)
	for _, batch := range []int{500, 2000} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			pool := newPool(b)
			store := newStore(b, pool)
			topic := newTopic(b, brokers, 3)
			relay, err := outbox.NewRelay(store, newProducer(b, brokers, topic), outbox.WithRoundSize(batch))
			if err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			for b.Loop() {
				b.StopTimer()
				if _, err := store.Stage(ctx, "bench", testrows.Rows(benchPage)); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				total := 0
				for total < benchPage {
					n, err := relay.RelayOnce(ctx)
					if err != nil {
						b.Fatal(err)
					}
					if n == 0 {
						b.Fatalf("relayed %d of %d rows", total, benchPage)
					}
					total += n
				}
			}
			b.ReportMetric(float64(b.N*benchPage)/b.Elapsed().Seconds(), "rows/s")
		})
	}
}
