package ingest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"log/slog"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/userstream/userstream/internal/promreg"
	"github.com/userstream/userstream/kafkasink/outbox"
	"github.com/userstream/userstream/randomuser"
	"github.com/userstream/userstream/transform"
)

// Stager stages rows for publishing; *outbox.Store is one.
//
// Stage writes rows, all or none, under runID (never empty) and returns
// how many were new and how many were already staged (duplicates, by
// id). A page with a row that fails [transform.Row.Validate] must stage
// nothing and return an [*outbox.InvalidRowError] naming the row's index;
// the Loop then leaves that row out and stages the rest. Any other error
// fails the run. Stage may be called again with the same rows (a retried
// run) and must then count them as duplicates.
type Stager interface {
	Stage(ctx context.Context, runID string, rows []transform.Row) (outbox.StageResult, error)
}

// Source yields users; *randomuser.Client is one. Users returns n users of
// q (q.Seed set), the same ones for the same query, and ends with one
// error when it cannot go on (see [randomuser.Client.Users]).
type Source interface {
	Users(ctx context.Context, q randomuser.Query, n int) iter.Seq2[randomuser.User, error]
}

// Result is what a run did.
type Result struct {
	Fetched    int64 // users decoded from the API
	Invalid    int64 // fetched users that failed validation, not staged
	Staged     int64 // versions written to the outbox: new users, and users whose content changed
	Duplicates int64 // users staged before with the same content, not staged again
	Updated    int64 // of Staged, users the outbox already had a version of ([outbox.StageResult].Updates)
}

// Page is one staged page, as a [WithPageHook] hook sees it.
type Page struct {
	RunID string
	// Rows are the rows of the page that were staged or were duplicates
	// (invalid ones left out). The slice is reused: it is valid only
	// during the hook.
	Rows []transform.Row
	// The page's counts; Fetched = len(Rows) + Invalid.
	Fetched, Invalid, Staged, Duplicates int
	// FetchTime is the time from the end of the previous page to the
	// page's last user decoded (retries included).
	FetchTime time.Duration
	// StageTime is the time of the page's Stage calls.
	StageTime time.Duration
}

// FetchError is returned by [Loop.Run] when the source fails for good
// (after its retries); what was fetched before it has been staged.
type FetchError struct{ Err error }

func (e *FetchError) Error() string { return "fetch: " + e.Err.Error() }
func (e *FetchError) Unwrap() error { return e.Err }

// Loop fetches users and stages them. Create it with [New]; it is safe for
// concurrent use, and several Runs may go at once.
type Loop struct {
	src     Source
	dst     Stager
	cfg     config
	invalid prometheus.Counter // nil without WithMetrics
}

// New returns a Loop fetching from src and staging into dst. It does no
// I/O. It fails on an invalid option value, or when the metrics cannot be
// registered (see [WithMetrics]).
func New(src Source, dst Stager, opts ...Opt) (*Loop, error) {
	if src == nil || dst == nil {
		return nil, errors.New("ingest: New needs a source and a stager")
	}
	cfg := config{pageSize: randomuser.MaxResults, logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	for _, o := range opts {
		o.apply(&cfg)
	}
	if cfg.pageSize < 1 || cfg.pageSize > randomuser.MaxResults {
		return nil, fmt.Errorf("ingest: page size %d: want 1 to %d", cfg.pageSize, randomuser.MaxResults)
	}
	if cfg.rate < 0 {
		return nil, fmt.Errorf("ingest: rate %g: want 0 or more users per second", cfg.rate)
	}
	l := &Loop{src: src, dst: dst, cfg: cfg}
	if cfg.reg != nil {
		// Loops handed one registry share the counter.
		c, err := promreg.Register(cfg.reg, prometheus.NewCounter(prometheus.CounterOpts{
			Name: "userstream_users_invalid_total",
			Help: "Fetched users that failed validation and were not staged.",
		}))
		if err != nil {
			return nil, fmt.Errorf("ingest: WithMetrics: userstream_users_invalid_total: %w", err)
		}
		l.invalid = c
	}
	return l, nil
}

// Run fetches users users of seed (empty: a new seed, so new users), page
// by page, maps each to a row and stages each page under runID, pacing the
// fetches at [WithRate]. It returns what it did, also on error.
//
// Run stops at the first error: a [*FetchError] when the source fails
// (the users fetched before it are staged first, so that the next run of
// the seed skips them), a wrapped Stager error ("stage: ..."), or ctx's
// error. Invalid users are not errors: they are logged at Warn, counted
// in Result.Invalid and left out.
func (l *Loop) Run(ctx context.Context, runID, seed string, users int) (Result, error) {
	q := randomuser.Query{Results: l.cfg.pageSize, Seed: seed, Nat: l.cfg.nat}
	if q.Seed == "" {
		q.Seed = randomuser.NewSeed()
	}
	var res Result
	started := time.Now()
	pageStart := started
	page := make([]transform.Row, 0, l.cfg.pageSize)
	for u, err := range l.src.Users(ctx, q, users) {
		if err != nil {
			if serr := l.stage(ctx, runID, page, time.Since(pageStart), &res); serr != nil {
				return res, errors.Join(&FetchError{Err: err}, serr)
			}
			return res, &FetchError{Err: err}
		}
		res.Fetched++
		page = append(page, transform.FromUser(u))
		if len(page) < l.cfg.pageSize {
			continue
		}
		if err := l.stage(ctx, runID, page, time.Since(pageStart), &res); err != nil {
			return res, err
		}
		page = page[:0]
		if err := pace(ctx, started, res.Fetched, l.cfg.rate); err != nil {
			return res, err
		}
		pageStart = time.Now()
	}
	return res, l.stage(ctx, runID, page, time.Since(pageStart), &res)
}

// stage writes a page in one Stage call. Stage validates every row before
// any I/O and names the first invalid one, which is left out before the
// page is tried again. (Validating here first as well would double the
// cost for pages that are all valid, as the API's are.)
func (l *Loop) stage(ctx context.Context, runID string, page []transform.Row, fetchTime time.Duration, res *Result) error {
	if len(page) == 0 {
		return nil
	}
	p := Page{RunID: runID, Fetched: len(page), FetchTime: fetchTime}
	start := time.Now()
	for len(page) > 0 {
		sr, err := l.dst.Stage(ctx, runID, page)
		var inv *outbox.InvalidRowError
		if errors.As(err, &inv) && inv.Index >= 0 && inv.Index < len(page) {
			p.Invalid++
			res.Invalid++
			if l.invalid != nil {
				l.invalid.Inc()
			}
			l.cfg.logger.Warn("invalid user not staged", "err", inv.Err)
			page = slices.Delete(page, inv.Index, inv.Index+1)
			continue
		}
		if err != nil {
			return fmt.Errorf("stage: %w", err)
		}
		p.Staged, p.Duplicates = sr.Staged, sr.Duplicates
		res.Staged += int64(sr.Staged)
		res.Duplicates += int64(sr.Duplicates)
		res.Updated += int64(sr.Updates)
		break
	}
	p.Rows, p.StageTime = page, time.Since(start)
	if l.cfg.hook != nil {
		l.cfg.hook(p)
	}
	return nil
}

// pace holds the offered load at rate users per second (0: as fast as the
// source allows) by waiting until fetched users are due.
func pace(ctx context.Context, started time.Time, fetched int64, rate float64) error {
	if rate <= 0 {
		return nil
	}
	due := started.Add(time.Duration(float64(fetched) / rate * float64(time.Second)))
	t := time.NewTimer(time.Until(due))
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
