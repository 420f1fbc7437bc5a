package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/scylladb/gocqlx/v2"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/userstream/userstream/cassandrastore"
	"github.com/userstream/userstream/runledger"
)

// The status page as a person uses it, in headless Chromium, on a pipeline
// running on the real stack. Its keyspace starts replicated three times on
// a one-node Cassandra, so every write fails as unavailable: the page must
// show the consumer lag building in the table and the chart, and the store
// errors. Once the keyspace is fixed the rows flow: the page must show the
// run succeeded with the counts Cassandra holds, throughput in the chart
// and the lag back to zero. Then two poison records must appear in the
// dead-letter list with their reasons, where they came from, and no user
// data in clear. The screenshot goes to $USERSTREAM_CONSOLE_SCREENSHOT
// (make sets bin/console.png; default: the test's temporary directory).
func TestConsoleInABrowser(t *testing.T) {
	browser := chromium(t)
	const users = 20000
	cfg := testConfig(t, users)
	cfg.metricsAddr = freeAddr(t)
	cfg.pageSize = 1000
	cfg.every = time.Hour // one run, then the process (page, consumers) stays up
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	cql := cassandraSession(ctx, t, cfg)
	if err := cql.ExecStmt(`CREATE KEYSPACE ` + cfg.keyspace + ` WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 3}`); err != nil {
		t.Fatal(err)
	}

	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	var out bytes.Buffer
	done := make(chan error, 1)
	go func() { _, err := run(runCtx, cfg, quiet, &out); done <- err }()
	page := openPage(ctx, t, browser, "http://"+cfg.metricsAddr+"/", done)

	// Stalled: rows published, none stored, lag and store errors visible.
	stalled := page.waitFor("lag and store errors while Cassandra refuses writes", func(v pageView) bool {
		return v.number("total-published") > 0 && v.number("lag-total") > 0 && v.number("err-store errors") > 0 &&
			v.MaxLag > 0 && v.number("total-stored") == 0
	})
	t.Logf("stalled: published %d, lag %d, store errors %d", stalled.number("total-published"), stalled.number("lag-total"), stalled.number("err-store errors"))
	// What the alert rules read moved too.
	if m := scrapeAll(t, cfg.metricsAddr); m["userstream_store_errors_total"] <= 0 || m["userstream_consumer_lag"] <= 0 || m["userstream_last_successful_run_timestamp_seconds"] != 0 {
		t.Errorf("/metrics while stalled: store errors %v, lag %v, last success %v; want errors, lag, and no success yet",
			m["userstream_store_errors_total"], m["userstream_consumer_lag"], m["userstream_last_successful_run_timestamp_seconds"])
	}

	if err := cql.ExecStmt(`ALTER KEYSPACE ` + cfg.keyspace + ` WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}`); err != nil {
		t.Fatal(err)
	}
	flowed := page.waitFor("the run succeeded, throughput charted, lag back to zero", func(v pageView) bool {
		return v.runField("status") == "succeeded" && v.MaxRate > 0 && v.number("lag-total") == 0 &&
			v.LagLine != stalled.LagLine && v.RateLine != stalled.RateLine
	})
	stored, err := storeOf(t, cql, cfg).Count(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if stored != users || flowed.number("total-stored") != stored || flowed.runNumber("stored") != stored ||
		flowed.runNumber("fetched") != users || flowed.runNumber("published") != users {
		t.Errorf("Cassandra holds %d rows; the page shows %d stored in all, and the run %s fetched %d, published %d, stored %d",
			stored, flowed.number("total-stored"), flowed.runField("id"), flowed.runNumber("fetched"), flowed.runNumber("published"), flowed.runNumber("stored"))
	}
	if last := lastRunID(ctx, t, cfg); flowed.runField("id") != last {
		t.Errorf("the page's latest run is %q, the ledger's %q", flowed.runField("id"), last)
	}
	if flowed.text("latency-recent-p50") == "–" || flowed.text("latency-all-p99") == "–" {
		t.Errorf("no latency quantiles shown: %v", flowed.K)
	}

	// The search box: a user of the run, explained hop by hop, stored.
	id := someStagedID(ctx, t, cfg)
	if _, err := chromedp.Run(page.ctx, chromedp.SetValue("#explain-id", id)); err != nil {
		t.Fatalf("search %s: %v", id, err)
	}
	if _, err := chromedp.Run(page.ctx, chromedp.Click("#explain-form button")); err != nil {
		t.Fatalf("search %s: %v", id, err)
	}
	var explained searchBox
	page.waitUntil("the search box's answer", func() bool {
		var err error
		if explained, err = chromedp.Run(page.ctx, chromedp.Evaluate[searchBox](`({Verdict: document.getElementById('explain-out').dataset.verdict || '',
			Text: document.getElementById('explain-out').textContent, Error: document.getElementById('explain-error').textContent})`)); err != nil {
			t.Fatalf("read the search box: %v", err)
		}
		return explained.Verdict != "" || explained.Error != ""
	})
	for _, want := range []string{"stored: ", "user " + id, "published at ", "kafka: " + cfg.topic + " partition ", "key matches", "consumed true", "cassandra: ", "at the latest version: true"} {
		if !strings.Contains(explained.Text, want) {
			t.Errorf("the search box's answer lacks %q: verdict %q, error %q:\n%s", want, explained.Verdict, explained.Error, explained.Text)
		}
	}

	// Two poison records: text that is not JSON, and a row with a bad email.
	poison := producePoison(ctx, t, cfg)
	t.Logf("poison records: %+v", poison)
	withDLQ := page.waitFor("the poison records in the dead-letter list and counted", func(v pageView) bool {
		if v.number("total-dead-lettered") != int64(len(poison)) {
			return false
		}
		for _, p := range poison {
			if v.dlqField(p.origin, "reason") != p.reason {
				return false
			}
		}
		return true
	})
	for _, p := range poison {
		if e := withDLQ.dlqField(p.origin, "error"); !strings.Contains(e, p.errorHas) {
			t.Errorf("dead letter %s: error %q, want it to say %q", p.origin, e, p.errorHas)
		}
		// Never redriven: the count kafkasink/dlq read from the letter.
		if r := withDLQ.dlqField(p.origin, "redrives"); r != "0" {
			t.Errorf("dead letter %s: redrives %q, want 0", p.origin, r)
		}
		preview := withDLQ.dlqField(p.origin, "preview")
		for _, secret := range []string{"Jane", "jane", "Gateway", "555"} {
			if strings.Contains(preview, secret) {
				t.Errorf("dead letter %s: preview %q shows %q", p.origin, preview, secret)
			}
		}
	}
	m := scrapeAll(t, cfg.metricsAddr)
	for name, want := range map[string]float64{"userstream_users_published_total": users, "userstream_rows_stored_total": float64(stored),
		"userstream_records_dead_lettered_total": float64(len(poison)), "userstream_consumer_lag": 0} {
		if m[name] != want {
			t.Errorf("/metrics: %s %v, want %v", name, m[name], want)
		}
	}
	if m["userstream_last_successful_run_timestamp_seconds"] <= 0 {
		t.Error("/metrics: no last successful run after the run succeeded")
	}
	page.screenshot()

	stop()
	if err := <-done; err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
}

// chromium returns the path of Chromium: Debian's chromium package, which
// `make browser-deps` installs when it is missing.
func chromium(t *testing.T) string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	msg := "no chromium on the PATH: `make browser-deps` installs Debian's chromium"
	if os.Getenv("USERSTREAM_REQUIRE_INTEGRATION") == "1" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// page is the console open in a headless browser.
type page struct {
	t    *testing.T
	ctx  context.Context // the browser tab's
	done <-chan error    // the pipeline's end: waiting stops if it fails
}

func openPage(ctx context.Context, t *testing.T, browser, url string, done <-chan error) *page {
	t.Helper()
	alloc, cancelAlloc := chromedp.NewExecAllocator(ctx, append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(browser), chromedp.NoSandbox, chromedp.Flag("disable-dev-shm-usage", true), chromedp.WindowSize(1280, 1180))...)
	t.Cleanup(cancelAlloc)
	tab, cancelTab := chromedp.NewContext(alloc)
	t.Cleanup(cancelTab)
	p := &page{t: t, ctx: tab, done: done}
	// The page is served once the pipeline has opened its servers.
	p.waitUntil("the page served", func() bool { return httpStatus(url) == 200 })
	if _, err := chromedp.Run(tab, chromedp.Navigate(url)); err != nil {
		t.Fatalf("open %s: %v", url, err)
	}
	return p
}

// pageView is what the page shows: each value marked data-k, by key, and
// the chart's lines and their maxima.
type pageView struct {
	K                 map[string]string `json:"k"`
	Polls             int               `json:"polls"`
	MaxRate, MaxLag   float64
	RateLine, LagLine string
}

const readPage = `(() => {
	const k = {};
	document.querySelectorAll('[data-k]').forEach(e => k[e.dataset.k] = e.textContent);
	const c = document.getElementById('chart').dataset;
	return {k, polls: +(document.body.dataset.polls || 0), MaxRate: +(c.maxRate || 0), MaxLag: +(c.maxLag || 0),
		RateLine: document.getElementById('line-rate').getAttribute('points'),
		LagLine: document.getElementById('line-lag').getAttribute('points')};
})()`

// waitFor reads the page until cond holds: no fixed sleeps, and a
// generous bound (the test's context) for a shared machine.
func (p *page) waitFor(what string, cond func(pageView) bool) pageView {
	p.t.Helper()
	var v pageView
	defer func() {
		if p.t.Failed() {
			p.t.Logf("the page showed, last: %+v", v)
		}
	}()
	p.waitUntil(what, func() bool {
		var err error
		if v, err = chromedp.Run(p.ctx, chromedp.Evaluate[pageView](readPage)); err != nil {
			p.t.Fatalf("read the page: %v", err)
		}
		return v.Polls > 0 && cond(v)
	})
	return v
}

func (p *page) waitUntil(what string, cond func() bool) {
	p.t.Helper()
	for !cond() {
		select {
		case <-p.ctx.Done():
			p.screenshot()
			p.t.Fatalf("waiting for %s: %v", what, p.ctx.Err())
		case err := <-p.done:
			p.t.Fatalf("waiting for %s: the pipeline ended: %v", what, err)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// screenshot saves the page as a PNG and logs where.
func (p *page) screenshot() {
	path := os.Getenv("USERSTREAM_CONSOLE_SCREENSHOT")
	if path == "" {
		path = filepath.Join(p.t.TempDir(), "console.png")
	}
	ctx, cancel := context.WithTimeout(p.ctx, 30*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		p.t.Logf("screenshot: %v", err)
		return
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		p.t.Errorf("screenshot: %v", err)
		return
	}
	if err := os.WriteFile(path, png, 0o644); err != nil {
		p.t.Errorf("screenshot: %v", err)
		return
	}
	p.t.Logf("screenshot of the console: %s (%d bytes)", path, len(png))
}

func (v pageView) text(k string) string { return v.K[k] }

var digits = regexp.MustCompile(`-?[\d,]+`)

// number is the first number in the text of k, -1 when there is none.
func (v pageView) number(k string) int64 {
	m := digits.FindString(v.K[k])
	if m == "" {
		return -1
	}
	n, err := strconv.ParseInt(strings.ReplaceAll(m, ",", ""), 10, 64)
	if err != nil {
		return -1
	}
	return n
}

// runField is a field of the newest run shown (the runs table's first row).
func (v pageView) runField(f string) string {
	for k, val := range v.K {
		if strings.HasPrefix(k, "run-") && strings.HasSuffix(k, "-id") {
			if id := strings.TrimSuffix(strings.TrimPrefix(k, "run-"), "-id"); id == val {
				if f == "id" {
					return id
				}
				return v.K["run-"+id+"-"+f]
			}
		}
	}
	return ""
}

func (v pageView) runNumber(f string) int64 {
	id := v.runField("id")
	return pageView{K: map[string]string{"x": v.K["run-"+id+"-"+f]}}.number("x")
}

// dlqField is a field of the dead letter that came from origin
// (topic/partition@offset), "" when the list lacks it.
func (v pageView) dlqField(origin, f string) string {
	for k, val := range v.K {
		if strings.HasSuffix(k, "-origin") && val == origin {
			return v.K[strings.TrimSuffix(k, "-origin")+"-"+f]
		}
	}
	return ""
}

type poisonRecord struct{ origin, reason, errorHas string }

// producePoison writes records the consumers dead-letter and returns where
// they landed and the reason each must be listed with.
func producePoison(ctx context.Context, t *testing.T, cfg config) []poisonRecord {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(cfg.brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	badEmail := `{"id":"0b7e2a3c-1111-4222-8333-9aaaa0000666","first_name":"Jane","last_name":"Doe","gender":"female",` +
		`"address":"1 Main St","post_code":"12345","email":"jane.doe-at-example.com","username":"janed","dob":"1990-01-01T00:00:00Z",` +
		`"registered_date":"2010-01-01T00:00:00Z","phone":"555-1234","picture":"https://example.com/p.jpg"}`
	recs := []*kgo.Record{
		{Topic: cfg.topic, Key: []byte("poison-html"), Value: []byte("<html>502 Bad Gateway</html>")},
		{Topic: cfg.topic, Key: []byte("poison-email"), Value: []byte(badEmail)},
	}
	res := cl.ProduceSync(ctx, recs...)
	if err := res.FirstErr(); err != nil {
		t.Fatal(err)
	}
	// ProduceSync's results come in the order the partitions answered.
	origin := map[string]string{}
	for _, r := range res {
		origin[string(r.Record.Key)] = fmt.Sprintf("%s/%d@%d", r.Record.Topic, r.Record.Partition, r.Record.Offset)
	}
	return []poisonRecord{
		{origin: origin["poison-html"], reason: "decode", errorHas: "malformed JSON"},
		{origin: origin["poison-email"], reason: "validate", errorHas: "email"},
	}
}

func cassandraSession(ctx context.Context, t *testing.T, cfg config) gocqlx.Session {
	t.Helper()
	s, err := cassandrastore.NewSession(ctx, cfg.cassandraHosts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

func storeOf(t *testing.T, s gocqlx.Session, cfg config) *cassandrastore.Store {
	t.Helper()
	store, err := cassandrastore.New(s, cassandrastore.WithKeyspace(cfg.keyspace), cassandrastore.WithTable(cfg.table))
	if err != nil {
		t.Fatal(err)
	}
	return store
}

func lastRunID(ctx context.Context, t *testing.T, cfg config) string {
	t.Helper()
	pool, err := pgxpool.New(ctx, cfg.postgresDSN)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	l, err := runledger.New(pool, runledger.WithSchema(cfg.pgSchema))
	if err != nil {
		t.Fatal(err)
	}
	runs, err := l.Recent(ctx, 1)
	if err != nil || len(runs) != 1 {
		t.Fatalf("ledger: %v, %d runs", err, len(runs))
	}
	return runs[0].RunID
}

// searchBox is what the page's search box shows.
type searchBox struct{ Verdict, Text, Error string }

// someStagedID returns the id of a user the outbox staged.
func someStagedID(ctx context.Context, t *testing.T, cfg config) string {
	t.Helper()
	pool, err := pgxpool.New(ctx, cfg.postgresDSN)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	var id string
	if err := pool.QueryRow(ctx, "SELECT id::text FROM "+pgx.Identifier{cfg.pgSchema, "outbox"}.Sanitize()+" ORDER BY seq LIMIT 1").Scan(&id); err != nil {
		t.Fatal(err)
	}
	return id
}

func httpStatus(url string) int {
	resp, err := http.Get(url)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// scrapeAll returns addr's /metrics by name, each labelled metric summed
// under its bare name.
func scrapeAll(t *testing.T, addr string) map[string]float64 {
	out := map[string]float64{}
	for _, line := range strings.Split(get(t, "http://"+addr+"/metrics"), "\n") {
		name, value, ok := strings.Cut(line, " ")
		if !ok || strings.HasPrefix(line, "#") {
			continue
		}
		name, _, _ = strings.Cut(name, "{")
		if f, err := strconv.ParseFloat(value, 64); err == nil {
			out[name] += f
		}
	}
	return out
}
