package randomusertest

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Opt configures a [Handler] or [Server].
type Opt interface{ apply(*config) }

type optFunc func(*config)

func (f optFunc) apply(c *config) { f(c) }

type config struct {
	latency    time.Duration
	faults     []randomFault
	faultSeed  uint64
	rateUsers  int
	rateWindow time.Duration
	ageRef     time.Time
	gzip       bool
	logger     *slog.Logger
	now        func() time.Time
	share      float64
	day        int
}

type randomFault struct {
	rate float64
	f    Fault
}

// DefaultAgeReference is the date ages are computed against unless
// [WithAgeReference] says otherwise. The real API uses the date of the
// request, so its ages grow over time; a fixed date keeps the output
// byte-identical forever, so golden files and examples never go stale.
var DefaultAgeReference = time.Date(2026, time.January, 1, 0, 0, 0, 0, time.UTC)

// WithLatency delays every response by d, overriding the default of no
// delay. The delay ends early if the client goes away.
func WithLatency(d time.Duration) Opt { return optFunc(func(c *config) { c.latency = d }) }

// WithFaultRate makes each request suffer f with probability rate (0-1),
// overriding the default of no random faults. It can be given several
// times; the rates add up and must not exceed 1. Faults queued with
// [Handler.Inject] come first.
func WithFaultRate(rate float64, f Fault) Opt {
	return optFunc(func(c *config) { c.faults = append(c.faults, randomFault{rate, f}) })
}

// WithFaultSeed seeds the choice of random faults, overriding the default
// seed 1. With a single client the faults then hit the same requests in
// every run.
func WithFaultSeed(seed uint64) Opt { return optFunc(func(c *config) { c.faultSeed = seed }) }

// WithRateLimit emulates the public API's limit, overriding the default of
// no limit: once a client IP has asked for users users within the current
// window, further requests get 429 with the API's "Whoa, ease up there
// cowboy" body, until all counters are cleared at the end of the window.
// Unlike the real API, the 429 carries a Retry-After header with the time
// left in the window. The public values are 20,000 users per 5 minutes.
func WithRateLimit(users int, window time.Duration) Opt {
	return optFunc(func(c *config) { c.rateUsers, c.rateWindow = users, window })
}

// WithAgeReference sets the date dob.age and registered.age are computed
// against, overriding the default [DefaultAgeReference].
func WithAgeReference(t time.Time) Opt { return optFunc(func(c *config) { c.ageRef = t }) }

// WithGzip compresses responses for clients that accept gzip, as the real
// API does, overriding the default of sending them uncompressed (which is
// faster on loopback).
func WithGzip() Opt { return optFunc(func(c *config) { c.gzip = true }) }

// WithLogger logs each request at Debug and each fault at Info, overriding
// the default of discarding logs.
func WithLogger(l *slog.Logger) Opt { return optFunc(func(c *config) { c.logger = l }) }

// WithChangeShare makes users change over the days (see [WithDay] and
// [Handler.SetDay]), overriding the default 0 (users never change): on each
// day from 1 on, each user changes with probability share (0-1), decided
// independently per day by a hash of its seed, page, index and the day, so
// the same seed changes the same users on every run. A changed user keeps
// its identity (login, name, gender, dob, registered, nat, id) and gets a
// new email, phone, cell, location and picture. The real API has no such
// feature; it gives tests and demos updates to carry.
func WithChangeShare(share float64) Opt { return optFunc(func(c *config) { c.share = share }) }

// WithDay sets the day the handler serves first, overriding the default 0,
// the first day, on which every user is as it would be without
// [WithChangeShare]. Change it later with [Handler.SetDay].
func WithDay(day int) Opt { return optFunc(func(c *config) { c.day = day }) }

// Fault is a failure the server can inject into a response. Build one with
// [Status], [ErrorBody], [TooManyRequests], [Unavailable], [Truncate],
// [EmptyResults], [Malformed] or [Delay]; the zero Fault means none.
type Fault struct {
	kind       faultKind
	status     int
	retryAfter time.Duration
	frac       float64
	delay      time.Duration
}

type faultKind uint8

const (
	faultNone faultKind = iota
	faultStatus
	faultErrorBody
	faultTooMany
	faultUnavailable
	faultTruncate
	faultEmpty
	faultMalformed
	faultDelay
)

// Status answers with the status code and a non-JSON body, as the
// infrastructure in front of the API does: Express's plain "Internal Server
// Error" for 500, an nginx HTML page for 502, 503 and 504.
func Status(code int) Fault { return Fault{kind: faultStatus, status: code} }

// ErrorBody answers with the status code and the API's documented error
// body, {"error": "Uh oh, something has gone wrong. …"}. The API does not
// document the status that comes with it; 200 is a plausible worst case.
func ErrorBody(code int) Fault { return Fault{kind: faultErrorBody, status: code} }

// TooManyRequests answers 429 with the API's rate-limit message and, if
// retryAfter > 0, a Retry-After header in whole seconds (rounded up).
func TooManyRequests(retryAfter time.Duration) Fault {
	return Fault{kind: faultTooMany, status: http.StatusTooManyRequests, retryAfter: retryAfter}
}

// Unavailable answers 503 with an HTML body and, if retryAfter > 0, a
// Retry-After header.
func Unavailable(retryAfter time.Duration) Fault {
	return Fault{kind: faultUnavailable, status: http.StatusServiceUnavailable, retryAfter: retryAfter}
}

// Truncate sends the normal response but cuts the body after the given
// fraction (0-1) of its bytes and closes the connection. The
// Content-Length announces the whole body, so clients see an unexpected
// EOF, as with a connection dropped mid-transfer.
func Truncate(fraction float64) Fault { return Fault{kind: faultTruncate, frac: fraction} }

// EmptyResults answers 200 with the body every request got during the
// 2026 outage: an empty results array while info.results says 1.
func EmptyResults() Fault { return Fault{kind: faultEmpty} }

// Malformed answers 200 with an HTML page instead of JSON, as a captive
// portal or misconfigured proxy would.
func Malformed() Fault { return Fault{kind: faultMalformed} }

// Delay answers normally after d, on top of [WithLatency]; use it to make a
// single request time out.
func Delay(d time.Duration) Fault { return Fault{kind: faultDelay, delay: d} }

// String describes the fault, for logs and test names.
func (f Fault) String() string {
	switch f.kind {
	case faultStatus:
		return "status " + strconv.Itoa(f.status)
	case faultErrorBody:
		return "error body with status " + strconv.Itoa(f.status)
	case faultTooMany:
		return "429 retry after " + f.retryAfter.String()
	case faultUnavailable:
		return "503 retry after " + f.retryAfter.String()
	case faultTruncate:
		return "truncate at " + strconv.FormatFloat(f.frac*100, 'g', 3, 64) + "%"
	case faultEmpty:
		return "empty results"
	case faultMalformed:
		return "malformed body"
	case faultDelay:
		return "delay " + f.delay.String()
	}
	return "none"
}

func (f Fault) validate() error {
	switch f.kind {
	case faultStatus, faultErrorBody:
		if f.status < 100 || f.status > 999 {
			return fmt.Errorf("fault %v: invalid status", f)
		}
	case faultTruncate:
		if f.frac < 0 || f.frac >= 1 || math.IsNaN(f.frac) {
			return fmt.Errorf("fault %v: fraction must be in [0, 1)", f)
		}
	case faultTooMany, faultUnavailable:
		if f.retryAfter < 0 {
			return fmt.Errorf("fault %v: negative Retry-After", f)
		}
	case faultDelay:
		if f.delay < 0 {
			return fmt.Errorf("fault %v: negative delay", f)
		}
	}
	return nil
}

// Stats counts what a Handler did.
type Stats struct {
	Requests    int64 // requests to API paths
	Users       int64 // users generated (including in truncated bodies)
	Faults      int64 // requests that got a fault, injected or random
	RateLimited int64 // requests refused by WithRateLimit
}

// Handler is an http.Handler that answers like the Random User API 1.4 on
// /api, /api/, /api/1.4 and /api/1.4/ (other paths get 404 "Not Found", as
// unknown versions do). It is safe for concurrent use.
type Handler struct {
	cfg config
	ref civil

	mu      sync.Mutex
	queue   []Fault
	frng    rng
	counts  map[string]int
	winEnd  time.Time
	stats   [4]atomic.Int64
	bufPool sync.Pool

	day     atomic.Int64
	changeT uint64 // a day's hash below this changes the user; 0: never
}

// NewHandler returns a Handler. It applies the defaults, then opts, then
// validates them.
func NewHandler(opts ...Opt) (*Handler, error) {
	cfg := config{faultSeed: 1, ageRef: DefaultAgeReference, now: time.Now}
	for _, o := range opts {
		if o != nil {
			o.apply(&cfg)
		}
	}
	if cfg.latency < 0 {
		return nil, fmt.Errorf("randomusertest: negative latency %v", cfg.latency)
	}
	total := 0.0
	for _, f := range cfg.faults {
		if f.rate < 0 || f.rate > 1 || math.IsNaN(f.rate) {
			return nil, fmt.Errorf("randomusertest: fault rate %v is not within 0-1", f.rate)
		}
		if err := f.f.validate(); err != nil {
			return nil, fmt.Errorf("randomusertest: %w", err)
		}
		total += f.rate
	}
	if total > 1+1e-9 {
		return nil, fmt.Errorf("randomusertest: fault rates add up to %v, more than 1", total)
	}
	if cfg.rateUsers < 0 || cfg.rateWindow < 0 || (cfg.rateUsers > 0) != (cfg.rateWindow > 0) {
		return nil, fmt.Errorf("randomusertest: rate limit %d users per %v: want both positive or both zero", cfg.rateUsers, cfg.rateWindow)
	}
	if cfg.share < 0 || cfg.share > 1 || math.IsNaN(cfg.share) {
		return nil, fmt.Errorf("randomusertest: change share %v is not within 0-1", cfg.share)
	}
	if cfg.day < 0 {
		return nil, fmt.Errorf("randomusertest: negative day %d", cfg.day)
	}
	if cfg.logger == nil {
		cfg.logger = slog.New(slog.DiscardHandler)
	}
	h := &Handler{cfg: cfg, ref: toCivil(cfg.ageRef.UnixMilli()), frng: rng{s: cfg.faultSeed}, counts: map[string]int{}}
	h.changeT = changeThreshold(cfg.share)
	h.day.Store(int64(cfg.day))
	return h, nil
}

// Inject queues faults for the next requests, one per request in order;
// a zero Fault lets a request through. Requests after the queue is empty
// are answered normally (or hit by WithFaultRate). An invalid fault (a
// status outside 100-999, a fraction outside [0, 1)) is sent as a 500.
func (h *Handler) Inject(faults ...Fault) {
	h.mu.Lock()
	h.queue = append(h.queue, faults...)
	h.mu.Unlock()
}

// SetDay makes the handler serve day from the next request on (a request
// already being served keeps the day it started with). It is safe to call
// while the handler serves, so one server can serve several days in a test.
// SetDay panics if day is negative.
func (h *Handler) SetDay(day int) {
	if day < 0 {
		panic("randomusertest: SetDay with a negative day")
	}
	h.day.Store(int64(day))
}

// Day returns the day the handler serves; see [WithDay] and [Handler.SetDay].
func (h *Handler) Day() int { return int(h.day.Load()) }

// Revision returns how many times user number index (counting from 0) of
// page of seed has changed by day: the number of days 1 to day on which it
// changed (see [WithChangeShare]). Revision 0 is the user as served on day
// 0. seed and page are the query's values; an 18-character seed counts by
// its first 16 characters, as in the API, and a page outside 1-10000 counts
// as 1. Fractional pages are not covered. The users of a query with the
// same seed and page but other parameters (nat, gender, password, inc, exc)
// change on the same days.
func (h *Handler) Revision(seed string, page, index, day int) int {
	return revision(queryUserKey(seed, page, index), day, h.changeT)
}

// Changed reports whether the user of [Handler.Revision] changed on day
// itself, so that a request on day returns other values for it than a
// request on day-1. It is false on day 0.
func (h *Handler) Changed(seed string, page, index, day int) bool {
	return day >= 1 && changedOn(queryUserKey(seed, page, index), day, h.changeT)
}

// Stats returns the counters.
func (h *Handler) Stats() Stats {
	return Stats{h.stats[0].Load(), h.stats[1].Load(), h.stats[2].Load(), h.stats[3].Load()}
}

func (h *Handler) nextFault() Fault {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.queue) > 0 {
		f := h.queue[0]
		h.queue = h.queue[1:]
		return f
	}
	if len(h.cfg.faults) == 0 {
		return Fault{}
	}
	x := float64(h.frng.next()>>11) / (1 << 53)
	for _, rf := range h.cfg.faults {
		if x < rf.rate {
			return rf.f
		}
		x -= rf.rate
	}
	return Fault{}
}

func isAPIPath(p string) bool {
	switch p {
	case "/api", "/api/", "/api/1.4", "/api/1.4/":
		return true
	}
	return false
}

// The API's messages.
const (
	msgUhOh    = "Uh oh, something has gone wrong. Please tweet us @randomapi about the issue. Thank you."
	outageBody = `{"results":[],"info":{"seed":"d3adb33f","results":1,"page":1,"version":"1.4"}}`
)

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !isAPIPath(r.URL.Path) {
		plain(w, http.StatusNotFound, "Not Found")
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		plain(w, http.StatusMethodNotAllowed, "Method Not Allowed")
		return
	}
	h.stats[0].Add(1)
	log := h.cfg.logger
	hdr := w.Header()
	hdr.Set("Access-Control-Allow-Origin", "*")
	hdr.Set("Cache-Control", "no-cache")

	f := h.nextFault()
	if f.kind != faultNone {
		h.stats[2].Add(1)
		log.InfoContext(r.Context(), "randomusertest: injecting fault", "fault", f.String(), "url", r.URL.String())
	}
	if err := f.validate(); err != nil {
		plain(w, http.StatusInternalServerError, err.Error())
		return
	}
	if d := h.cfg.latency + f.delay; d > 0 {
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return
		}
	}
	switch f.kind {
	case faultStatus:
		errorPage(w, f.status)
		return
	case faultErrorBody:
		jsonError(w, f.status, msgUhOh)
		return
	case faultTooMany:
		setRetryAfter(hdr, f.retryAfter)
		jsonError(w, f.status, "Whoa, ease up there cowboy. You've requested 20000 users in the last minute. Help us keep this service free and spare some bandwidth for other users please :)")
		return
	case faultUnavailable:
		setRetryAfter(hdr, f.retryAfter)
		errorPage(w, f.status)
		return
	case faultEmpty:
		hdr.Set("Content-Type", "application/json; charset=utf-8")
		_, _ = w.Write([]byte(outageBody))
		return
	case faultMalformed:
		hdr.Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write([]byte("<!DOCTYPE html>\n<html><head><title>Network login</title></head><body><p>Please log in to continue.</p></body></html>\n"))
		return
	}

	req, err := h.parse(r.URL.Query())
	if err != nil {
		// The real API never answers these; see parse.
		plain(w, http.StatusInternalServerError, "Internal Server Error")
		return
	}
	if req.format == "yaml" || req.format == "xml" {
		plain(w, http.StatusNotImplemented, "randomusertest: format "+req.format+" is not emulated; use json or csv")
		return
	}
	if h.cfg.rateUsers > 0 {
		if wait, n, ok := h.admit(clientIP(r), req.gen.results); !ok {
			h.stats[3].Add(1)
			setRetryAfter(hdr, wait)
			jsonError(w, http.StatusTooManyRequests, fmt.Sprintf("Whoa, ease up there cowboy. You've requested %d users in the last minute. Help us keep this service free and spare some bandwidth for other users please :)", n))
			return
		}
	}
	h.stats[1].Add(int64(req.gen.results))

	bp := h.getBuf()
	defer h.bufPool.Put(bp)
	body := h.render((*bp)[:0], &req)
	*bp = body[:0] // keep the grown buffer for the next request
	hdr.Set("Content-Type", req.contentType())
	if req.download {
		hdr.Set("Content-Type", "application/octet-stream")
		ext := req.format
		if ext == "pretty" {
			ext = "json"
		}
		hdr.Set("Content-Disposition", "attachment; filename=download."+ext)
	}
	if h.cfg.gzip && strings.Contains(r.Header.Get("Accept-Encoding"), "gzip") {
		var zb bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&zb, gzip.BestSpeed)
		_, _ = zw.Write(body)
		_ = zw.Close()
		body = zb.Bytes()
		hdr.Set("Content-Encoding", "gzip")
		hdr.Add("Vary", "Accept-Encoding")
	}
	hdr.Set("Content-Length", strconv.Itoa(len(body)))
	if f.kind == faultTruncate {
		// Writing less than Content-Length makes net/http close the
		// connection after the handler returns: the client sees a body
		// that ends early, like a dropped transfer.
		body = body[:int(float64(len(body))*f.frac)]
	}
	if r.Method == http.MethodHead {
		return
	}
	if _, err := w.Write(body); err != nil {
		log.DebugContext(r.Context(), "randomusertest: write failed", "error", err)
		return
	}
	log.DebugContext(r.Context(), "randomusertest: served", "url", r.URL.String(), "users", req.gen.results, "bytes", len(body))
}

func (h *Handler) getBuf() *[]byte {
	if bp, ok := h.bufPool.Get().(*[]byte); ok {
		return bp
	}
	b := make([]byte, 0, 64<<10)
	return &b
}

// admit applies the emulated rate limit: refuse once the IP's count has
// reached the limit, else count the request's users. All counters are
// cleared when the window ends, as in the API.
func (h *Handler) admit(ip string, users int) (wait time.Duration, count int, ok bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	now := h.cfg.now()
	if !now.Before(h.winEnd) {
		clear(h.counts)
		h.winEnd = now.Add(h.cfg.rateWindow)
	}
	if c := h.counts[ip]; c >= h.cfg.rateUsers {
		return h.winEnd.Sub(now), c, false
	}
	h.counts[ip] += users
	return 0, 0, true
}

// clientIP picks the client address as the API does.
func clientIP(r *http.Request) string {
	for _, k := range []string{"Cf-Connecting-Ip", "X-Real-Ip", "X-Forwarded-For"} {
		if v := r.Header.Get(k); v != "" {
			v, _, _ = strings.Cut(v, ",")
			return strings.TrimSpace(v)
		}
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func setRetryAfter(h http.Header, d time.Duration) {
	if d > 0 {
		h.Set("Retry-After", strconv.FormatInt(int64(math.Ceil(d.Seconds())), 10))
	}
}

func plain(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	_, _ = fmt.Fprint(w, msg)
}

func jsonError(w http.ResponseWriter, code int, msg string) {
	b, _ := json.Marshal(map[string]string{"error": msg})
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(code)
	_, _ = w.Write(b)
}

// errorPage writes the kind of body a proxy sends: nginx's HTML for 502,
// 503 and 504, the app's plain status text otherwise.
func errorPage(w http.ResponseWriter, code int) {
	text := http.StatusText(code)
	if text == "" {
		text = "Status " + strconv.Itoa(code)
	}
	switch code {
	case http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(code)
		_, _ = fmt.Fprintf(w, "<html>\r\n<head><title>%d %s</title></head>\r\n<body>\r\n<center><h1>%d %s</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n", code, text, code, text)
	default:
		plain(w, code, text)
	}
}

// request is a parsed query.
type request struct {
	gen      genParams
	format   string // json, pretty, csv, yaml, xml
	noinfo   bool
	callback string
	download bool
	lego     bool
}

func (r *request) contentType() string {
	switch r.format {
	case "csv":
		return "text/csv; charset=utf-8"
	case "yaml":
		return "text/x-yaml; charset=utf-8"
	case "xml":
		return "text/xml; charset=utf-8"
	}
	return "application/json; charset=utf-8"
}

var errBadSeed = errors.New("18-character seed without a valid nat index")

// parse normalizes parameters the way the API does: invalid values become
// defaults rather than errors. The exception is an 18-character seed whose
// last two characters are not a nat index: the API hangs without
// answering, and parse returns an error so the handler can answer 500.
func (h *Handler) parse(q url.Values) (request, error) {
	get := func(keys ...string) (string, bool) {
		for _, k := range keys {
			if vs, ok := q[k]; ok && len(vs) > 0 {
				return vs[len(vs)-1], true // the last value wins
			}
		}
		return "", false
	}
	var req request
	g := &req.gen
	g.ref = h.ref

	g.results = 1
	if v, ok := get("results"); ok {
		if n, err := strconv.Atoi(v); err == nil && n >= 1 && n <= 5000 {
			g.results = n
		}
	}

	page := 1.0
	if v, ok := get("page"); ok {
		if f, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil && !math.IsNaN(f) && f != 0 {
			page = f
		}
		if page < 0 || page > 10000 {
			page = 1
		}
	}
	g.pageStr = formatPage(page)
	g.pageInt = int(page)

	seed, _ := get("seed")
	userSeed := seed != ""
	if seed == "" {
		const hexChars = "0123456789abcdef"
		var b [16]byte
		for i := range b {
			b[i] = hexChars[rand.IntN(16)]
		}
		seed = string(b[:])
	}
	g.seed, req.gen.infoSeed = seed, seed

	if v, ok := get("lego"); ok && v != "false" {
		req.lego = true
	}
	switch {
	case req.lego:
		g.nats = []*nat{lego}
		req.gen.infoSeed += "-1"
	case len(seed) == 18:
		i, err := strconv.ParseUint(seed[16:], 16, 8)
		if err != nil || int(i) >= len(nats) {
			return req, errBadSeed
		}
		g.nats = []*nat{nats[i]}
		g.seed = seed[:16]
		req.gen.infoSeed = seed + seed[16:]
	default:
		g.nats = nats
		if v, ok := get("nat", "nationality"); ok && v != "" {
			var list []*nat
			for _, c := range strings.Split(v, ",") {
				n, ok := natByCode[strings.ToUpper(strings.TrimSpace(c))]
				if !ok {
					list = nil // one invalid code means all of them
					break
				}
				list = append(list, n)
			}
			if list != nil {
				g.nats = list
			}
		}
	}

	if v, _ := get("gender"); !userSeed && (v == "male" || v == "female") {
		g.gender = v // the API ignores gender whenever a seed is given
	}

	g.fields = fAll
	if v, ok := get("inc"); ok {
		g.fields = fieldMask(v)
	}
	if v, ok := get("exc"); ok {
		g.fields &^= fieldMask(v)
	}
	pw, _ := get("password")
	g.pass = parsePassword(pw)

	g.key = fnv64(g.seed)
	if float64(g.pageInt) != page {
		g.key ^= mix64(fnv64(g.pageStr))
	}
	if h.changeT != 0 {
		g.day, g.changeT = int(h.day.Load()), h.changeT
	}

	req.format = "json"
	if v, ok := get("format", "fmt"); ok {
		switch v = strings.ToLower(v); v {
		case "pretty", "prettyjson":
			req.format = "pretty"
		case "csv", "yaml", "xml":
			req.format = v
		}
	}
	_, req.noinfo = get("noinfo")
	req.callback, _ = get("callback")
	_, req.download = get("dl", "download")
	return req, nil
}

func fieldMask(list string) uint16 {
	var m uint16
	for _, f := range strings.Split(strings.ToLower(list), ",") {
		m |= fieldBits[strings.TrimSpace(f)]
	}
	return m
}

// parallelMin is the page size from which users are generated on several
// cores; below it the goroutines cost more than they save.
const parallelMin = 1000

// render appends the response body to dst.
func (h *Handler) render(dst []byte, req *request) []byte {
	g := &req.gen
	switch req.format {
	case "csv":
		dst = appendCSVHeader(dst, g.fields, req.lego)
		var u user
		var scratch []byte
		for i := range g.results {
			dst = append(dst, '\n')
			g.generate(i, &u)
			dst, scratch = appendUserCSV(dst, &u, g.fields, scratch)
		}
		return dst
	}
	if req.callback != "" {
		dst = append(dst, req.callback...)
		dst = append(dst, '(')
	}
	jsonStart := len(dst)
	dst = append(dst, `{"results":[`...)
	dst = h.appendUsers(dst, g)
	dst = append(dst, ']')
	if !req.noinfo {
		seed, _ := json.Marshal(g.infoSeed)
		dst = append(dst, `,"info":{"seed":`...)
		dst = append(dst, seed...)
		dst = append(dst, `,"results":`...)
		dst = strconv.AppendInt(dst, int64(g.results), 10)
		dst = append(dst, `,"page":`...)
		dst = append(dst, g.pageStr...)
		dst = append(dst, `,"version":"1.4"}`...)
	}
	dst = append(dst, '}')
	if req.format == "pretty" {
		var out bytes.Buffer
		_ = json.Indent(&out, dst[jsonStart:], "", "  ")
		dst = append(dst[:jsonStart], out.Bytes()...)
	}
	if req.callback != "" {
		dst = append(dst, ");"...)
	}
	return dst
}

// appendUsers writes the users separated by commas. Large pages are split
// into chunks generated on several cores; every user has its own random
// stream, so the bytes are the same either way.
func (h *Handler) appendUsers(dst []byte, g *genParams) []byte {
	workers := min(runtime.GOMAXPROCS(0), g.results/(parallelMin/4))
	if g.results < parallelMin || workers < 2 {
		var u user
		for i := range g.results {
			if i > 0 {
				dst = append(dst, ',')
			}
			g.generate(i, &u)
			dst = appendUserJSON(dst, &u, g.fields)
		}
		return dst
	}
	parts := make([]*[]byte, workers)
	var wg sync.WaitGroup
	for w := range workers {
		lo, hi := g.results*w/workers, g.results*(w+1)/workers
		bp := h.getBuf()
		parts[w] = bp
		wg.Go(func() {
			b := (*bp)[:0]
			var u user
			for i := lo; i < hi; i++ {
				if i > 0 {
					b = append(b, ',')
				}
				g.generate(i, &u)
				b = appendUserJSON(b, &u, g.fields)
			}
			*bp = b
		})
	}
	wg.Wait()
	for _, bp := range parts {
		dst = append(dst, *bp...)
		*bp = (*bp)[:0]
		h.bufPool.Put(bp)
	}
	return dst
}

// Server is a [Handler] running on an [httptest.Server] on a loopback
// port. Close it when done.
type Server struct {
	*httptest.Server
	handler *Handler
}

// NewServer starts a Server; the options are those of [NewHandler].
func NewServer(opts ...Opt) (*Server, error) {
	h, err := NewHandler(opts...)
	if err != nil {
		return nil, err
	}
	return &Server{Server: httptest.NewServer(h), handler: h}, nil
}

// BaseURL returns the API's base URL on this server, ending in "/api/",
// for randomuser.WithBaseURL.
func (s *Server) BaseURL() string { return s.URL + "/api/" }

// Handler returns the server's Handler.
func (s *Server) Handler() *Handler { return s.handler }

// Inject queues faults for the next requests; see [Handler.Inject].
func (s *Server) Inject(faults ...Fault) { s.handler.Inject(faults...) }

// Stats returns the server's counters; see [Handler.Stats].
func (s *Server) Stats() Stats { return s.handler.Stats() }
