package randomuser_test

import (
	"context"
	"errors"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/userstream/userstream/randomuser"
	"github.com/userstream/userstream/randomuser/randomusertest"
)

// clientMetrics reads the three series of a registry.
type clientMetrics struct {
	fetched, errors float64
	pages           uint64 // observations of userstream_fetch_page_seconds
}

func readMetrics(t *testing.T, reg *prometheus.Registry) clientMetrics {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var m clientMetrics
	seen := 0
	for _, mf := range mfs {
		switch mf.GetName() {
		case "userstream_users_fetched_total":
			m.fetched = mf.GetMetric()[0].GetCounter().GetValue()
		case "userstream_fetch_errors_total":
			m.errors = mf.GetMetric()[0].GetCounter().GetValue()
		case "userstream_fetch_page_seconds":
			h := mf.GetMetric()[0].GetHistogram()
			m.pages = h.GetSampleCount()
			if n := len(h.GetBucket()); n != 17 {
				t.Errorf("userstream_fetch_page_seconds has %d buckets, want 17", n)
			}
		default:
			t.Errorf("unexpected series %s", mf.GetName())
			continue
		}
		if len(mf.GetMetric()) != 1 || len(mf.GetMetric()[0].GetLabel()) != 0 {
			t.Errorf("%s: want one series without labels, got %v", mf.GetName(), mf.GetMetric())
		}
		seen++
	}
	if seen != 3 {
		t.Fatalf("gathered %d of the 3 series", seen)
	}
	return m
}

// Two clients on one registry count into the same series: every user
// fetched once, a page retried after a body broke off not counted twice.
func TestMetricsCountFetchedUsers(t *testing.T) {
	srv := startServer(t)
	reg := prometheus.NewRegistry()
	a := newClient(t, srv, randomuser.WithMetrics(reg))
	b := newClient(t, srv, randomuser.WithMetrics(reg))
	ctx := context.Background()

	// The first page's body breaks off midway: Users asks again and skips
	// the users it already yielded.
	srv.Inject(randomusertest.Truncate(0.5))
	users, err := collect(t, a.Users(ctx, randomuser.Query{Seed: "metrics", Results: 1000}, 2500))
	if err != nil {
		t.Fatal(err)
	}
	res, err := b.Fetch(ctx, randomuser.Query{Seed: "metrics", Results: 10})
	if err != nil {
		t.Fatal(err)
	}
	got := readMetrics(t, reg)
	want := clientMetrics{fetched: float64(len(users) + len(res.Results)), pages: 4}
	if len(users) != 2500 || got != want {
		t.Fatalf("after %d users and a page of %d: metrics %+v, want %+v", len(users), len(res.Results), got, want)
	}
	if st := srv.Stats(); st.Requests != 5 {
		t.Fatalf("server saw %d requests, want 5 (3 pages, a retry, a fetch)", st.Requests)
	}
}

// A failing server counts one error per page given up on; the users
// Users yielded before the error count, a failed Fetch counts none, and a
// call the caller cancels is no fetch error.
func TestMetricsCountErrors(t *testing.T) {
	srv := startServer(t)
	reg := prometheus.NewRegistry()
	c := newClient(t, srv, randomuser.WithMetrics(reg), randomuser.WithMaxRetries(1))
	ctx := context.Background()

	// Page 1 is served, page 2 gets a 400, which is never retried.
	srv.Inject(randomusertest.Fault{}, randomusertest.Status(400))
	users, err := collect(t, c.Users(ctx, randomuser.Query{Seed: "errors", Results: 5}, 10))
	if err == nil || len(users) != 5 {
		t.Fatalf("got %d users, error %v; want 5 users, then an error", len(users), err)
	}
	// Both attempts of the page fail with 500.
	srv.Inject(randomusertest.Status(500), randomusertest.Status(500))
	if _, err := c.Fetch(ctx, randomuser.Query{Seed: "errors", Results: 5}); err == nil {
		t.Fatal("Fetch succeeded against two 500s")
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := c.Fetch(cancelled, randomuser.Query{Seed: "errors", Results: 5}); !errors.Is(err, context.Canceled) {
		t.Fatalf("Fetch with a cancelled context: %v", err)
	}

	got := readMetrics(t, reg)
	if want := (clientMetrics{fetched: 5, errors: 2, pages: 1}); got != want {
		t.Fatalf("metrics %+v, want %+v", got, want)
	}
}

// A registry that holds another metric under one of the names makes New
// fail instead of recording into the wrong series; a nil registerer means
// no metrics.
func TestMetricsRegistration(t *testing.T) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(prometheus.NewGauge(prometheus.GaugeOpts{Name: "userstream_fetch_errors_total", Help: "Something else."}))
	if _, err := randomuser.New(randomuser.WithMetrics(reg)); err == nil {
		t.Fatal("New registered over a gauge of another help under userstream_fetch_errors_total")
	}

	srv := startServer(t)
	c := newClient(t, srv, randomuser.WithMetrics(nil))
	if _, err := c.Fetch(context.Background(), randomuser.Query{Results: 1}); err != nil {
		t.Fatal(err)
	}
}
