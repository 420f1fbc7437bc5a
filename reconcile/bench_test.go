package reconcile_test

import (
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/userstream/userstream/internal/testrows"
	"github.com/userstream/userstream/kafkasink/outbox"
	"github.com/userstream/userstream/reconcile"
	"github.com/userstream/userstream/transform"
)

// benchRowsEnv sets the rows of BenchmarkCheck; default 1,000,000.
const benchRowsEnv = "USERSTREAM_BENCH_RECONCILE_ROWS"

// BenchmarkCheck measures the rate of a whole-ring check (ids compared a
// second) of a table that matches its outbox, filled once: the outbox by
// Stage in pages of 10,000, the table by ApplyMany of the latest
// versions, as the consumers would write them (not through Kafka).
//
//	go test -run '^$' -bench BenchmarkCheck -benchtime 1x ./reconcile/
func BenchmarkCheck(b *testing.B) {
	n := 1_000_000
	if v := os.Getenv(benchRowsEnv); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 1 {
			b.Fatalf("%s=%q: want a positive number", benchRowsEnv, v)
		}
	}
	ctx := testContext(b, 2*time.Hour)
	src := newOutbox(b)
	tbl := newTable(b)
	start := time.Now()
	for i := 0; i < n; i += 10_000 {
		rows := make([]transform.Row, 0, 10_000)
		for j := i; j < min(n, i+10_000); j++ {
			rows = append(rows, testrows.Row(j))
		}
		if _, err := src.Stage(ctx, "bench", rows); err != nil {
			b.Fatal(err)
		}
	}
	staged := time.Since(start)
	err := src.EachLatest(ctx, "", func(vs []outbox.Version) error {
		changes := make([]transform.Change, len(vs))
		for i, v := range vs {
			row, err := transform.Unmarshal(v.Payload)
			if err != nil {
				return err
			}
			changes[i] = transform.Change{Row: row, Version: v.Version}
		}
		return tbl.ApplyMany(ctx, changes)
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("filled %d rows: staged in %s, applied in %s", n, staged.Round(time.Second), (time.Since(start) - staged).Round(time.Second))

	for _, ranges := range []int{0, 4} {
		name := "ranges=auto"
		if ranges > 0 {
			name = "ranges=" + strconv.Itoa(ranges)
		}
		b.Run(name, func(b *testing.B) {
			rec, err := reconcile.New(src, tbl.Store, reconcile.WithRanges(ranges))
			if err != nil {
				b.Fatal(err)
			}
			var compared int64
			for b.Loop() {
				rep, err := rec.Check(ctx, reconcile.Scope{})
				if err != nil {
					b.Fatal(err)
				}
				if rep.Compared != int64(n) || rep.Differences() != 0 {
					b.Fatalf("compared %d, %d differences; want %d, 0", rep.Compared, rep.Differences(), n)
				}
				compared += rep.Compared
			}
			b.ReportMetric(float64(compared)/b.Elapsed().Seconds(), "rows/s")
		})
	}
}
