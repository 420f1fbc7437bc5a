package runledger_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/userstream/userstream/runledger"
)

func TestOutcome(t *testing.T) {
	live := context.Background()
	ended, cancel := context.WithCancel(live)
	cancel()
	boom := errors.New("boom")
	for _, c := range []struct {
		ctx          context.Context
		err          error
		status, text string
	}{
		{live, nil, runledger.StatusSucceeded, ""},
		{ended, nil, runledger.StatusSucceeded, ""}, // it finished before the end
		{live, boom, runledger.StatusFailed, "boom"},
		{ended, boom, runledger.StatusInterrupted, "interrupted"},
		{ended, context.Canceled, runledger.StatusInterrupted, "interrupted"},
	} {
		if s, text := runledger.Outcome(c.ctx, c.err); s != c.status || text != c.text {
			t.Errorf("Outcome(ctx ended %v, %v) = %q, %q; want %q, %q", c.ctx.Err() != nil, c.err, s, text, c.status, c.text)
		}
	}
}

// A run records how it ended: a signal interrupts it, it does not fail it.
func ExampleOutcome() {
	ctx, stop := context.WithCancel(context.Background())
	stop() // SIGINT, say
	r := runledger.Run{RunID: "ingest-1", Kind: "ingest"}
	r.Status, r.Error = runledger.Outcome(ctx, context.Canceled)
	fmt.Println(r.Status, r.Error)
	// Output: interrupted interrupted
}
