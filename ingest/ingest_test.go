package ingest_test

import (
	"context"
	"errors"
	"iter"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/userstream/userstream/ingest"
	"github.com/userstream/userstream/internal/testenv"
	"github.com/userstream/userstream/kafkasink/outbox"
	"github.com/userstream/userstream/randomuser"
	"github.com/userstream/userstream/randomuser/randomusertest"
	"github.com/userstream/userstream/transform"
)

// memStager is an in-memory Stager with the outbox's contract: a page with
// an invalid row stages nothing and names the row; ids staged before are
// duplicates.
type memStager struct {
	mu     sync.Mutex
	ids    map[string]string // id -> run id
	calls  int
	failAt int // fail the failAt-th call (1-based); 0: never
}

var errStage = errors.New("stage failed")

func (m *memStager) Stage(_ context.Context, runID string, rows []transform.Row) (outbox.StageResult, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.calls++
	if m.calls == m.failAt {
		return outbox.StageResult{}, errStage
	}
	for i := range rows {
		if err := rows[i].Validate(); err != nil {
			return outbox.StageResult{}, &outbox.InvalidRowError{Index: i, Err: err}
		}
	}
	if m.ids == nil {
		m.ids = map[string]string{}
	}
	var res outbox.StageResult
	for _, r := range rows {
		if _, ok := m.ids[r.ID]; ok {
			res.Duplicates++
			continue
		}
		m.ids[r.ID] = runID
		res.Staged++
	}
	return res, nil
}

// api returns a client of an in-process Random User API.
func api(t *testing.T) *randomuser.Client {
	t.Helper()
	srv, err := randomusertest.NewServer()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	cl, err := randomuser.New(randomuser.WithBaseURL(srv.BaseURL()))
	if err != nil {
		t.Fatal(err)
	}
	return cl
}

// breaking yields src's users with every tenth one's email broken, and
// fails after failAfter users when that is positive.
type breaking struct {
	src       ingest.Source
	failAfter int
}

var errFetch = errors.New("API down")

func (b breaking) Users(ctx context.Context, q randomuser.Query, n int) iter.Seq2[randomuser.User, error] {
	return func(yield func(randomuser.User, error) bool) {
		i := 0
		for u, err := range b.src.Users(ctx, q, n) {
			if err == nil && b.failAfter > 0 && i == b.failAfter {
				err = errFetch
			}
			if err != nil {
				yield(randomuser.User{}, err)
				return
			}
			i++
			if i%10 == 0 {
				u.Email = "not an email"
			}
			if !yield(u, nil) {
				return
			}
		}
	}
}

// A run fetches every user, leaves the invalid ones out, stages the rest
// page by page; a second run of the seed finds them all staged.
func TestRunCountsAndPages(t *testing.T) {
	dst := &memStager{}
	var pages []ingest.Page
	var ids []string
	loop, err := ingest.New(breaking{src: api(t)}, dst, ingest.WithPageSize(100), ingest.WithPageHook(func(p ingest.Page) {
		for _, r := range p.Rows {
			ids = append(ids, r.ID)
		}
		p.Rows = nil
		pages = append(pages, p)
	}))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	res, err := loop.Run(ctx, "run-1", "ingest-test", 250)
	if err != nil {
		t.Fatal(err)
	}
	if want := (ingest.Result{Fetched: 250, Invalid: 25, Staged: 225}); res != want {
		t.Errorf("first run %+v, want %+v", res, want)
	}
	if len(pages) != 3 || pages[0].Fetched != 100 || pages[0].Invalid != 10 || pages[0].Staged != 90 || pages[2].Fetched != 50 || pages[2].Staged != 45 {
		t.Errorf("pages %+v", pages)
	}
	if len(ids) != 225 || len(dst.ids) != 225 {
		t.Errorf("hook saw %d ids, stager holds %d; want 225", len(ids), len(dst.ids))
	}
	for _, id := range ids {
		if dst.ids[id] != "run-1" {
			t.Fatalf("id %s seen by the hook is not staged", id)
		}
	}
	res, err = loop.Run(ctx, "run-2", "ingest-test", 250)
	if err != nil {
		t.Fatal(err)
	}
	if want := (ingest.Result{Fetched: 250, Invalid: 25, Duplicates: 225}); res != want {
		t.Errorf("second run %+v, want %+v", res, want)
	}
}

// A fetch failure stages what came before it and says it is a fetch
// failure; a stage failure stops the run and says so.
func TestRunErrors(t *testing.T) {
	ctx := context.Background()
	dst := &memStager{}
	loop, err := ingest.New(breaking{src: api(t), failAfter: 150}, dst, ingest.WithPageSize(100))
	if err != nil {
		t.Fatal(err)
	}
	res, err := loop.Run(ctx, "r", "fetch-fails", 300)
	var fe *ingest.FetchError
	if !errors.As(err, &fe) || !errors.Is(err, errFetch) || !strings.HasPrefix(err.Error(), "fetch: ") {
		t.Fatalf("err %v, want a FetchError of errFetch", err)
	}
	if res.Fetched != 150 || res.Staged != 135 || len(dst.ids) != 135 {
		t.Errorf("result %+v, %d staged; want the 150 fetched before the failure staged (135 valid)", res, len(dst.ids))
	}

	dst = &memStager{failAt: 2}
	loop, err = ingest.New(api(t), dst, ingest.WithPageSize(100))
	if err != nil {
		t.Fatal(err)
	}
	res, err = loop.Run(ctx, "r", "stage-fails", 300)
	if !errors.Is(err, errStage) || !strings.HasPrefix(err.Error(), "stage: ") || errors.As(err, &fe) {
		t.Fatalf("err %v, want the stage error", err)
	}
	if res.Staged != 100 || dst.calls != 2 {
		t.Errorf("result %+v after %d calls; want 100 staged, stopped at the second call", res, dst.calls)
	}
}

// A run waiting for its rate stops when ctx ends.
func TestRateStopsWithContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// At 1 user a second the second page is due 10 s after the start: the
	// hook of the first page cancels, so the wait must end with ctx.
	loop, err := ingest.New(api(t), &memStager{}, ingest.WithPageSize(10), ingest.WithRate(1),
		ingest.WithPageHook(func(ingest.Page) { cancel() }))
	if err != nil {
		t.Fatal(err)
	}
	res, err := loop.Run(ctx, "r", "rate", 20)
	if !errors.Is(err, context.Canceled) || res.Staged != 10 {
		t.Errorf("%+v, %v; want 10 staged and context.Canceled", res, err)
	}
}

func TestNewRejects(t *testing.T) {
	for name, opts := range map[string][]ingest.Opt{
		"page size 5001": {ingest.WithPageSize(5001)},
		"page size -1":   {ingest.WithPageSize(-1)},
		"negative rate":  {ingest.WithRate(-1)},
	} {
		if _, err := ingest.New(api(t), &memStager{}, opts...); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := ingest.New(nil, &memStager{}); err == nil {
		t.Error("nil source accepted")
	}
}

// userstream_users_invalid_total counts invalid users; loops handed one
// registry share it; another collector of that name fails New.
func TestMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	src := breaking{src: api(t)}
	for i := range 2 {
		loop, err := ingest.New(src, &memStager{}, ingest.WithMetrics(reg))
		if err != nil {
			t.Fatalf("loop %d: %v", i, err)
		}
		if _, err := loop.Run(context.Background(), "r", "metrics", 100); err != nil {
			t.Fatal(err)
		}
	}
	mfs, err := reg.Gather()
	if err != nil || len(mfs) != 2 || len(mfs[0].GetMetric()) != 1 || len(mfs[1].GetMetric()) != 1 {
		t.Fatalf("gathered %v, %v; want two series", mfs, err)
	}
	// Gather sorts by name.
	if got := mfs[1].GetMetric()[0].GetCounter().GetValue(); mfs[1].GetName() != "userstream_users_invalid_total" || got != 20 {
		t.Errorf("%s = %v, want 20 (10 per loop)", mfs[1].GetName(), got)
	}
	if got := mfs[0].GetMetric()[0].GetCounter().GetValue(); mfs[0].GetName() != "userstream_stage_retries_total" || got != 0 {
		t.Errorf("%s = %v, want 0", mfs[0].GetName(), got)
	}
	// A retry counts.
	loop, err := ingest.New(api(t), &flaky{errs: []error{&pgconn.PgError{Code: "08006"}}}, ingest.WithMetrics(reg))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := loop.Run(context.Background(), "r", "metrics-retry", 10); err != nil {
		t.Fatal(err)
	}
	if mfs, err = reg.Gather(); err != nil || mfs[0].GetMetric()[0].GetCounter().GetValue() != 1 {
		t.Errorf("after a retry: %v, %v; want userstream_stage_retries_total 1", mfs, err)
	}

	other := prometheus.NewRegistry()
	other.MustRegister(prometheus.NewGauge(prometheus.GaugeOpts{Name: "userstream_users_invalid_total",
		Help: "Fetched users that failed validation and were not staged."}))
	if _, err := ingest.New(src, &memStager{}, ingest.WithMetrics(other)); err == nil ||
		!strings.Contains(err.Error(), "userstream_users_invalid_total") || !strings.Contains(err.Error(), "already registered") {
		t.Errorf("a gauge of the name: %v, want an error saying so", err)
	}
}

// Against the real outbox: the users are in PostgreSQL, pending for the
// relay, and a second run stages none again.
func TestRunStagesInPostgres(t *testing.T) {
	dsn := testenv.PostgresDSN(t)
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	schema := testenv.Name(t, "ingest")
	t.Cleanup(func() { _, _ = pool.Exec(context.Background(), `DROP SCHEMA IF EXISTS `+schema+` CASCADE`) })
	store, err := outbox.NewStore(pool, outbox.WithSchema(schema))
	if err != nil {
		t.Fatal(err)
	}
	if err := store.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	loop, err := ingest.New(breaking{src: api(t)}, store, ingest.WithPageSize(200))
	if err != nil {
		t.Fatal(err)
	}
	res, err := loop.Run(ctx, "pg-1", "ingest-pg", 1000)
	if err != nil {
		t.Fatal(err)
	}
	if want := (ingest.Result{Fetched: 1000, Invalid: 100, Staged: 900}); res != want {
		t.Errorf("first run %+v, want %+v", res, want)
	}
	if pending, err := store.Pending(ctx); err != nil || pending != 900 {
		t.Errorf("pending %d, %v; want 900", pending, err)
	}
	res, err = loop.Run(ctx, "pg-2", "ingest-pg", 1000)
	if want := (ingest.Result{Fetched: 1000, Invalid: 100, Duplicates: 900}); err != nil || res != want {
		t.Errorf("second run %+v, %v; want %+v", res, err, want)
	}
}
