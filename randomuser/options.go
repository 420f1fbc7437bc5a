package randomuser

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Defaults of [New]; each option's documentation names the default it
// overrides.
const (
	DefaultBaseURL        = "https://randomuser.me/api/"
	DefaultVersion        = "1.4"
	DefaultMaxRetries     = 4
	DefaultMinWait        = 500 * time.Millisecond
	DefaultMaxWait        = 30 * time.Second
	DefaultMaxRetryWait   = 5 * time.Minute
	DefaultAttemptTimeout = 60 * time.Second
	DefaultMaxBodyBytes   = 64 << 20
)

// The public API's rate limit: it answers 429 once an IP has asked for this
// many users within one window. Use them with [WithRateLimit].
const (
	PublicRateLimitUsers  = 20000
	PublicRateLimitWindow = 5 * time.Minute
)

// Opt configures a [Client]; pass them to [New].
type Opt interface{ apply(*config) }

type optFunc func(*config)

func (f optFunc) apply(c *config) { f(c) }

type config struct {
	baseURL      string
	version      string
	httpClient   *http.Client
	timeout      time.Duration
	timeoutSet   bool
	maxRetries   int
	minWait      time.Duration
	maxWait      time.Duration
	maxRetryWait time.Duration
	rateUsers    int
	ratePer      time.Duration
	creds        bool
	logger       *slog.Logger
	maxBody      int64
	userAgent    string
	registerer   prometheus.Registerer
}

func defaults() config {
	return config{
		baseURL:      DefaultBaseURL,
		version:      DefaultVersion,
		timeout:      DefaultAttemptTimeout,
		maxRetries:   DefaultMaxRetries,
		minWait:      DefaultMinWait,
		maxWait:      DefaultMaxWait,
		maxRetryWait: DefaultMaxRetryWait,
		maxBody:      DefaultMaxBodyBytes,
		userAgent:    "userstream-randomuser/1.0 (+https://github.com/userstream/userstream)",
	}
}

var versionRE = regexp.MustCompile(`^[0-9]+\.[0-9]+$`)

func (c *config) validate() error {
	u, err := url.Parse(c.baseURL)
	if err != nil {
		return fmt.Errorf("base URL: %w", err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("base URL %q: want an absolute http(s) URL", c.baseURL)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("base URL %q: must not have a query or fragment", c.baseURL)
	}
	if c.version != "" && !versionRE.MatchString(c.version) {
		return fmt.Errorf("version %q: want MAJOR.MINOR such as %q, or empty for the latest", c.version, DefaultVersion)
	}
	if c.maxRetries < 0 {
		return fmt.Errorf("max retries %d is negative", c.maxRetries)
	}
	if c.minWait <= 0 || c.maxWait < c.minWait {
		return fmt.Errorf("backoff %v-%v: want 0 < min <= max", c.minWait, c.maxWait)
	}
	if c.maxRetryWait < 0 {
		return fmt.Errorf("max Retry-After %v is negative", c.maxRetryWait)
	}
	if c.timeout < 0 {
		return fmt.Errorf("attempt timeout %v is negative", c.timeout)
	}
	if c.rateUsers < 0 || c.ratePer < 0 || (c.rateUsers > 0) != (c.ratePer > 0) {
		return fmt.Errorf("rate limit %d users per %v: want both positive, or both zero to disable", c.rateUsers, c.ratePer)
	}
	if c.maxBody <= 0 {
		return fmt.Errorf("max body bytes %d: want > 0", c.maxBody)
	}
	return nil
}

// endpoint returns the URL requests go to: the base URL, plus the pinned
// version directory.
func (c *config) endpoint() string {
	base := c.baseURL
	if !strings.HasSuffix(base, "/") {
		base += "/"
	}
	if c.version == "" {
		return base
	}
	return base + c.version + "/"
}

// WithBaseURL sets the API's base URL, overriding the default
// [DefaultBaseURL]. Point it at a [randomusertest] server in tests. The
// version directory is appended to it (see [WithVersion]).
//
// [randomusertest]: https://pkg.go.dev/github.com/userstream/userstream/randomuser/randomusertest
func WithBaseURL(u string) Opt { return optFunc(func(c *config) { c.baseURL = u }) }

// WithVersion pins the API version, overriding the default [DefaultVersion],
// which makes requests go to BASE/1.4/. Pinning matters: unpinned requests
// get whatever version the API considers latest, and every version so far
// changed the response shape. An empty version sends requests to BASE
// itself. The model of this package is that of 1.4.
func WithVersion(v string) Opt { return optFunc(func(c *config) { c.version = v }) }

// WithHTTPClient sets the HTTP client each attempt goes through, overriding
// the default of a pooled client with a per-attempt timeout of
// [DefaultAttemptTimeout].
//
// Retries are done by this package around the client, so its Transport must
// not retry too; put proxies, TLS settings, authentication and tracing
// there. The client is not modified, except that [WithAttemptTimeout], if
// also given, applies to a copy.
func WithHTTPClient(hc *http.Client) Opt {
	return optFunc(func(c *config) { c.httpClient = hc })
}

// WithAttemptTimeout bounds each attempt of a request (connecting, waiting
// and reading the whole body), overriding the default
// [DefaultAttemptTimeout]. Retries get a fresh bound each. Zero means no
// per-attempt bound; the context still bounds the call as a whole, retries
// included. A 5,000-user page is about 6 MB, so allow for slow links.
func WithAttemptTimeout(d time.Duration) Opt {
	return optFunc(func(c *config) { c.timeout, c.timeoutSet = d, true })
}

// WithMaxRetries sets how many times a failed request is retried, overriding
// the default [DefaultMaxRetries]. Zero disables retries.
//
// Retried are: connection errors and timeouts, 429, 5xx other than 501, and
// 2xx bodies that are truncated, hold an "error" key or have an empty
// results array. Other 4xx statuses and malformed bodies are not retried.
func WithMaxRetries(n int) Opt { return optFunc(func(c *config) { c.maxRetries = n }) }

// WithBackoff sets the wait before the first retry and the cap of the wait:
// the wait doubles on each failure, with jitter (a random value between half
// and all of it, so that many clients do not retry in lockstep), overriding
// the defaults [DefaultMinWait] and [DefaultMaxWait]. A Retry-After the
// server sends on 429 and 503 takes its place.
func WithBackoff(min, max time.Duration) Opt {
	return optFunc(func(c *config) { c.minWait, c.maxWait = min, max })
}

// WithMaxRetryAfter sets the longest Retry-After (on 429 and 503) the client
// waits for before retrying, overriding the default [DefaultMaxRetryWait].
// A longer Retry-After, or one past the context's deadline, ends the call
// at once with a [*ResponseError] whose RetryAfter says when to come back.
func WithMaxRetryAfter(d time.Duration) Opt {
	return optFunc(func(c *config) { c.maxRetryWait = d })
}

// WithRateLimit makes the client pace itself to at most users users per
// window, overriding the default of no client-side limit. It is a token
// bucket holding up to users tokens, refilled continuously; each request
// (and each retry) takes as many tokens as users it asks for, and waits,
// respecting its context, when the bucket is short.
//
// For the public API use [PublicRateLimitUsers] and [PublicRateLimitWindow].
// The limit is per Client; share one Client to share the budget.
func WithRateLimit(users int, window time.Duration) Opt {
	return optFunc(func(c *config) { c.rateUsers, c.ratePer = users, window })
}

// WithCredentials makes the client decode login.password, salt, md5, sha1
// and sha256, overriding the default of skipping them. Most programs never
// need them; leaving them out keeps them from reaching logs, queues and
// databases by accident.
func WithCredentials() Opt { return optFunc(func(c *config) { c.creds = true }) }

// WithLogger sets the logger, overriding the default of discarding logs.
// Retries are logged at Warn, requests at Debug.
func WithLogger(l *slog.Logger) Opt { return optFunc(func(c *config) { c.logger = l }) }

// WithMaxBodyBytes caps the size of a response body, overriding the default
// [DefaultMaxBodyBytes]. A 5,000-user page is about 6 MB. Larger bodies fail
// with [ErrTooLarge].
func WithMaxBodyBytes(n int64) Opt { return optFunc(func(c *config) { c.maxBody = n }) }

// WithMetrics registers the client's Prometheus metrics on reg and records
// them, overriding the default of no metrics (a nil reg keeps it). The
// series are listed in the package doc, under Metrics. Several clients
// given the same reg share the series, so their counts add up; [New] fails
// if reg refuses them for another reason (such as a collector of another
// type registered under one of the names).
func WithMetrics(reg prometheus.Registerer) Opt {
	return optFunc(func(c *config) { c.registerer = reg })
}

// WithUserAgent sets the User-Agent header, overriding the default, which
// names this module.
func WithUserAgent(ua string) Opt { return optFunc(func(c *config) { c.userAgent = ua }) }
