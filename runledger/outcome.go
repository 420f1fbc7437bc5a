package runledger

import "context"

// Outcome returns the Status and Error of a run that ended with err, for
// [Ledger.Update]: [StatusSucceeded] and "" for nil; [StatusInterrupted]
// and "interrupted" when ctx, the run's context, has ended (a run stopped by
// a signal or its caller is interrupted, not failed: the next run carries
// on); [StatusFailed] and err's text otherwise.
func Outcome(ctx context.Context, err error) (status, text string) {
	switch {
	case err == nil:
		return StatusSucceeded, ""
	case ctx.Err() != nil:
		return StatusInterrupted, "interrupted"
	default:
		return StatusFailed, err.Error()
	}
}
