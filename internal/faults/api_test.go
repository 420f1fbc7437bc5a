package faults_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/userstream/userstream/internal/testenv"
	ru "github.com/userstream/userstream/randomuser/randomusertest"
	"github.com/userstream/userstream/runledger"
)

// TestAPIFaults runs the full pipeline (examples/fullpipeline, as a
// process of its own) against the offline API with faults injected. Faults the client can outlast (5xx bursts, 429 and 503 with
// Retry-After, an error body, truncated or empty pages, slow responses,
// random faults) are retried: the run succeeds with every user stored once.
// Faults it cannot (a malformed body, a lasting outage) end the run with an
// error that names the cause, and the run ledger records it; a second run of
// the same seed, once the API is healthy, completes the job exactly.
func TestAPIFaults(t *testing.T) {
	t.Parallel()
	const (
		users = 5000
		page  = 1000 // 5 pages, so faults can hit the middle of a run
	)
	bin := buildFullpipeline(t)
	ok := ru.Fault{} // lets a request through
	cases := []struct {
		name    string
		opts    []ru.Opt
		inject  []ru.Fault
		minTime time.Duration // the run waits at least this long
		slow    bool          // the faults slow requests down; nothing to retry
		wantErr string        // "" means the run succeeds
	}{
		{name: "5xx burst", inject: []ru.Fault{ok, ru.Status(500), ru.Status(502), ru.Status(503), ru.Status(504)}},
		{name: "429 with Retry-After", inject: []ru.Fault{ok, ru.TooManyRequests(2 * time.Second)}, minTime: 2 * time.Second},
		{name: "503 with Retry-After", inject: []ru.Fault{ru.Unavailable(time.Second), ru.Unavailable(time.Second)}, minTime: 2 * time.Second},
		{name: "error body with 200", inject: []ru.Fault{ok, ok, ru.ErrorBody(200)}},
		{name: "truncated pages", inject: []ru.Fault{ok, ru.Truncate(0.5), ru.Truncate(0.01), ok, ru.Truncate(0.99)}},
		{name: "empty results", inject: []ru.Fault{ru.EmptyResults(), ok, ru.EmptyResults()}},
		{name: "slow responses", opts: []ru.Opt{ru.WithLatency(200 * time.Millisecond)}, inject: []ru.Fault{ok, ru.Delay(3 * time.Second)}, minTime: 3 * time.Second, slow: true},
		{name: "random 5xx and truncation", opts: []ru.Opt{ru.WithFaultRate(0.2, ru.Status(503)), ru.WithFaultRate(0.2, ru.Truncate(0.3)), ru.WithFaultSeed(7)}},
		{name: "malformed body", inject: []ru.Fault{ok, ok, ru.Malformed()}, wantErr: "malformed"},
		{name: "lasting outage", opts: []ru.Opt{ru.WithFaultRate(1, ru.Status(503))}, inject: []ru.Fault{ok, ok}, wantErr: "503"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg := newConfig(t, "api", users)
			cfg.PageSize = page
			ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
			defer cancel()
			want, _, err := expectedIDs(ctx, cfg)
			if err != nil {
				t.Fatal(err)
			}

			srv, err := ru.NewServer(tc.opts...)
			if err != nil {
				t.Fatal(err)
			}
			defer srv.Close()
			srv.Inject(tc.inject...)
			cfg.Offline, cfg.APIURL = false, srv.BaseURL()
			logs := &testenv.Buffer{}
			start := time.Now()
			r, out, err := runFull(ctx, t, bin, cfg, logs)
			took := time.Since(start)
			if r.RunID == "" {
				t.Fatalf("fullpipeline: %v\n%s\nlogs:\n%s", err, out, tail(logs.String(), 20))
			}
			st := srv.Stats()
			t.Logf("%s: status %s in %v; %d requests, %d faults; fetched %d, stored %d; error %q",
				tc.name, r.Status, took.Round(10*time.Millisecond), st.Requests, st.Faults, r.Fetched, r.Stored, r.Error)
			if n := int64(len(tc.inject)); st.Faults < n-countOK(tc.inject) {
				t.Errorf("the server injected %d faults, want at least %d", st.Faults, n-countOK(tc.inject))
			}
			runs, lerr := ledger(ctx, cfg)
			if lerr != nil || len(runs) != 1 || runs[0].RunID != r.RunID {
				t.Fatalf("ledger = %+v, %v; want the run %s", runs, lerr, r.RunID)
			}

			if tc.wantErr == "" {
				if err != nil || r.Status != runledger.StatusSucceeded {
					t.Fatalf("run failed: %v\n%s\nlogs:\n%s", err, out, tail(logs.String(), 20))
				}
				if took < tc.minTime {
					t.Errorf("run took %v, want at least %v (was the wait honoured?)", took, tc.minTime)
				}
				if st.Faults > 0 && !tc.slow && !strings.Contains(logs.String(), "retrying") {
					t.Errorf("faults were served but no retry was logged:\n%s", tail(logs.String(), 10))
				}
				checkExact(t, r, len(want))
				if runs[0].Status != runledger.StatusSucceeded || runs[0].Error != "" || runs[0].Fetched != users {
					t.Errorf("ledger row %+v, want succeeded with %d fetched", runs[0], users)
				}
				return
			}

			// The run fails with a clear error, and the ledger says so.
			if err == nil || r.Status != runledger.StatusFailed || !strings.Contains(r.Error, tc.wantErr) {
				t.Fatalf("run: status %s, error %q (%v); want failed with %q\n%s", r.Status, r.Error, err, tc.wantErr, out)
			}
			if runs[0].Status != runledger.StatusFailed || runs[0].Error != r.Error || runs[0].Fetched != r.Fetched || runs[0].Fetched >= users {
				t.Errorf("ledger row %+v, want failed with the run's error and %d users fetched", runs[0], r.Fetched)
			}
			// Once the API is healthy, the same seed completes the job:
			// what the failed run staged is not staged again.
			healthy, err := ru.NewServer()
			if err != nil {
				t.Fatal(err)
			}
			defer healthy.Close()
			cfg.APIURL = healthy.BaseURL()
			r2, out, err := runFull(ctx, t, bin, cfg, logs)
			if err != nil || r2.Status != runledger.StatusSucceeded {
				t.Fatalf("run after recovery: %v\n%s", err, out)
			}
			if r2.Staged+r.Staged != users || r2.Duplicates != r.Staged {
				t.Errorf("after recovery staged %d (duplicates %d), first run staged %d: want %d in all", r2.Staged, r2.Duplicates, r.Staged, users)
			}
			checkExact(t, r2, len(want))
		})
	}
}

func countOK(fs []ru.Fault) int64 {
	var n int64
	for _, f := range fs {
		if f == (ru.Fault{}) {
			n++
		}
	}
	return n
}

// checkExact checks that a verified run left exactly the unique users in
// the table, every one of them, and no dead letters.
func checkExact(t *testing.T, r report, unique int) {
	t.Helper()
	v := r.Verification
	if v == nil || v.Unique != unique || v.Found != unique || r.TableRows != int64(unique) {
		t.Errorf("verification %+v, table rows %d: want all %d unique users, exactly", v, r.TableRows, unique)
	}
	if r.DeadLetters != 0 {
		t.Errorf("%d dead letters, want none", r.DeadLetters)
	}
}
