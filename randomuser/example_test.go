package randomuser_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/userstream/userstream/randomuser"
	"github.com/userstream/userstream/randomuser/randomusertest"
)

// Fetch 10,000 users of one seed, with retries. The offline server stands in
// for https://randomuser.me; drop WithBaseURL to use the real API (and add
// WithRateLimit(PublicRateLimitUsers, PublicRateLimitWindow)).
func Example() {
	srv, err := randomusertest.NewServer()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer srv.Close()

	c, err := randomuser.New(randomuser.WithBaseURL(srv.BaseURL()))
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx := context.Background()
	perNat := map[string]int{}
	for u, err := range c.Users(ctx, randomuser.Query{Seed: "example", Nat: []string{"gb", "no"}}, 10_000) {
		if err != nil {
			fmt.Println(err)
			return
		}
		perNat[u.Nat]++
	}
	fmt.Println(perNat["GB"]+perNat["NO"], "users in", srv.Stats().Requests, "requests")
	// Output: 10000 users in 2 requests
}

func ExampleClient_Fetch() {
	srv, err := randomusertest.NewServer()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer srv.Close()
	c, err := randomuser.New(randomuser.WithBaseURL(srv.BaseURL()))
	if err != nil {
		fmt.Println(err)
		return
	}

	page, err := c.Fetch(context.Background(), randomuser.Query{Seed: "fetch15", Results: 3, Nat: []string{"no", "us", "ir"}})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, u := range page.Results {
		// Postcodes are strings whatever the API sent; NO keeps its leading
		// zeros. IR has no national id: ID.Value is nil and String is "".
		fmt.Printf("%s %s %s | %s | %q %q\n", u.Nat, u.Name.First, u.Name.Last, u.Location.Postcode, u.ID.Name, u.ID.String())
	}
	fmt.Printf("%+v\n", page.Info)
	// Output:
	// IR رضا عباسی | 89568 | "" ""
	// US Lisa Gonzalez | 73659 | "SSN" "613-13-9546"
	// NO Marte Eriksen | 0250 | "FN" "27017738475"
	// {Seed:fetch15 Results:3 Page:1 Version:1.4}
}

// The client rides out injected faults: a 503, a body that breaks off and the
// empty-results outage each cost one retry.
func ExampleClient_Users_faults() {
	srv, err := randomusertest.NewServer()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer srv.Close()
	srv.Inject(randomusertest.Status(503), randomusertest.Truncate(0.5), randomusertest.EmptyResults())

	c, err := randomuser.New(randomuser.WithBaseURL(srv.BaseURL()), randomuser.WithBackoff(time.Millisecond, 10*time.Millisecond))
	if err != nil {
		fmt.Println(err)
		return
	}
	n := 0
	for _, err := range c.Users(context.Background(), randomuser.Query{Seed: "faults", Results: 500}, 1000) {
		if err != nil {
			fmt.Println(err)
			return
		}
		n++
	}
	fmt.Println(n, "users,", srv.Stats().Requests, "requests")
	// Output: 1000 users, 5 requests
}

// Failures that survive the retries are typed.
func ExampleResponseError() {
	srv, err := randomusertest.NewServer()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer srv.Close()
	srv.Inject(randomusertest.TooManyRequests(time.Hour))

	c, err := randomuser.New(randomuser.WithBaseURL(srv.BaseURL()))
	if err != nil {
		fmt.Println(err)
		return
	}
	_, err = c.Fetch(context.Background(), randomuser.Query{})
	var re *randomuser.ResponseError
	if errors.As(err, &re) {
		fmt.Println(re.StatusCode, re.RetryAfter, errors.Is(err, randomuser.ErrRateLimited))
	}
	// Output: 429 1h0m0s true
}

func ExampleQuery_Validate() {
	// The API would quietly answer results=6000 with a single user.
	err := randomuser.Query{Results: 6000}.Validate()
	fmt.Println(errors.Is(err, randomuser.ErrInvalidQuery))
	fmt.Println(err)
	// Output:
	// true
	// randomuser: invalid query: results 6000 is not within 1-5000
}

// Decode a saved response.
func ExampleDecoder() {
	f, err := os.Open("testdata/factsheet_gb.json")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer f.Close()
	dec := randomuser.NewDecoder(f)
	for {
		var u randomuser.User
		if err := dec.Decode(&u); err != nil {
			if !errors.Is(err, io.EOF) {
				fmt.Println(err)
			}
			break
		}
		fmt.Println(u.Name.First, u.Name.Last, u.Location.Postcode, u.DOB.Date.Format(time.RFC3339Nano), u.Login.Password == "")
	}
	info, _ := dec.Info()
	fmt.Println(info.Seed, info.Version)
	// Output:
	// Sebastian Bailey C4S 0YR 1952-12-25T09:25:24.013Z true
	// factsheet 1.4
}

// Record the client's metrics on a registry that /metrics serves. Clients
// given the same registry share the series.
func ExampleWithMetrics() {
	srv, err := randomusertest.NewServer()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer srv.Close()

	reg := prometheus.NewRegistry()
	c, err := randomuser.New(randomuser.WithBaseURL(srv.BaseURL()), randomuser.WithMetrics(reg))
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, err := range c.Users(context.Background(), randomuser.Query{Seed: "metrics", Results: 500}, 1200) {
		if err != nil {
			fmt.Println(err)
			return
		}
	}
	// An application serves reg with promhttp.HandlerFor(reg, promhttp.HandlerOpts{}).
	mfs, err := reg.Gather()
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, mf := range mfs {
		m := mf.GetMetric()[0]
		switch mf.GetType() {
		case dto.MetricType_COUNTER:
			fmt.Println(mf.GetName(), m.GetCounter().GetValue())
		case dto.MetricType_HISTOGRAM:
			fmt.Println(mf.GetName(), "count", m.GetHistogram().GetSampleCount())
		}
	}
	// Output:
	// userstream_fetch_errors_total 0
	// userstream_fetch_page_seconds count 3
	// userstream_users_fetched_total 1200
}
