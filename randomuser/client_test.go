package randomuser_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/userstream/userstream/randomuser"
	"github.com/userstream/userstream/randomuser/randomusertest"
)

func startServer(t testing.TB, opts ...randomusertest.Opt) *randomusertest.Server {
	t.Helper()
	srv, err := randomusertest.NewServer(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	return srv
}

// newClient returns a client for srv with fast retries, so fault tests take
// milliseconds.
func newClient(t testing.TB, srv *randomusertest.Server, opts ...randomuser.Opt) *randomuser.Client {
	t.Helper()
	base := []randomuser.Opt{
		randomuser.WithBaseURL(srv.BaseURL()),
		randomuser.WithBackoff(time.Millisecond, 10*time.Millisecond),
	}
	c, err := randomuser.New(append(base, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func collect(t testing.TB, seq func(func(randomuser.User, error) bool)) ([]randomuser.User, error) {
	t.Helper()
	var users []randomuser.User
	for u, err := range seq {
		if err != nil {
			return users, err
		}
		users = append(users, u)
	}
	return users, nil
}

func uuids(users []randomuser.User) []string {
	ids := make([]string, len(users))
	for i, u := range users {
		ids[i] = u.Login.UUID
	}
	return ids
}

func TestNewValidates(t *testing.T) {
	bad := [][]randomuser.Opt{
		{randomuser.WithBaseURL("ftp://example.com/api/")},
		{randomuser.WithBaseURL("/api/")},
		{randomuser.WithBaseURL("http://example.com/api/?x=1")},
		{randomuser.WithVersion("latest")},
		{randomuser.WithMaxRetries(-1)},
		{randomuser.WithBackoff(0, time.Second)},
		{randomuser.WithBackoff(time.Second, time.Millisecond)},
		{randomuser.WithRateLimit(100, 0)},
		{randomuser.WithRateLimit(-1, time.Second)},
		{randomuser.WithAttemptTimeout(-time.Second)},
		{randomuser.WithMaxBodyBytes(0)},
	}
	for _, opts := range bad {
		if c, err := randomuser.New(opts...); err == nil {
			t.Errorf("New accepted invalid options, endpoint %s", c.Endpoint())
		}
	}
	c, err := randomuser.New()
	if err != nil || c.Endpoint() != "https://randomuser.me/api/1.4/" {
		t.Errorf("New() = %v, %v", c, err)
	}
	c, err = randomuser.New(randomuser.WithBaseURL("http://127.0.0.1:1/api"), randomuser.WithVersion(""))
	if err != nil || c.Endpoint() != "http://127.0.0.1:1/api/" {
		t.Errorf("unpinned endpoint = %v, %v", c.Endpoint(), err)
	}
}

func TestFetch(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	c := newClient(t, srv)
	ctx := context.Background()
	q := randomuser.Query{Seed: "fetch", Results: 25, Nat: []string{"gb"}}
	r1, err := c.Fetch(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	if len(r1.Results) != 25 || r1.Info != (randomuser.Info{Seed: "fetch", Results: 25, Page: 1, Version: "1.4"}) {
		t.Fatalf("got %d users, info %+v", len(r1.Results), r1.Info)
	}
	for _, u := range r1.Results {
		if u.Nat != "GB" || u.Location.Country != "United Kingdom" || u.Location.Postcode == "" || u.Login.UUID == "" {
			t.Errorf("unexpected user %+v", u)
		}
		if u.Login.Password != "" || u.Login.SHA256 != "" {
			t.Errorf("credentials decoded without WithCredentials: %q", u.Login.Password)
		}
	}
	r2, err := c.Fetch(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(mustMarshal(t, r1), mustMarshal(t, r2)) {
		t.Error("the same seed gave different users")
	}
	if err := c.Ping(ctx); err != nil {
		t.Errorf("Ping: %v", err)
	}
}

func TestFetchWithCredentials(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	c := newClient(t, srv, randomuser.WithCredentials())
	r, err := c.Fetch(context.Background(), randomuser.Query{Seed: "creds", Results: 20,
		Password: randomuser.PasswordSpec{Charsets: []randomuser.Charset{randomuser.Special, randomuser.Number}, Min: 10, Max: 12}})
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range r.Results {
		l := u.Login
		if n := len(l.Password); n < 10 || n > 12 || len(l.Salt) != 8 {
			t.Errorf("password %q (spec 10-12), salt %q", l.Password, l.Salt)
		}
		m, s1, s2 := md5.Sum([]byte(l.Password+l.Salt)), sha1.Sum([]byte(l.Password+l.Salt)), sha256.Sum256([]byte(l.Password+l.Salt))
		if l.MD5 != hex.EncodeToString(m[:]) || l.SHA1 != hex.EncodeToString(s1[:]) || l.SHA256 != hex.EncodeToString(s2[:]) {
			t.Errorf("hashes of %q+%q do not match: %+v", l.Password, l.Salt, l)
		}
	}
}

func TestUsersPager(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	c := newClient(t, srv)
	ctx := context.Background()
	q := randomuser.Query{Seed: "pager", Results: 1000}
	all, err := collect(t, c.Users(ctx, q, 2345))
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 2345 {
		t.Fatalf("got %d users, want 2345", len(all))
	}
	seen := make(map[string]bool, len(all))
	for _, id := range uuids(all) {
		if seen[id] {
			t.Fatalf("duplicate uuid %s", id)
		}
		seen[id] = true
	}
	if st := srv.Stats(); st.Requests != 3 || st.Users != 2345 {
		t.Errorf("server stats %+v, want 3 requests (1000, 1000, 345) and 2345 users", st)
	}
	again, err := collect(t, c.Users(ctx, q, 2345))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(uuids(again), ",") != strings.Join(uuids(all), ",") {
		t.Error("the same seed and count gave different users")
	}
	prefix, err := collect(t, c.Users(ctx, q, 1001))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(uuids(prefix), ",") != strings.Join(uuids(all[:1001]), ",") {
		t.Error("a smaller count is not a prefix")
	}
	page2, err := collect(t, c.Users(ctx, randomuser.Query{Seed: "pager", Page: 2, Results: 1000}, 1000))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(uuids(page2), ",") != strings.Join(uuids(all[1000:2000]), ",") {
		t.Error("starting at page 2 does not give the second page")
	}
	small, err := collect(t, c.Users(ctx, randomuser.Query{Seed: "pager", Results: 100, Nat: []string{"no", "ca"}}, 250))
	if err != nil || len(small) != 250 {
		t.Fatalf("pages of 100: %d users, %v", len(small), err)
	}
	for _, u := range small {
		if u.Nat != "NO" && u.Nat != "CA" {
			t.Errorf("nat %s not requested", u.Nat)
		}
	}
}

func TestUsersStopsEarly(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	c := newClient(t, srv)
	n := 0
	for _, err := range c.Users(context.Background(), randomuser.Query{Seed: "stop", Results: 100}, 1000) {
		if err != nil {
			t.Fatal(err)
		}
		if n++; n == 10 {
			break
		}
	}
	if st := srv.Stats(); n != 10 || st.Requests != 1 {
		t.Errorf("read %d users with %d requests, want 10 with 1", n, st.Requests)
	}
}

func TestInvalidQueriesSendNothing(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	c := newClient(t, srv)
	ctx := context.Background()
	if _, err := c.Fetch(ctx, randomuser.Query{Results: 6000}); !errors.Is(err, randomuser.ErrInvalidQuery) {
		t.Errorf("Fetch(results 6000) = %v", err)
	}
	if _, err := c.Fetch(ctx, randomuser.Query{Format: randomuser.FormatCSV}); !errors.Is(err, randomuser.ErrInvalidQuery) {
		t.Errorf("Fetch(csv) = %v", err)
	}
	for _, tt := range []struct {
		q randomuser.Query
		n int
	}{
		{randomuser.Query{}, 10},                                   // no seed
		{randomuser.Query{Seed: "s", Gender: randomuser.Male}, 10}, // gender is ignored with a seed
		{randomuser.Query{Seed: "s"}, -1},
		{randomuser.Query{Seed: "s", Results: 1, Page: 9999}, 5}, // beyond page 10000
	} {
		users, err := collect(t, c.Users(ctx, tt.q, tt.n))
		if !errors.Is(err, randomuser.ErrInvalidQuery) {
			t.Errorf("Users(%+v, %d) = %v", tt.q, tt.n, err)
		}
		if tt.q.Page == 9999 && len(users) != 2 {
			t.Errorf("got %d users before the page limit, want 2", len(users))
		}
	}
	if st := srv.Stats(); st.Requests != 2 { // only the two pages before the limit
		t.Errorf("server saw %d requests, want 2", st.Requests)
	}
}

// TestFaultRecovery injects each fault once before a good response: the
// client must retry and return exactly the users of a clean request.
func TestFaultRecovery(t *testing.T) {
	t.Parallel()
	q := randomuser.Query{Seed: "faults", Results: 300}
	clean := func() []byte {
		c := newClient(t, startServer(t))
		r, err := c.Fetch(context.Background(), q)
		if err != nil {
			t.Fatal(err)
		}
		return mustMarshal(t, r)
	}()
	tests := []struct {
		name   string
		faults []randomusertest.Fault
	}{
		{"500 plain text", []randomusertest.Fault{randomusertest.Status(500), randomusertest.Status(500)}},
		{"502 and 504 html", []randomusertest.Fault{randomusertest.Status(502), randomusertest.Status(504)}},
		{"503 without Retry-After", []randomusertest.Fault{randomusertest.Unavailable(0)}},
		{"error body with 200", []randomusertest.Fault{randomusertest.ErrorBody(200)}},
		{"error body with 503", []randomusertest.Fault{randomusertest.ErrorBody(503)}},
		{"truncated body", []randomusertest.Fault{randomusertest.Truncate(0.5)}},
		{"truncated at the first byte", []randomusertest.Fault{randomusertest.Truncate(0)}},
		{"empty results outage", []randomusertest.Fault{randomusertest.EmptyResults(), randomusertest.EmptyResults()}},
		{"mixed", []randomusertest.Fault{randomusertest.Status(500), randomusertest.Truncate(0.9), randomusertest.EmptyResults(), randomusertest.ErrorBody(200)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := startServer(t)
			srv.Inject(tt.faults...)
			var logs bytes.Buffer
			c := newClient(t, srv, randomuser.WithLogger(slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn}))))
			r, err := c.Fetch(context.Background(), q)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(mustMarshal(t, r), clean) {
				t.Error("users differ from a clean request")
			}
			if st := srv.Stats(); st.Requests != int64(len(tt.faults)+1) || st.Faults != int64(len(tt.faults)) {
				t.Errorf("server stats %+v, want %d requests", st, len(tt.faults)+1)
			}
			if got := strings.Count(logs.String(), "level=WARN"); got != len(tt.faults) {
				t.Errorf("%d retries logged at Warn, want %d:\n%s", got, len(tt.faults), logs.String())
			}
		})
	}
}

// TestFaultExhaustion lets each fault persist past the retry budget (or
// not be retried at all) and checks the error the caller gets.
func TestFaultExhaustion(t *testing.T) {
	t.Parallel()
	repeat := func(f randomusertest.Fault, n int) []randomusertest.Fault {
		fs := make([]randomusertest.Fault, n)
		for i := range fs {
			fs[i] = f
		}
		return fs
	}
	tests := []struct {
		name     string
		faults   []randomusertest.Fault
		requests int64
		is       error
		check    func(t *testing.T, err error)
	}{
		{"500 every time", repeat(randomusertest.Status(500), 3), 3, randomuser.ErrUnavailable, func(t *testing.T, err error) {
			var re *randomuser.ResponseError
			if !errors.As(err, &re) || re.StatusCode != 500 || re.Attempts != 3 || string(re.Body) != "Internal Server Error" || re.Message != "" {
				t.Errorf("ResponseError %+v", re)
			}
		}},
		{"502 html every time", repeat(randomusertest.Status(502), 3), 3, randomuser.ErrUnavailable, func(t *testing.T, err error) {
			var re *randomuser.ResponseError
			if !errors.As(err, &re) || !bytes.Contains(re.Body, []byte("<title>502 Bad Gateway</title>")) || !randomuser.IsRetryable(err) {
				t.Errorf("ResponseError %+v", re)
			}
		}},
		{"404 is not retried", repeat(randomusertest.Status(404), 3), 1, nil, func(t *testing.T, err error) {
			var re *randomuser.ResponseError
			if !errors.As(err, &re) || re.StatusCode != 404 || re.Attempts != 1 || randomuser.IsRetryable(err) {
				t.Errorf("ResponseError %+v", re)
			}
		}},
		{"400 is not retried", repeat(randomusertest.Status(400), 3), 1, nil, nil},
		{"501 is not retried", repeat(randomusertest.Status(501), 3), 1, randomuser.ErrUnavailable, nil},
		{"error body every time", repeat(randomusertest.ErrorBody(200), 3), 3, randomuser.ErrUnavailable, func(t *testing.T, err error) {
			var re *randomuser.ResponseError
			if !errors.As(err, &re) || re.StatusCode != 200 || !strings.HasPrefix(re.Message, "Uh oh") {
				t.Errorf("ResponseError %+v", re)
			}
		}},
		{"truncated every time", repeat(randomusertest.Truncate(0.5), 3), 3, randomuser.ErrTruncated, func(t *testing.T, err error) {
			var de *randomuser.DecodeError
			if !errors.As(err, &de) || de.StatusCode != 200 || !strings.Contains(de.URL, "seed=exhaust") || de.Offset < 1000 || de.Index < 1 {
				t.Errorf("DecodeError %+v", de)
			}
		}},
		{"outage every time", repeat(randomusertest.EmptyResults(), 3), 3, randomuser.ErrEmptyResults, func(t *testing.T, err error) {
			var de *randomuser.DecodeError
			if !errors.As(err, &de) || de.Got != 0 || de.Want != 1 {
				t.Errorf("DecodeError %+v", de)
			}
		}},
		{"malformed is not retried", repeat(randomusertest.Malformed(), 3), 1, randomuser.ErrMalformed, func(t *testing.T, err error) {
			var de *randomuser.DecodeError
			if !errors.As(err, &de) || de.Offset != 0 || randomuser.IsRetryable(err) {
				t.Errorf("DecodeError %+v", de)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := startServer(t)
			srv.Inject(tt.faults...)
			c := newClient(t, srv, randomuser.WithMaxRetries(2))
			_, err := c.Fetch(context.Background(), randomuser.Query{Seed: "exhaust", Results: 50})
			if err == nil {
				t.Fatal("no error")
			}
			t.Logf("error: %v", err)
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("err = %v, want %v", err, tt.is)
			}
			if got := srv.Stats().Requests; got != tt.requests {
				t.Errorf("%d requests, want %d", got, tt.requests)
			}
			if tt.check != nil {
				tt.check(t, err)
			}
		})
	}
}

func TestRetryAfterIsHonoured(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	srv.Inject(randomusertest.TooManyRequests(time.Second), randomusertest.Unavailable(time.Second))
	c := newClient(t, srv)
	start := time.Now()
	if _, err := c.Fetch(context.Background(), randomuser.Query{Seed: "ra"}); err != nil {
		t.Fatal(err)
	}
	// The backoff is 1-10ms, so only Retry-After explains two seconds.
	if d := time.Since(start); d < 2*time.Second {
		t.Errorf("retried after %v, want at least the 2s of the two Retry-After headers", d)
	}
	if st := srv.Stats(); st.Requests != 3 {
		t.Errorf("%d requests, want 3", st.Requests)
	}
}

func TestRetryAfterTooLong(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	srv.Inject(randomusertest.TooManyRequests(10*time.Minute), randomusertest.TooManyRequests(30*time.Second))
	c := newClient(t, srv)
	start := time.Now()
	_, err := c.Fetch(context.Background(), randomuser.Query{})
	var re *randomuser.ResponseError
	if !errors.Is(err, randomuser.ErrRateLimited) || !errors.As(err, &re) || re.RetryAfter != 10*time.Minute || re.Attempts != 1 ||
		!strings.HasPrefix(re.Message, "Whoa, ease up there cowboy") {
		t.Errorf("Retry-After beyond WithMaxRetryAfter: err = %v", err)
	}
	// Within the maximum, but past the context's deadline: fail now with the
	// 429 rather than sleep into a context error.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err = c.Fetch(ctx, randomuser.Query{})
	if !errors.As(err, &re) || re.RetryAfter != 30*time.Second {
		t.Errorf("Retry-After beyond the deadline: err = %v", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("took %v, want an immediate error", d)
	}
}

func TestEmulatedServerRateLimit(t *testing.T) {
	t.Parallel()
	srv := startServer(t, randomusertest.WithRateLimit(100, time.Minute))
	c := newClient(t, srv, randomuser.WithMaxRetryAfter(time.Second))
	ctx := context.Background()
	if _, err := c.Fetch(ctx, randomuser.Query{Results: 100}); err != nil {
		t.Fatal(err)
	}
	_, err := c.Fetch(ctx, randomuser.Query{Results: 1})
	var re *randomuser.ResponseError
	if !errors.Is(err, randomuser.ErrRateLimited) || !errors.As(err, &re) || re.RetryAfter < 50*time.Second ||
		!strings.Contains(re.Message, "You've requested 100 users") {
		t.Errorf("err = %v, want 429 with Retry-After of about a minute", err)
	}
	if st := srv.Stats(); st.RateLimited != 1 {
		t.Errorf("stats %+v", st)
	}
}

func TestClientRateLimit(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	// A bucket of 1,000 users refilled at 10,000 users/s: the first page is
	// free, each further page of 1,000 waits 100ms.
	c := newClient(t, srv, randomuser.WithRateLimit(1000, 100*time.Millisecond))
	start := time.Now()
	users, err := collect(t, c.Users(context.Background(), randomuser.Query{Seed: "rl", Results: 1000}, 3000))
	if err != nil || len(users) != 3000 {
		t.Fatalf("%d users, %v", len(users), err)
	}
	if d := time.Since(start); d < 180*time.Millisecond {
		t.Errorf("3 pages took %v, want at least ~200ms of pacing", d)
	}
	// A wait that cannot finish before the deadline fails at once, without
	// sending anything.
	// The deadline (a minute) is far shorter than the wait (an hour), and
	// far longer than a request takes even on a loaded machine.
	before := srv.Stats().Requests
	c2 := newClient(t, srv, randomuser.WithRateLimit(10, time.Hour))
	if _, err := c2.Fetch(context.Background(), randomuser.Query{Results: 10}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, err = c2.Fetch(ctx, randomuser.Query{Results: 10})
	// Refused before waiting (the message says why), not after the minute.
	if !errors.Is(err, context.DeadlineExceeded) || ctx.Err() != nil || !strings.Contains(err.Error(), "past the context deadline") {
		t.Errorf("err = %v, want DeadlineExceeded at once, for a wait past the deadline", err)
	}
	if got := srv.Stats().Requests - before; got != 1 {
		t.Errorf("%d requests, want 1", got)
	}
}

func TestUsersResumeAfterTruncation(t *testing.T) {
	t.Parallel()
	q := randomuser.Query{Seed: "resume", Results: 1000}
	clean, err := collect(t, newClient(t, startServer(t)).Users(context.Background(), q, 2500))
	if err != nil {
		t.Fatal(err)
	}
	srv := startServer(t)
	// Page 1 is fine; page 2 breaks off twice, at 60% and at 30%; page 3 fine.
	srv.Inject(randomusertest.Fault{}, randomusertest.Truncate(0.6), randomusertest.Truncate(0.3))
	got, err := collect(t, newClient(t, srv).Users(context.Background(), q, 2500))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(uuids(got), ",") != strings.Join(uuids(clean), ",") {
		t.Errorf("resumed run differs: %d users, want %d, no duplicates or gaps", len(got), len(clean))
	}
	if st := srv.Stats(); st.Requests != 5 {
		t.Errorf("%d requests, want 5", st.Requests)
	}
}

func TestRandomFaults(t *testing.T) {
	t.Parallel()
	q := randomuser.Query{Seed: "chaos", Results: 100}
	clean, err := collect(t, newClient(t, startServer(t)).Users(context.Background(), q, 3000))
	if err != nil {
		t.Fatal(err)
	}
	srv := startServer(t,
		randomusertest.WithFaultRate(0.15, randomusertest.Status(503)),
		randomusertest.WithFaultRate(0.1, randomusertest.Truncate(0.5)),
		randomusertest.WithFaultRate(0.05, randomusertest.EmptyResults()),
		randomusertest.WithFaultRate(0.05, randomusertest.ErrorBody(200)),
		randomusertest.WithLatency(time.Millisecond),
	)
	got, err := collect(t, newClient(t, srv, randomuser.WithMaxRetries(10)).Users(context.Background(), q, 3000))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(uuids(got), ",") != strings.Join(uuids(clean), ",") {
		t.Error("users differ from a run without faults")
	}
	if st := srv.Stats(); st.Faults == 0 {
		t.Errorf("no faults were injected: %+v", st)
	}
}

func TestTimeoutIsRetried(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	srv.Inject(randomusertest.Delay(3 * time.Second))
	c := newClient(t, srv, randomuser.WithAttemptTimeout(300*time.Millisecond))
	start := time.Now()
	if _, err := c.Fetch(context.Background(), randomuser.Query{Results: 5}); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("took %v: the slow attempt was not abandoned", d)
	}
	if st := srv.Stats(); st.Requests != 2 {
		t.Errorf("%d requests, want 2", st.Requests)
	}
}

func TestContextCancellation(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	srv.Inject(randomusertest.Delay(5 * time.Second))
	c := newClient(t, srv)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := c.Fetch(ctx, randomuser.Query{})
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > time.Second {
		t.Errorf("err = %v after %v, want DeadlineExceeded at once", err, time.Since(start))
	}
	ctx, cancel = context.WithCancel(context.Background())
	cancel()
	for _, err := range c.Users(ctx, randomuser.Query{Seed: "x"}, 10) {
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Users with a cancelled context: %v", err)
		}
	}
}

func TestConnectionRefused(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	c := newClient(t, srv, randomuser.WithMaxRetries(2))
	srv.Close()
	_, err := c.Fetch(context.Background(), randomuser.Query{})
	if err == nil || !randomuser.IsRetryable(err) || !strings.Contains(err.Error(), "3 attempts") {
		t.Errorf("err = %v, want a retryable error after 3 attempts", err)
	}
}

func TestVersionPinning(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	ctx := context.Background()
	unpinned := newClient(t, srv, randomuser.WithVersion(""))
	if _, err := unpinned.Fetch(ctx, randomuser.Query{}); err != nil {
		t.Errorf("unpinned: %v", err)
	}
	old := newClient(t, srv, randomuser.WithVersion("1.3")) // not emulated: 404, as for unknown versions
	_, err := old.Fetch(ctx, randomuser.Query{})
	var re *randomuser.ResponseError
	if !errors.As(err, &re) || re.StatusCode != http.StatusNotFound || re.Attempts != 1 || !strings.HasSuffix(re.URL, "/api/1.3/") {
		t.Errorf("1.3: %v", err)
	}
}

func TestMaxBodyBytes(t *testing.T) {
	t.Parallel()
	c := newClient(t, startServer(t), randomuser.WithMaxBodyBytes(5000))
	_, err := c.Fetch(context.Background(), randomuser.Query{Results: 10})
	if !errors.Is(err, randomuser.ErrTooLarge) || randomuser.IsRetryable(err) {
		t.Errorf("err = %v, want ErrTooLarge, not retryable", err)
	}
}

func TestDownloadCSV(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	c := newClient(t, srv)
	var buf bytes.Buffer
	n, err := c.Download(context.Background(), randomuser.Query{Seed: "csv", Results: 40, Format: randomuser.FormatCSV}, &buf)
	if err != nil || n != int64(buf.Len()) {
		t.Fatalf("Download = %d, %v", n, err)
	}
	sc := bufio.NewScanner(&buf)
	lines := 0
	for sc.Scan() {
		if lines == 0 && !strings.HasPrefix(sc.Text(), "gender,name.title,name.first,name.last,location.street.number") {
			t.Errorf("header %q", sc.Text())
		}
		lines++
	}
	if lines != 41 {
		t.Errorf("%d lines, want header + 40", lines)
	}
	srv.Inject(randomusertest.Truncate(0.5))
	_, err = c.Download(context.Background(), randomuser.Query{Results: 40, Format: randomuser.FormatCSV}, io.Discard)
	if !errors.Is(err, randomuser.ErrTruncated) {
		t.Errorf("truncated download: %v", err)
	}
}

func TestConcurrentUse(t *testing.T) {
	t.Parallel()
	srv := startServer(t, randomusertest.WithFaultRate(0.2, randomusertest.Status(500)))
	c := newClient(t, srv, randomuser.WithRateLimit(100000, time.Second), randomuser.WithMaxRetries(8))
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := range 8 {
		wg.Go(func() {
			users, err := collect(t, c.Users(context.Background(), randomuser.Query{Seed: "conc", Results: 200, Page: 1 + i}, 400))
			if err == nil && len(users) != 400 {
				err = errors.New("short")
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
}
