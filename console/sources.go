package console

import (
	"context"
	"time"
	"unicode/utf8"

	"github.com/userstream/userstream/kafkasink/dlq"
)

// sourceTimeout bounds one read of the runs or the dead letters, so that a
// stalled server shows as an error on the page instead of a hung poll.
const sourceTimeout = 5 * time.Second

// maxErrorText caps an error shown on the page.
const maxErrorText = 300

// recentRuns returns the runs, read again once the last read is an
// interval old. Concurrent polls wait for one read rather than each
// querying the ledger.
func (c *Console) recentRuns(ctx context.Context, now time.Time) ([]runView, string) {
	if c.cfg.runs == nil || c.cfg.nRuns == 0 {
		return []runView{}, ""
	}
	c.runsMu.Lock()
	defer c.runsMu.Unlock()
	if !c.runs.at.IsZero() && now.Sub(c.runs.at) < c.cfg.interval {
		return c.runs.val, c.runs.err
	}
	ctx, cancel := context.WithTimeout(ctx, sourceTimeout)
	defer cancel()
	runs, err := c.cfg.runs.Recent(ctx, c.cfg.nRuns)
	c.runs = cached[[]runView]{at: now, val: []runView{}}
	if err != nil {
		c.runs.err = clip(err.Error(), maxErrorText)
		return c.runs.val, c.runs.err
	}
	for _, r := range runs {
		end := now
		if r.EndedAt != nil {
			end = *r.EndedAt
		}
		c.runs.val = append(c.runs.val, runView{
			ID: r.RunID, Kind: r.Kind, Status: r.Status, Error: clip(r.Error, maxErrorText),
			Started: r.StartedAt, Ended: r.EndedAt, Seconds: end.Sub(r.StartedAt).Seconds(),
			Fetched: r.Fetched, Staged: r.Staged, Duplicates: r.Duplicates, Invalid: r.Invalid,
			Published: r.Published, Stored: r.Stored, DeadLettered: r.DeadLettered,
		})
	}
	return c.runs.val, ""
}

// latestDeadLetters returns the dead letters, read again once the last
// read is an interval old, with their payloads redacted.
func (c *Console) latestDeadLetters(ctx context.Context, now time.Time) ([]deadLetterView, string) {
	if c.cfg.deadLetters == nil || c.cfg.nDLQ == 0 {
		return []deadLetterView{}, ""
	}
	c.dlqMu.Lock()
	defer c.dlqMu.Unlock()
	if !c.dlq.at.IsZero() && now.Sub(c.dlq.at) < c.cfg.interval {
		return c.dlq.val, c.dlq.err
	}
	ctx, cancel := context.WithTimeout(ctx, sourceTimeout)
	defer cancel()
	dls, err := c.cfg.deadLetters.Latest(ctx, dlq.Selection{}, c.cfg.nDLQ)
	c.dlq = cached[[]deadLetterView]{at: now, val: []deadLetterView{}}
	if err != nil {
		c.dlq.err = clip(err.Error(), maxErrorText)
		return c.dlq.val, c.dlq.err
	}
	for _, d := range dls[:min(len(dls), c.cfg.nDLQ)] {
		c.dlq.val = append(c.dlq.val, deadLetterView{
			Time: d.Time, Reason: clip(d.Reason, 64), Error: clip(d.Error, maxErrorText),
			Topic: d.Original.Topic, Partition: d.Original.Partition, Offset: d.Original.Offset,
			DLQTopic: d.Topic, DLQPartition: d.Partition, DLQOffset: d.Offset,
			Size: len(d.Value), Preview: Preview(d.Value, c.cfg.previewLen),
			RedriveCount: d.RedriveCount, Redriven: d.Redriven != nil,
		})
	}
	return c.dlq.val, ""
}

// clip cuts s to at most n runes, marking the cut.
func clip(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}
