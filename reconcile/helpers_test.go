package reconcile_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

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
// dropped after the test.
func newOutbox(tb testing.TB) *outbox.Store {
	box, _ := pipelinetest.NewOutbox(tb, "rec")
	return box
}

func newTable(tb testing.TB) table { return pipelinetest.NewTable(tb, "rec") }

func newPipeline(tb testing.TB, src *outbox.Store, t table) *pipeline {
	return pipelinetest.NewPipeline(tb, "rec", src, t)
}
