package main

import (
	"strings"

	"github.com/userstream/userstream/ingest"
)

// newLoop returns the loop that fetches -users users of -seed, page by
// page, maps each to a row and stages each page in the outbox, where the
// relay picks it up (package ingest). Each page staged is counted, and
// its ids go to the run's set, for verification.
func (p *pipeline) newLoop() (*ingest.Loop, error) {
	var nat []string
	if p.cfg.nat != "" {
		nat = strings.Split(p.cfg.nat, ",")
	}
	return ingest.New(p.api, p.outbox, ingest.WithPageSize(p.cfg.pageSize), ingest.WithRate(p.cfg.rate), ingest.WithNat(nat...),
		ingest.WithLogger(p.log), ingest.WithMetrics(p.reg), ingest.WithPageHook(func(pg ingest.Page) {
			for i := range pg.Rows {
				p.ids.add(pg.Rows[i].ID)
			}
			p.counts.fetched.Add(int64(pg.Fetched))
			p.counts.invalid.Add(int64(pg.Invalid))
			p.counts.staged.Add(int64(pg.Staged))
			p.counts.duplicates.Add(int64(pg.Duplicates))
		}))
}
