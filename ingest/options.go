package ingest

import (
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Opt configures a [Loop]; see the With* functions.
type Opt interface{ apply(*config) }

type config struct {
	pageSize int
	rate     float64
	nat      []string
	logger   *slog.Logger
	reg      prometheus.Registerer
	hook     func(Page)

	stageRetry time.Duration
}

type optFunc func(*config)

func (f optFunc) apply(c *config) { f(c) }

// WithPageSize sets how many users a page holds: one API request and one
// Stage call (one PostgreSQL transaction). Default randomuser.MaxResults
// (5,000), also for 0; more than 5,000 or negative fails [New].
func WithPageSize(n int) Opt {
	return optFunc(func(c *config) {
		if n != 0 {
			c.pageSize = n
		}
	})
}

// WithRate holds the offered load at usersPerSecond, averaged from the
// start of each run and checked after each page. Default 0: as fast as the
// source allows. Negative fails [New].
func WithRate(usersPerSecond float64) Opt {
	return optFunc(func(c *config) { c.rate = usersPerSecond })
}

// WithNat restricts the users to these nationalities (see
// randomuser.Nationalities). Default none: all.
func WithNat(nat ...string) Opt { return optFunc(func(c *config) { c.nat = nat }) }

// WithLogger sets the logger of the invalid users and of the stage
// retries (both at Warn). Default: logs are discarded.
func WithLogger(l *slog.Logger) Opt {
	return optFunc(func(c *config) {
		if l != nil {
			c.logger = l
		}
	})
}

// WithMetrics registers the Loop's metrics (see the package doc) on reg.
// Default nil: no metrics. Registering is idempotent per registry: a Loop
// given a registry that already has the series shares them; [New] fails
// if a collector of that name and another type is there.
func WithMetrics(reg prometheus.Registerer) Opt { return optFunc(func(c *config) { c.reg = reg }) }

// WithPageHook has fn called after each page is staged, from the
// goroutine of [Loop.Run], before the next page is fetched: keep it short.
// Default none.
func WithPageHook(fn func(Page)) Opt { return optFunc(func(c *config) { c.hook = fn }) }

// WithStageRetry sets how long a page is retried after Stage fails on a
// lost PostgreSQL connection: the connection lost, refused or reset, or
// the server shutting down, starting up or out of connection slots
// (SQLSTATE class 08, 57P01, 57P02, 57P03, 53300). The page is staged
// again after a backoff (100-200 ms at first, doubling up to 5 s), each
// retry logged at Warn and counted in [Result].StageRetries; the run
// fails once the page's retries would take longer than maxElapsed. Other
// errors (a constraint, a privilege, ctx's end) fail the run at once.
// Default [DefaultStageRetry] (2 minutes); 0 disables retries; negative
// fails [New].
func WithStageRetry(maxElapsed time.Duration) Opt {
	return optFunc(func(c *config) { c.stageRetry = maxElapsed })
}
