package console

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/userstream/userstream/explain"
	"github.com/userstream/userstream/kafkasink/dlq"
	"github.com/userstream/userstream/kafkasink/outbox"
	"github.com/userstream/userstream/runledger"
)

//go:embed static
var static embed.FS

// Runs is where the console reads the run ledger. [*runledger.Ledger]
// implements it.
type Runs interface {
	// Recent returns the last n runs, newest first.
	Recent(ctx context.Context, n int) ([]runledger.Run, error)
}

// DeadLetters is where the console reads the latest dead letters.
// [*dlq.Queue] implements it.
type DeadLetters interface {
	// Latest returns up to n of the most recent dead letters that sel
	// selects (the console passes the zero Selection: every letter),
	// newest first. The console calls it at most once per interval while
	// the page is open, so an implementation may read the topic each time.
	Latest(ctx context.Context, sel dlq.Selection, n int) ([]dlq.Letter, error)
}

// Explainer answers the page's search box: where one user is, hop by hop.
// [*explain.Explainer] implements it.
type Explainer interface {
	// User returns the evidence of each hop for the user id. An id the
	// pipeline never staged is a report, not an error; an id that is
	// not a UUID is an error.
	User(ctx context.Context, id string) (*explain.Report, error)
}

// Stage is a counter the console shows: a total, its rate and, for the
// stage [Metrics.Throughput] names, a line in the chart.
type Stage struct {
	Name   string // as shown: "stored"
	Metric string // a counter (or counter-like gauge); label sets are summed
}

// Metrics names what the console reads from the gatherer.
type Metrics struct {
	Stages     []Stage // in the order users flow
	Errors     []Stage // counters shown as problems when not zero
	Throughput string  // the stage charted as throughput
	Lag        string  // a gauge of consumer lag with a "partition" label; series are summed by partition, whatever their other labels
	Latency    string  // a histogram of fetch→stored seconds
	LastRun    string  // a gauge of the last successful run's Unix time; "" for none
	// Freshness names gauges of ages in seconds, one per hop users wait
	// in (Name the hop, Metric the gauge, whose label sets count by their
	// largest value): the page shows each, and the largest of them as the
	// pipeline's freshness, how long its oldest user not yet stored has
	// waited since it was fetched.
	Freshness []Stage
}

// DefaultMetrics returns the names the SDK's packages register when given a
// prometheus.Registerer through their WithMetrics option, and the console
// reads by default:
//
//   - fetched: userstream_users_fetched_total, and the error counter
//     userstream_fetch_errors_total, from a randomuser.Client
//     ([github.com/userstream/userstream/randomuser.WithMetrics]);
//   - staged: userstream_users_staged_total, from an outbox.Store
//     ([github.com/userstream/userstream/kafkasink/outbox.WithMetrics]);
//   - published: userstream_users_published_total, from an outbox.Relay
//     ([github.com/userstream/userstream/kafkasink/outbox.WithMetrics]);
//   - stored: userstream_rows_stored_total, and the error counter
//     userstream_store_errors_total, from a cassandrastore.Store
//     ([github.com/userstream/userstream/cassandrastore.WithMetrics]);
//   - dead-lettered: userstream_records_dead_lettered_total, the lag gauge
//     userstream_consumer_lag (labels group, topic and partition; the
//     console sums it by partition, over groups and topics: give it the
//     registry of one consumer group) and the latency histogram
//     userstream_fetch_to_store_seconds, from a kafkasink.Consumer
//     ([github.com/userstream/userstream/kafkasink.WithMetrics]);
//   - the last run: userstream_last_successful_run_timestamp_seconds, from
//     a runledger.Ledger ([runledger.WithMetrics]);
//   - freshness: the age of the oldest user not yet stored, the largest of
//     userstream_outbox_oldest_pending_seconds (hop "outbox", from an
//     outbox.Relay) and userstream_consumer_oldest_unstored_seconds (hop
//     "kafka", from a kafkasink.Consumer; the largest over its groups and
//     topics).
//
// Each package's doc lists its series with their types, labels and
// buckets. Give the console the gatherer of the registry those packages
// registered on ([WithGatherer]); a metric whose package has no registerer
// is shown as absent.
func DefaultMetrics() Metrics {
	return Metrics{
		Stages: []Stage{
			{"fetched", "userstream_users_fetched_total"},
			{"staged", "userstream_users_staged_total"},
			{"published", "userstream_users_published_total"},
			{"stored", "userstream_rows_stored_total"},
			{"dead-lettered", "userstream_records_dead_lettered_total"},
		},
		Errors: []Stage{
			{"fetch errors", "userstream_fetch_errors_total"},
			{"store errors", "userstream_store_errors_total"},
		},
		Throughput: "stored",
		Lag:        "userstream_consumer_lag",
		Latency:    "userstream_fetch_to_store_seconds",
		LastRun:    "userstream_last_successful_run_timestamp_seconds",
		Freshness: []Stage{
			{"outbox", "userstream_outbox_oldest_pending_seconds"},
			{"kafka", "userstream_consumer_oldest_unstored_seconds"},
		},
	}
}

// Opt configures a [Console].
type Opt interface{ apply(*config) }

type opt func(*config)

func (o opt) apply(c *config) { o(c) }

type config struct {
	gatherer    prometheus.Gatherer
	runs        Runs
	deadLetters DeadLetters
	explainer   Explainer
	metrics     Metrics
	interval    time.Duration
	history     time.Duration
	title       string
	nRuns, nDLQ int
	previewLen  int
}

// WithGatherer sets where counts, rates, latency and lag come from,
// overriding the default prometheus.DefaultGatherer.
func WithGatherer(g prometheus.Gatherer) Opt { return opt(func(c *config) { c.gatherer = g }) }

// WithRuns sets the run ledger shown; without it the page has no runs
// section.
func WithRuns(r Runs) Opt { return opt(func(c *config) { c.runs = r }) }

// WithDeadLetters sets the dead letters shown; without it the page has no
// dead-letter section.
func WithDeadLetters(d DeadLetters) Opt { return opt(func(c *config) { c.deadLetters = d }) }

// WithExplainer adds a search box to the page: a user's id in, the
// evidence of each hop out (served as explain.json?id=, one search at a
// time, each bounded by 15 seconds); without it the page has no search
// box. The report holds no payload, and its errors are clipped as the
// dead letters' are.
func WithExplainer(e Explainer) Opt { return opt(func(c *config) { c.explainer = e }) }

// WithMetricNames sets the names of the metrics read, overriding the
// default [DefaultMetrics], the names the SDK's packages register. Use it
// when the application registers its own metrics under other names.
// Metrics the gatherer lacks are shown as absent.
func WithMetricNames(m Metrics) Opt { return opt(func(c *config) { c.metrics = m }) }

// WithInterval sets how often the metrics are sampled and the runs and
// dead letters read, overriding the default 1s.
func WithInterval(d time.Duration) Opt { return opt(func(c *config) { c.interval = d }) }

// WithHistory sets how far back the chart goes, overriding the default 5
// minutes.
func WithHistory(d time.Duration) Opt { return opt(func(c *config) { c.history = d }) }

// WithTitle sets the page's title, overriding the default "userstream".
func WithTitle(t string) Opt { return opt(func(c *config) { c.title = t }) }

// WithLimits sets how many runs and dead letters are shown, overriding the
// defaults 10 and 20.
func WithLimits(runs, deadLetters int) Opt {
	return opt(func(c *config) { c.nRuns, c.nDLQ = runs, deadLetters })
}

// WithPreviewLength caps a dead letter's preview at n characters,
// overriding the default 240.
func WithPreviewLength(n int) Opt { return opt(func(c *config) { c.previewLen = n }) }

// Console is the status page, an http.Handler. Create it with [New].
type Console struct {
	cfg config

	throughput int // index in cfg.metrics.Stages of the charted stage, -1 for none

	mu      sync.Mutex // guards samples
	samples []sample   // oldest first, at most history/interval+1

	runsMu sync.Mutex // guards runs, held while the ledger is read
	runs   cached[[]runView]
	dlqMu  sync.Mutex // guards dlq, held while the dead letters are read
	dlq    cached[[]deadLetterView]

	explainMu sync.Mutex // one search at a time: each reads every server once
}

// cached is a source's last answer, read again once it is an interval old.
type cached[T any] struct {
	at  time.Time
	val T
	err string
}

// New returns a console over the sources given by opts. It does no I/O.
func New(opts ...Opt) (*Console, error) {
	cfg := config{
		gatherer: prometheus.DefaultGatherer, metrics: DefaultMetrics(),
		interval: time.Second, history: 5 * time.Minute, title: "userstream",
		nRuns: 10, nDLQ: 20, previewLen: 240,
	}
	for _, o := range opts {
		o.apply(&cfg)
	}
	switch {
	case cfg.gatherer == nil:
		return nil, errors.New("console: WithGatherer(nil)")
	case cfg.interval <= 0 || cfg.history < cfg.interval:
		return nil, errors.New("console: the interval must be positive and the history at least one interval")
	case cfg.nRuns < 0 || cfg.nDLQ < 0 || cfg.previewLen < 16:
		return nil, errors.New("console: negative limits, or a preview shorter than 16 characters")
	}
	throughput := slices.IndexFunc(cfg.metrics.Stages, func(s Stage) bool { return s.Name == cfg.metrics.Throughput })
	return &Console{cfg: cfg, throughput: throughput}, nil
}

// Run samples the metrics every interval until ctx ends, so that the chart
// covers the last minutes even before anyone opens the page. It returns
// nil when ctx ends.
func (c *Console) Run(ctx context.Context) error {
	t := time.NewTicker(c.cfg.interval)
	defer t.Stop()
	for {
		c.sampleIfDue(time.Now())
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// ServeHTTP serves the page at "/" (or "/index.html"), its script and
// stylesheet, status.json, the data the script polls, and, with
// [WithExplainer], explain.json?id=, the search box's answer. Mount it under
// a prefix with [http.StripPrefix]: the page's links are relative.
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	h := w.Header()
	h.Set("X-Content-Type-Options", "nosniff")
	// The page loads nothing but its own files and status.json.
	h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'")
	switch r.URL.Path {
	case "", "/", "/index.html":
		c.serveFile(w, r, "static/index.html", "text/html; charset=utf-8")
	case "/console.js":
		c.serveFile(w, r, "static/console.js", "text/javascript; charset=utf-8")
	case "/console.css":
		c.serveFile(w, r, "static/console.css", "text/css; charset=utf-8")
	case "/explain.json":
		c.serveExplain(w, r)
	case "/status.json":
		st := c.status(r.Context(), time.Now())
		h.Set("Content-Type", "application/json")
		h.Set("Cache-Control", "no-store")
		_ = json.NewEncoder(w).Encode(st)
	default:
		http.NotFound(w, r)
	}
}

func (c *Console) serveFile(w http.ResponseWriter, r *http.Request, name, ctype string) {
	b, err := static.ReadFile(name)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", ctype)
	w.Header().Set("Cache-Control", "no-cache")
	if r.Method == http.MethodGet {
		_, _ = w.Write(b)
	}
}

// explainTimeout bounds one search of the page's search box.
const explainTimeout = 15 * time.Second

// serveExplain answers explain.json?id=: the report as JSON, or
// {"error": ...} with 400 for an id that is not a UUID, 502 when a server
// could not be read, 404 without an Explainer.
func (c *Console) serveExplain(w http.ResponseWriter, r *http.Request) {
	if c.cfg.explainer == nil {
		http.NotFound(w, r)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	id := strings.ToLower(strings.TrimSpace(r.URL.Query().Get("id")))
	fail := func(code int, msg string) {
		w.WriteHeader(code)
		_ = json.NewEncoder(w).Encode(map[string]string{"error": clip(msg, maxErrorText)})
	}
	if len(id) != 36 {
		fail(http.StatusBadRequest, "give a user id: a UUID such as 7a0eed16-9430-4d68-901f-c0d4c1c3bf00")
		return
	}
	c.explainMu.Lock()
	defer c.explainMu.Unlock()
	ctx, cancel := context.WithTimeout(r.Context(), explainTimeout)
	defer cancel()
	rep, err := c.cfg.explainer.User(ctx, id)
	var invalid *outbox.InvalidIDError
	switch {
	case errors.As(err, &invalid):
		fail(http.StatusBadRequest, "not a user id (a UUID in lower case): "+id)
		return
	case err != nil:
		fail(http.StatusBadGateway, err.Error())
		return
	}
	for i := range rep.DeadLetters.Letters {
		rep.DeadLetters.Letters[i].Error = clip(rep.DeadLetters.Letters[i].Error, maxErrorText)
	}
	_ = json.NewEncoder(w).Encode(rep)
}
