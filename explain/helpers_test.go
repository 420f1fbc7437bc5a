package explain_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/userstream/userstream/internal/pipelinetest"
	"github.com/userstream/userstream/kafkasink/outbox"
)

// The outbox, table, topic and pipeline of a test, shared with the
// other package that needs them (internal/pipelinetest).
type (
	table    = pipelinetest.Table
	pipeline = pipelinetest.Pipeline
)

func testContext(tb testing.TB, d time.Duration) context.Context { return pipelinetest.Context(tb, d) }

func discard() *slog.Logger { return pipelinetest.Discard() }

// newOutbox returns a migrated outbox in a schema of the test's own,
// dropped after the test, and its pool.
func newOutbox(tb testing.TB) (*outbox.Store, *pgxpool.Pool) {
	return pipelinetest.NewOutbox(tb, "expl")
}

func newTable(tb testing.TB) table { return pipelinetest.NewTable(tb, "expl") }

func newPipeline(tb testing.TB, src *outbox.Store, t table) *pipeline {
	return pipelinetest.NewPipeline(tb, "expl", src, t)
}

// endOffsets returns the end offset of each non-empty partition of topic.
func endOffsets(tb testing.TB, cl *kgo.Client, topic string) map[int32]int64 {
	tb.Helper()
	ends, err := kadm.NewClient(cl).ListEndOffsets(testContext(tb, 30*time.Second), topic)
	if err != nil {
		tb.Fatalf("list end offsets: %v", err)
	}
	out := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Offset > 0 {
			out[o.Partition] = o.Offset
		}
	})
	return out
}

// deleteRecords deletes the records of a partition before offset, as the
// topic's retention would.
func deleteRecords(tb testing.TB, cl *kgo.Client, topic string, partition int32, before int64) {
	tb.Helper()
	var os kadm.Offsets
	os.Add(kadm.Offset{Topic: topic, Partition: partition, At: before})
	res, err := kadm.NewClient(cl).DeleteRecords(testContext(tb, 30*time.Second), os)
	if err == nil {
		err = res.Error()
	}
	if err != nil {
		tb.Fatalf("delete records: %v", err)
	}
}
