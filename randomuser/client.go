package randomuser

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/hashicorp/go-retryablehttp"

	"github.com/userstream/userstream/internal/backoff"
)

// Client talks to the Random User API (or a compatible server such as
// randomusertest). Build it with [New]. It is safe for concurrent use, holds
// no goroutines and needs no Close; idle connections belong to its HTTP
// client.
type Client struct {
	cfg      config
	endpoint string
	rc       *retryablehttp.Client
	limiter  *bucket // nil without WithRateLimit
	log      *slog.Logger
	metrics  *metrics // nil without WithMetrics
}

// New returns a Client. It applies the defaults, then opts, then validates
// the result; it does no I/O (see [Client.Ping]).
func New(opts ...Opt) (*Client, error) {
	cfg := defaults()
	for _, o := range opts {
		if o != nil {
			o.apply(&cfg)
		}
	}
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("randomuser: %w", err)
	}
	hc := cfg.httpClient
	switch {
	case hc == nil:
		var rt http.RoundTripper = http.DefaultTransport
		if t, ok := http.DefaultTransport.(*http.Transport); ok {
			t = t.Clone()
			// The pager and concurrent callers hit one host; keep enough
			// idle connections to reuse them all.
			t.MaxIdleConnsPerHost = 32
			rt = t
		}
		hc = &http.Client{Transport: rt, Timeout: cfg.timeout}
	case cfg.timeoutSet:
		cp := *hc
		cp.Timeout = cfg.timeout
		hc = &cp
	}
	c := &Client{cfg: cfg, endpoint: cfg.endpoint(), log: cfg.logger}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	if cfg.registerer != nil {
		m, err := newMetrics(cfg.registerer)
		if err != nil {
			return nil, err
		}
		c.metrics = m
	}
	if cfg.rateUsers > 0 {
		c.limiter = newBucket(cfg.rateUsers, cfg.ratePer)
	}
	c.rc = &retryablehttp.Client{
		HTTPClient:     hc,
		RetryWaitMin:   cfg.minWait,
		RetryWaitMax:   cfg.maxWait,
		RetryMax:       cfg.maxRetries,
		RequestLogHook: c.requestHook,
		CheckRetry:     c.checkRetry,
		Backoff:        c.backoff,
		// Hand back the last response so that its status and body end up
		// in a ResponseError instead of a generic "giving up".
		ErrorHandler: retryablehttp.PassthroughErrorHandler,
		PrepareRetry: c.prepareRetry,
	}
	return c, nil
}

// Endpoint returns the URL requests are sent to, such as
// "https://randomuser.me/api/1.4/".
func (c *Client) Endpoint() string { return c.endpoint }

// Fetch returns one page of users: q.Results users (1 if zero) of q.Page of
// q.Seed. A body that breaks off, or the empty-results outage, is retried like
// a failed request. The whole page is in memory once, as structs; use
// [Client.Users] to process users as they arrive.
func (c *Client) Fetch(ctx context.Context, q Query) (*Response, error) {
	if err := checkJSON(q); err != nil {
		return nil, err
	}
	res := &Response{Results: make([]User, 0, max(q.Results, 1))}
	info, err := c.each(ctx, q,
		func() { res.Results = res.Results[:0] },
		func(u *User) bool { res.Results = append(res.Results, *u); return true })
	if err != nil {
		return nil, err
	}
	res.Info = info
	return res, nil
}

// Users returns an iterator over n users of q.Seed, taken from consecutive
// pages of q.Results users (a full page of [MaxResults] if zero), starting at
// q.Page (1 if zero). The same query and n always give the same users, in
// the same order; a smaller n gives a prefix.
//
// Users are decoded as they arrive, one page request at a time. If a body
// breaks off midway, the page is requested again and the users already
// yielded are skipped (checked by login.uuid), so a retry never duplicates
// or drops a user.
//
// q.Seed must be set, since without it the API picks a new random seed per
// page; use [NewSeed] for a fresh data set. Because of the seed, q.Gender
// cannot be used (the API ignores it). On error the iterator yields one
// zero User with the error and stops. Stopping the loop early closes the
// response.
func (c *Client) Users(ctx context.Context, q Query, n int) iter.Seq2[User, error] {
	return func(yield func(User, error) bool) {
		err := checkJSON(q)
		switch {
		case err != nil:
		case n < 0:
			err = fmt.Errorf("%w: negative count %d", ErrInvalidQuery, n)
		case q.Seed == "":
			err = fmt.Errorf("%w: paging needs a seed (see NewSeed)", ErrInvalidQuery)
		}
		if err != nil {
			yield(User{}, err)
			return
		}
		size := q.Results
		if size == 0 {
			size = MaxResults
		}
		page := max(q.Page, 1)
		for remaining := n; remaining > 0; page++ {
			if page > MaxPage {
				yield(User{}, fmt.Errorf("%w: %d users of %d per page need pages beyond %d", ErrInvalidQuery, n, size, MaxPage))
				return
			}
			pq := q
			pq.Page = page
			// For a given page, fewer results are a prefix of more, so the
			// last page can ask for just what is left.
			pq.Results = min(size, remaining)
			got, stopped := 0, false
			_, err := c.each(ctx, pq, nil, func(u *User) bool {
				got++
				if !yield(*u, nil) {
					stopped = true
					return false
				}
				return true
			})
			if stopped {
				return
			}
			if err == nil && got < pq.Results {
				// Only possible with NoInfo, where the decoder cannot
				// compare against info.results.
				err = &DecodeError{URL: c.endpoint, Kind: ErrShortPage, Index: -1, Got: got, Want: pq.Results}
			}
			if err != nil {
				yield(User{}, err)
				return
			}
			remaining -= got
		}
	}
}

// Download writes the raw response body for q to w, in any [Format], and
// returns the number of bytes written. Failed requests are retried as by the
// other methods, but the body is not checked, so a body that breaks off is
// only detected when the connection reports it ([ErrTruncated]).
func (c *Client) Download(ctx context.Context, q Query, w io.Writer) (int64, error) {
	if err := q.Validate(); err != nil {
		return 0, err
	}
	resp, u, _, err := c.do(ctx, q)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	cr := &countingReader{r: &limitReader{r: resp.Body, n: c.cfg.maxBody}}
	n, err := io.Copy(w, cr)
	if err != nil {
		if ctx.Err() != nil {
			return n, fmt.Errorf("randomuser: GET %s: %w", u, ctx.Err())
		}
		if cr.err != nil && cr.err != io.EOF {
			kind := ErrTruncated
			if errors.Is(cr.err, ErrTooLarge) {
				kind = ErrTooLarge
			}
			return n, &DecodeError{URL: u, StatusCode: resp.StatusCode, Kind: kind, Offset: cr.n, Index: -1, Err: cr.err}
		}
		return n, fmt.Errorf("randomuser: download: writing: %w", err)
	}
	return n, nil
}

// Ping asks for one user (only its nat field) to check that the API answers
// with a decodable page. It counts as one user against rate limits.
func (c *Client) Ping(ctx context.Context) error {
	_, err := c.Fetch(ctx, Query{Results: 1, Include: []Field{FieldNat}})
	return err
}

func checkJSON(q Query) error {
	if err := q.Validate(); err != nil {
		return err
	}
	if !q.isJSON() {
		return fmt.Errorf("%w: format %q/callback %q is not JSON; use Download", ErrInvalidQuery, q.Format, q.Callback)
	}
	return nil
}

// each streams the users of one page to yield, retrying bodies that break
// off or come back empty. Users already yielded are skipped on a retry;
// without a seed the page differs on every request, so restart (if not
// nil) is called to let the caller drop them instead.
//
// With WithMetrics, each records the page: the users the caller keeps, the
// failure, or the duration less the time spent in yield (the caller's loop
// body, when Users calls it).
func (c *Client) each(ctx context.Context, q Query, restart func(), yield func(*User) bool) (Info, error) {
	if c.metrics == nil {
		return c.eachPage(ctx, q, restart, yield)
	}
	start := time.Now()
	var inYield time.Duration
	kept, stopped := 0, false
	counted := func(u *User) bool {
		kept++
		t := time.Now()
		ok := yield(u)
		inYield += time.Since(t)
		stopped = !ok
		return ok
	}
	var drop func()
	if restart != nil {
		drop = func() { kept = 0; restart() }
	}
	info, err := c.eachPage(ctx, q, drop, counted)
	if err != nil && restart != nil {
		// A caller that can restart (Fetch) drops the page on error; one
		// that cannot (Users) has the users yielded so far.
		kept = 0
	}
	c.metrics.page(ctx, kept, err, !stopped, time.Since(start)-inYield)
	return info, err
}

// eachPage is each without metrics.
func (c *Client) eachPage(ctx context.Context, q Query, restart func(), yield func(*User) bool) (Info, error) {
	delivered := 0
	lastUUID := ""
	for retry := 0; ; retry++ {
		var mismatch error
		info, err := c.page(ctx, q, func(i int, u *User) bool {
			if i < delivered {
				if i == delivered-1 && u.Login.UUID != lastUUID {
					mismatch = fmt.Errorf("%w: user %d of page %d of seed %q was %s, is now %s",
						ErrNotReproducible, i, max(q.Page, 1), q.Seed, lastUUID, u.Login.UUID)
					return false
				}
				return true
			}
			delivered++
			lastUUID = u.Login.UUID
			return yield(u)
		})
		if mismatch != nil {
			return info, mismatch
		}
		if err == nil || !bodyRetryable(err) || retry >= c.cfg.maxRetries {
			return info, err
		}
		if delivered > 0 && q.Seed == "" {
			if restart == nil {
				return info, err
			}
			restart()
			delivered, lastUUID = 0, ""
		}
		wait := c.backoff(c.cfg.minWait, c.cfg.maxWait, retry, nil)
		c.log.WarnContext(ctx, "randomuser: retrying page", "error", err, "retry", retry+1, "wait", wait, "resume_at", delivered)
		if err := sleep(ctx, wait); err != nil {
			return info, fmt.Errorf("randomuser: retry of %v: %w", err, ctx.Err())
		}
	}
}

// bodyRetryable reports whether err is a problem with a 2xx body that a new
// request may not have. Failed statuses were already retried by do.
func bodyRetryable(err error) bool {
	var de *DecodeError
	if errors.As(err, &de) {
		return de.Retryable()
	}
	var re *ResponseError
	return errors.As(err, &re) && re.StatusCode < 300 && re.errorKey
}

// page requests one page and decodes it, calling yield with each user's
// index. A false from yield stops decoding without error.
func (c *Client) page(ctx context.Context, q Query, yield func(int, *User) bool) (Info, error) {
	resp, u, attempts, err := c.do(ctx, q)
	if err != nil {
		return Info{}, err
	}
	defer resp.Body.Close()
	dec := NewDecoder(&limitReader{r: resp.Body, n: c.cfg.maxBody})
	dec.SetCredentials(c.cfg.creds)
	var user User
	for i := 0; ; i++ {
		err := dec.Decode(&user)
		if err == io.EOF {
			info, _ := dec.Info()
			return info, nil
		}
		if err != nil {
			if ctx.Err() != nil {
				return Info{}, fmt.Errorf("randomuser: GET %s: reading body: %w", u, ctx.Err())
			}
			var de *DecodeError
			var re *ResponseError
			switch {
			case errors.As(err, &de):
				de.URL, de.StatusCode = u, resp.StatusCode
			case errors.As(err, &re):
				re.Method, re.URL, re.StatusCode, re.Attempts = http.MethodGet, u, resp.StatusCode, attempts
			}
			return Info{}, err
		}
		if !yield(i, &user) {
			return Info{}, nil
		}
	}
}

// reqState travels in the request's context so the retryablehttp hooks can
// count attempts of this request.
type reqState struct{ attempts int }

type stateKey struct{}

// do sends q with retries and returns a 2xx response, whose body the caller
// closes, with the URL and the number of attempts.
func (c *Client) do(ctx context.Context, q Query) (*http.Response, string, int, error) {
	u := c.endpoint
	if enc := q.Values().Encode(); enc != "" {
		u += "?" + enc
	}
	if c.limiter != nil {
		if err := c.limiter.wait(ctx, max(q.Results, 1)); err != nil {
			return nil, u, 0, err
		}
	}
	st := &reqState{}
	req, err := retryablehttp.NewRequestWithContext(context.WithValue(ctx, stateKey{}, st), http.MethodGet, u, nil)
	if err != nil {
		return nil, u, 0, fmt.Errorf("randomuser: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", c.cfg.userAgent)
	resp, err := c.rc.Do(req)
	if err != nil {
		if resp != nil {
			resp.Body.Close()
		}
		if ctx.Err() != nil {
			return nil, u, st.attempts, fmt.Errorf("randomuser: GET %s: %w", u, ctx.Err())
		}
		return nil, u, st.attempts, &transportError{url: u, attempts: st.attempts, err: err}
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, u, st.attempts, c.responseError(resp, u, st.attempts)
	}
	return resp, u, st.attempts, nil
}

func (c *Client) responseError(resp *http.Response, u string, attempts int) *ResponseError {
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
	// Drain a little more so that the connection can be reused.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	e := &ResponseError{
		Method: http.MethodGet, URL: u, StatusCode: resp.StatusCode, Body: b,
		RetryAfter: retryAfter(resp, time.Now()), Attempts: attempts,
	}
	var eb struct {
		Error *string `json:"error"`
	}
	if json.Unmarshal(b, &eb) == nil && eb.Error != nil {
		e.Message, e.errorKey = *eb.Error, true
	}
	return e
}

func (c *Client) requestHook(_ retryablehttp.Logger, req *http.Request, i int) {
	if st, ok := req.Context().Value(stateKey{}).(*reqState); ok {
		st.attempts = i + 1
	}
	c.log.DebugContext(req.Context(), "randomuser: request", "url", req.URL.String(), "attempt", i+1)
}

// prepareRetry takes the retry's users from the rate limiter: the API counts
// every request, failed or not.
func (c *Client) prepareRetry(req *http.Request) error {
	if c.limiter == nil {
		return nil
	}
	n, err := strconv.Atoi(req.URL.Query().Get("results"))
	if err != nil || n < 1 {
		n = 1
	}
	return c.limiter.wait(req.Context(), n)
}

// checkRetry is the retry policy: retryablehttp's default (connection
// errors, 429, 5xx except 501; never other 4xx), except that a Retry-After
// longer than WithMaxRetryAfter or past the context's deadline ends the
// call at once, so the caller sees the 429 instead of a context error.
func (c *Client) checkRetry(ctx context.Context, resp *http.Response, err error) (bool, error) {
	if ctx.Err() != nil {
		return false, ctx.Err()
	}
	retry, _ := retryablehttp.DefaultRetryPolicy(ctx, resp, err)
	if !retry {
		return false, nil
	}
	if ra := retryAfter(resp, time.Now()); ra > 0 {
		if ra > c.cfg.maxRetryWait {
			return false, nil
		}
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) < ra {
			return false, nil
		}
	}
	attempt := 0
	if st, ok := ctx.Value(stateKey{}).(*reqState); ok {
		attempt = st.attempts
	}
	if attempt <= c.cfg.maxRetries {
		args := []any{"attempt", attempt}
		if resp != nil {
			args = append(args, "status", resp.StatusCode)
		}
		if err != nil {
			args = append(args, "error", err)
		}
		c.log.WarnContext(ctx, "randomuser: request failed, retrying", args...)
	}
	return true, nil
}

// backoff waits for Retry-After on 429 and 503 when the server sends it
// (checkRetry has bounded it), and otherwise doubles minWait per attempt
// (0 for the first retry) up to maxWait, with "equal jitter": a random wait
// between half and all of it.
func (c *Client) backoff(minWait, maxWait time.Duration, attempt int, resp *http.Response) time.Duration {
	if ra := retryAfter(resp, time.Now()); ra > 0 {
		return ra
	}
	return backoff.Backoff{Min: minWait, Max: maxWait}.Delay(attempt + 1)
}

// retryAfter parses Retry-After (seconds or an HTTP date) on 429 and 503.
func retryAfter(resp *http.Response, now time.Time) time.Duration {
	if resp == nil || (resp.StatusCode != http.StatusTooManyRequests && resp.StatusCode != http.StatusServiceUnavailable) {
		return 0
	}
	v := resp.Header.Get("Retry-After")
	if v == "" {
		return 0
	}
	if s, err := strconv.ParseInt(v, 10, 64); err == nil {
		if s <= 0 {
			return 0
		}
		return time.Duration(min(s, int64(24*time.Hour/time.Second))) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// transportError is a request that failed without a response (connection
// refused, reset, timed out) on every attempt.
type transportError struct {
	url      string
	attempts int
	err      error
}

func (e *transportError) Error() string {
	return fmt.Sprintf("randomuser: GET %s: %d attempts failed: %v", e.url, e.attempts, e.err)
}

func (e *transportError) Unwrap() error { return e.err }

// Retryable is true: the server may be reachable later.
func (e *transportError) Retryable() bool { return true }

// limitReader is io.LimitReader that fails with ErrTooLarge instead of
// pretending the body ended.
type limitReader struct {
	r io.Reader
	n int64
}

func (l *limitReader) Read(p []byte) (int, error) {
	if l.n <= 0 {
		var b [1]byte
		if n, err := l.r.Read(b[:]); n == 0 {
			return 0, err
		}
		return 0, fmt.Errorf("%w: body exceeds the limit", ErrTooLarge)
	}
	if int64(len(p)) > l.n {
		p = p[:l.n]
	}
	n, err := l.r.Read(p)
	l.n -= int64(n)
	return n, err
}

// countingReader counts bytes and remembers the first error that is not a
// clean end of input, so a network failure is told apart from bad JSON.
type countingReader struct {
	r   io.Reader
	n   int64
	err error
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	if err != nil && c.err == nil {
		c.err = err
	}
	return n, err
}
