package reconcile

import (
	"fmt"
	"log/slog"
)

// Defaults of the options.
const (
	// DefaultRangeRows is the number of rows a range holds, about, when
	// [WithRanges] leaves the number of ranges to the Reconciler: the
	// ranges of a whole-ring check are as many as the outbox's latest
	// upserts divided by it, rounded up. A range costs about 24 bytes of
	// memory per row (see the package doc), so about 24 MB at this size.
	DefaultRangeRows = 1_000_000
	// DefaultMaxFindings is the number of findings a [Report] keeps
	// unless [WithMaxFindings] says otherwise; its counts stay exact.
	DefaultMaxFindings = 10_000
)

// Opt is an option of [New]. Only this package makes options.
type Opt interface {
	apply(*config)
}

type config struct {
	ranges      int // 0: auto
	maxFindings int
	logger      *slog.Logger
}

func defaultConfig() config {
	return config{maxFindings: DefaultMaxFindings, logger: slog.New(slog.DiscardHandler)}
}

func (c config) validate() error {
	if c.ranges < 0 {
		return fmt.Errorf("reconcile: WithRanges(%d): want 0 (auto) or more", c.ranges)
	}
	if c.maxFindings < 0 {
		return fmt.Errorf("reconcile: WithMaxFindings(%d): want 0 or more", c.maxFindings)
	}
	return nil
}

type optFunc func(*config)

func (f optFunc) apply(c *config) { f(c) }

// WithRanges sets into how many token ranges ([cassandrastore.SplitRing])
// a check of the whole ring is cut, checked one after the other, each
// costing one pass over the outbox; overriding the default 0, which
// counts the outbox's latest upserts first (one more pass) and takes one
// range per [DefaultRangeRows] of them. More ranges use less memory and
// read the outbox more often. It does not apply to a [Scope] that names
// its ranges.
func WithRanges(n int) Opt { return optFunc(func(c *config) { c.ranges = n }) }

// WithMaxFindings sets how many findings a [Report] keeps, overriding the
// default [DefaultMaxFindings]; the counts are exact whatever it is. 0
// keeps none. [Reconciler.Repair] repairs only the findings kept.
func WithMaxFindings(n int) Opt { return optFunc(func(c *config) { c.maxFindings = n }) }

// WithLogger sets the logger, overriding the default, which discards: a
// check logs each range it finished at Info, with its counts and rate.
func WithLogger(l *slog.Logger) Opt {
	return optFunc(func(c *config) {
		if l != nil {
			c.logger = l
		}
	})
}
