package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/userstream/userstream/kafkasink/outbox"
	"github.com/userstream/userstream/randomuser"
	"github.com/userstream/userstream/transform"
)

// ingest fetches -users users of -seed, page by page, maps each to a row
// and stages each page in the outbox, where the relay picks it up.
func (p *pipeline) ingest(ctx context.Context, runID string) error {
	q := randomuser.Query{Results: p.cfg.pageSize, Seed: p.cfg.seed}
	if p.cfg.nat != "" {
		q.Nat = strings.Split(p.cfg.nat, ",")
	}
	if q.Seed == "" {
		q.Seed = randomuser.NewSeed()
	}
	started := time.Now()
	page := make([]transform.Row, 0, p.cfg.pageSize)
	pageStart := time.Now()
	// Users yields users as they are decoded, retrying what can be
	// retried; an error ends the iteration.
	for u, err := range p.api.Users(ctx, q, p.cfg.users) {
		if err != nil {
			p.m.fetchErrors.Inc()
			// Keep what was fetched: the next run of the seed skips it.
			if serr := p.stage(ctx, runID, page); serr != nil {
				return errors.Join(err, serr)
			}
			return fmt.Errorf("fetch: %w", err)
		}
		p.counts.fetched.Add(1)
		page = append(page, transform.FromUser(u))
		if len(page) < p.cfg.pageSize {
			continue
		}
		p.m.fetchPage.Observe(time.Since(pageStart).Seconds())
		if err := p.stage(ctx, runID, page); err != nil {
			return err
		}
		page = page[:0]
		if err := pace(ctx, started, p.counts.fetched.Load(), p.cfg.rate); err != nil {
			return err
		}
		pageStart = time.Now()
	}
	return p.stage(ctx, runID, page)
}

// stage writes a page to the outbox in one transaction. Stage validates
// every row before any I/O and names the first invalid one: it is counted,
// logged and left out, and the rest of the page staged. (Validating here
// first as well would double the cost for pages that are all valid, as the
// API's are.) A user staged before counts as a duplicate and is not
// published again: re-running a seed changes nothing.
func (p *pipeline) stage(ctx context.Context, runID string, page []transform.Row) error {
	start := time.Now()
	for len(page) > 0 {
		res, err := p.outbox.Stage(ctx, runID, page)
		var inv *outbox.InvalidRowError
		if errors.As(err, &inv) {
			p.counts.invalid.Add(1)
			p.log.Warn("invalid user not staged", "err", inv.Err)
			page = slices.Delete(page, inv.Index, inv.Index+1)
			continue
		}
		if err != nil {
			return fmt.Errorf("stage: %w", err)
		}
		p.m.stageBatch.Observe(time.Since(start).Seconds())
		p.counts.staged.Add(int64(res.Staged))
		p.counts.duplicates.Add(int64(res.Duplicates))
		return nil
	}
	return nil
}

// pace holds the offered load at rate users per second (-rate; 0: as fast
// as the API allows) by waiting until fetched users are due.
func pace(ctx context.Context, started time.Time, fetched int64, rate float64) error {
	if rate <= 0 {
		return nil
	}
	due := started.Add(time.Duration(float64(fetched) / rate * float64(time.Second)))
	select {
	case <-time.After(time.Until(due)):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
