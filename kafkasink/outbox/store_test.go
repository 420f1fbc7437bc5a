package outbox_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/userstream/userstream/internal/testenv"
	"github.com/userstream/userstream/internal/testrows"
	"github.com/userstream/userstream/kafkasink/outbox"
	"github.com/userstream/userstream/runledger"
	"github.com/userstream/userstream/transform"
)

func TestNewStoreRejectsBadSchemaNames(t *testing.T) {
	pool := newPool(t) // lazy: no connection is made
	for _, name := range []string{"", "Users", "1abc", "a-b", "pg_catalog", `x"; DROP TABLE y; --`, strings.Repeat("a", 57)} {
		if _, err := outbox.NewStore(pool, outbox.WithSchema(name)); err == nil {
			t.Errorf("NewStore(Schema(%q)) succeeded, want an error", name)
		}
	}
	if _, err := outbox.NewStore(nil); err == nil {
		t.Error("NewStore(nil) succeeded")
	}
	if _, err := outbox.NewStore(pool, outbox.WithSchema(strings.Repeat("a", 56))); err != nil {
		t.Errorf("56-byte schema name: %v", err)
	}
}

func TestMigrateIsIdempotentAndConcurrent(t *testing.T) {
	t.Parallel()
	pool := newPool(t)
	ctx := testContext(t, 30*time.Second)
	schema := testenv.Name(t, "ob")
	dropSchemaAtCleanup(t, pool, schema)
	store, err := outbox.NewStore(pool, outbox.WithSchema(schema))
	if err != nil {
		t.Fatal(err)
	}

	// Several processes starting at once all migrate.
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Go(func() { errs[i] = store.Migrate(ctx) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("concurrent Migrate %d: %v", i, err)
		}
	}
	if err := store.Migrate(ctx); err != nil {
		t.Fatalf("Migrate again: %v", err)
	}

	var versions []int
	rows, _ := pool.Query(ctx, "SELECT version FROM "+pgx.Identifier{schema, "schema_version"}.Sanitize()+" ORDER BY version")
	versions, err = pgx.CollectRows(rows, pgx.RowTo[int])
	if err != nil {
		t.Fatal(err)
	}
	if len(versions) != outbox.SchemaVersion || versions[len(versions)-1] != outbox.SchemaVersion {
		t.Fatalf("schema_version has %v, want 1..%d once each", versions, outbox.SchemaVersion)
	}

	// A database migrated by a newer release is left alone.
	if _, err := pool.Exec(ctx, "INSERT INTO "+pgx.Identifier{schema, "schema_version"}.Sanitize()+" (version, description) VALUES (999, 'from the future')"); err != nil {
		t.Fatal(err)
	}
	if err := store.Migrate(ctx); !errors.Is(err, outbox.ErrSchemaTooNew) {
		t.Fatalf("Migrate on a newer schema = %v, want ErrSchemaTooNew", err)
	}
}

func TestStageNotMigrated(t *testing.T) {
	t.Parallel()
	pool := newPool(t)
	store, err := outbox.NewStore(pool, outbox.WithSchema(testenv.Name(t, "ob")))
	if err != nil {
		t.Fatal(err)
	}
	for _, threshold := range []int{1, 1000} {
		store, _ := outbox.NewStore(pool, outbox.WithSchema(store.Schema()), outbox.WithCopyThreshold(threshold))
		_, err := store.Stage(testContext(t, 10*time.Second), "run", testrows.Rows(3))
		if !errors.Is(err, outbox.ErrNotMigrated) {
			t.Errorf("CopyThreshold %d: Stage before Migrate = %v, want ErrNotMigrated", threshold, err)
		}
		if err != nil && !strings.Contains(err.Error(), "Migrate") {
			t.Errorf("error %q does not say to migrate", err)
		}
	}
}

// TestStageDuplicates runs through both staging paths.
func TestStageDuplicates(t *testing.T) {
	t.Parallel()
	pool := newPool(t)
	for _, tc := range []struct {
		name      string
		threshold int
	}{{"insert", 1 << 30}, {"copy", 1}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			store := newStore(t, pool, outbox.WithCopyThreshold(tc.threshold))
			ctx := testContext(t, 30*time.Second)
			rows := testrows.Rows(10)
			// Rows 8 and 9 repeat rows 0 and 1, the second in upper case:
			// one user, fetched twice in one page.
			page := append([]transform.Row(nil), rows[:8]...)
			page = append(page, rows[0])
			up := rows[1]
			up.ID = strings.ToUpper(up.ID)
			page = append(page, up)

			res, err := store.Stage(ctx, "run-1", page)
			if err != nil {
				t.Fatal(err)
			}
			if want := (outbox.StageResult{Staged: 8, Duplicates: 2}); res != want {
				t.Fatalf("first page: %+v, want %+v", res, want)
			}
			// The next page overlaps: rows 4..7 again, 8 and 9 new.
			res, err = store.Stage(ctx, "run-2", rows[4:])
			if err != nil {
				t.Fatal(err)
			}
			if want := (outbox.StageResult{Staged: 2, Duplicates: 4}); res != want {
				t.Fatalf("second page: %+v, want %+v", res, want)
			}
			if c := counts(t, store); c != (outbox.Counts{Pending: 10}) {
				t.Fatalf("Counts = %+v, want 10 pending", c)
			}

			// The row is stored as its wire JSON, with run id and fetch time.
			var (
				payload   []byte
				runID     string
				fetchedAt time.Time
			)
			err = pool.QueryRow(ctx, "SELECT payload, run_id, fetched_at FROM "+
				pgx.Identifier{store.Schema(), "outbox"}.Sanitize()+" WHERE id = $1", rows[9].ID).
				Scan(&payload, &runID, &fetchedAt)
			if err != nil {
				t.Fatal(err)
			}
			got, err := transform.Unmarshal(payload)
			if err != nil || got != rows[9] {
				t.Errorf("payload decodes to %+v, %v; want %+v", got, err, rows[9])
			}
			if runID != "run-2" || time.Since(fetchedAt) > time.Minute {
				t.Errorf("run_id %q, fetched_at %v", runID, fetchedAt)
			}
		})
	}
}

func TestStageCopyLargePage(t *testing.T) {
	t.Parallel()
	pool := newPool(t)
	store := newStore(t, pool)
	ctx := testContext(t, 60*time.Second)
	rows := testrows.Rows(10000)
	page := append(rows, rows[:500]...) // 500 users fetched twice
	start := time.Now()
	res, err := store.Stage(ctx, "big", page)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("staged %d rows (+%d duplicates) in %v", res.Staged, res.Duplicates, time.Since(start))
	if want := (outbox.StageResult{Staged: 10000, Duplicates: 500}); res != want {
		t.Fatalf("Stage = %+v, want %+v", res, want)
	}
	// Again, all duplicates: nothing staged.
	res, err = store.Stage(ctx, "big-again", rows)
	if err != nil {
		t.Fatal(err)
	}
	if want := (outbox.StageResult{Staged: 0, Duplicates: 10000}); res != want {
		t.Fatalf("Stage again = %+v, want %+v", res, want)
	}
	if c := counts(t, store); c.Pending != 10000 {
		t.Fatalf("pending %d, want 10000", c.Pending)
	}
}

func TestStageInvalidRowStagesNothing(t *testing.T) {
	t.Parallel()
	pool := newPool(t)
	store := newStore(t, pool)
	rows := testrows.Rows(300) // above the COPY threshold
	rows[123].Email = "not an address"
	_, err := store.Stage(testContext(t, 10*time.Second), "run", rows)
	var ire *outbox.InvalidRowError
	var verr *transform.ValidationError
	if !errors.As(err, &ire) || ire.Index != 123 || !errors.As(err, &verr) {
		t.Fatalf("Stage = %v, want an InvalidRowError for row 123 wrapping a ValidationError", err)
	}
	if strings.Contains(err.Error(), "not an address") {
		t.Errorf("error %q contains the field's value", err)
	}
	if c := counts(t, store); c != (outbox.Counts{}) {
		t.Fatalf("Counts = %+v, want nothing staged", c)
	}
	if _, err := store.Stage(context.Background(), "", testrows.Rows(1)); err == nil {
		t.Error("Stage with an empty run id succeeded")
	}
}

func TestConcurrentStagesOfOverlappingPages(t *testing.T) {
	t.Parallel()
	pool := newPool(t)
	store := newStore(t, pool, outbox.WithCopyThreshold(50))
	ctx := testContext(t, 30*time.Second)
	rows := testrows.Rows(400)
	// Eight pages of 200 overlapping rows, in different orders, staged at
	// once: no deadlock, and every user staged once.
	var wg sync.WaitGroup
	results := make([]outbox.StageResult, 8)
	errs := make([]error, 8)
	for i := range 8 {
		page := append([]transform.Row(nil), rows[i*25:i*25+200]...)
		if i%2 == 1 {
			for a, b := 0, len(page)-1; a < b; a, b = a+1, b-1 {
				page[a], page[b] = page[b], page[a]
			}
		}
		wg.Go(func() { results[i], errs[i] = store.Stage(ctx, "run", page) })
	}
	wg.Wait()
	staged := 0
	for i := range 8 {
		if errs[i] != nil {
			t.Fatalf("Stage %d: %v", i, errs[i])
		}
		staged += results[i].Staged
	}
	if want := 7*25 + 200; staged != want {
		t.Fatalf("staged %d in all, want %d", staged, want)
	}
}

func TestStagePermissionDenied(t *testing.T) {
	t.Parallel()
	pool := newPool(t)
	store := newStore(t, pool)
	ctx := testContext(t, 10*time.Second)
	// The owner can revoke its own privilege: enough to see the error a
	// role without INSERT gets.
	if _, err := pool.Exec(ctx, "REVOKE INSERT ON "+pgx.Identifier{store.Schema(), "outbox"}.Sanitize()+" FROM CURRENT_USER"); err != nil {
		t.Fatal(err)
	}
	_, err := store.Stage(ctx, "run", testrows.Rows(2))
	if !outbox.IsPermissionDenied(err) {
		t.Fatalf("Stage = %v, want a permission error", err)
	}
	var oe *outbox.Error
	if !errors.As(err, &oe) || oe.Op != "stage" || oe.Schema != store.Schema() {
		t.Fatalf("Stage = %#v, want an *outbox.Error of op stage", err)
	}
	for _, want := range []string{"stage", store.Schema(), "permission denied", "42501", "privilege"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}

// TestMigrateFromVersion1 upgrades a version 1 table, whose rows carry
// their own publish state, to the relay position: every row version 1 had
// not published goes out, rejected ones too (consumers dead-letter them),
// with the payloads intact.
func TestMigrateFromVersion1(t *testing.T) {
	t.Parallel()
	pool := newPool(t)
	ctx := testContext(t, 30*time.Second)
	schema := testenv.Name(t, "ob")
	store, err := outbox.NewStore(pool, outbox.WithSchema(schema))
	if err != nil {
		t.Fatal(err)
	}
	dropSchemaAtCleanup(t, pool, schema)
	if err := store.MigrateTo(ctx, 1); err != nil {
		t.Fatal(err)
	}
	// Ten rows, staged one by one so that seq follows the slice: 0-4 and 9
	// published, 5 rejected, 6-8 pending.
	rows := testrows.Rows(10)
	stageOld(t, pool, schema, "v1", rows)
	table := pgx.Identifier{schema, "outbox"}.Sanitize()
	if _, err := pool.Exec(ctx, "UPDATE "+table+" SET published_at = now() WHERE id = ANY($1::uuid[])",
		[]string{rows[0].ID, rows[1].ID, rows[2].ID, rows[3].ID, rows[4].ID, rows[9].ID}); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, "UPDATE "+table+" SET rejected_at = now(), last_error = 'bad' WHERE id = $1", rows[5].ID); err != nil {
		t.Fatal(err)
	}

	if err := store.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	// Row 9 was published after the oldest unpublished row (5): it is
	// counted pending again, and goes out once more.
	if c := counts(t, store); c != (outbox.Counts{Pending: 5, Published: 5}) {
		t.Fatalf("Counts after the upgrade = %+v", c)
	}
	p := &fakeProducer{}
	relay, err := outbox.NewRelay(store, p)
	if err != nil {
		t.Fatal(err)
	}
	drain(t, relay, store, 10*time.Second)
	var got []string
	for i, e := range p.produced() {
		got = append(got, e.ID)
		if row, err := transform.Unmarshal(e.Value); err != nil || row != rows[5+i] {
			t.Errorf("relayed payload %s decodes to %+v, %v; want %+v", e.Value, row, err, rows[5+i])
		}
	}
	if want := ids(rows[5:]); !slices.Equal(got, want) {
		t.Fatalf("relayed %v, want rows 5-9 %v", got, want)
	}
}

func TestPendingCountsUnpublishedRows(t *testing.T) {
	t.Parallel()
	pool := newPool(t)
	store := newStore(t, pool)
	ctx := testContext(t, 30*time.Second)
	pending := func() int64 {
		t.Helper()
		n, err := store.Pending(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := pending(); n != 0 {
		t.Fatalf("Pending = %d on an empty outbox", n)
	}
	if _, err := store.Stage(ctx, "run", testrows.Rows(7)); err != nil {
		t.Fatal(err)
	}
	relay, err := outbox.NewRelay(store, &fakeProducer{}, outbox.WithRoundSize(5))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []int64{7, 2, 0} {
		if n := pending(); n != want {
			t.Fatalf("Pending = %d, want %d", n, want)
		}
		if c := counts(t, store); c.Pending != want {
			t.Fatalf("Counts().Pending = %d, want %d like Pending", c.Pending, want)
		}
		if _, err := relay.RelayOnce(ctx); err != nil {
			t.Fatal(err)
		}
	}
}

// TestMigrateBesideRunLedger: the outbox and the run ledger share a schema
// in the examples, and processes that start together migrate both at
// once, each package under its own advisory lock. Concurrent creations of
// one schema fail with a unique violation unless each side takes "it
// exists now" for done; the fault suite's producer crashed on it at start.
func TestMigrateBesideRunLedger(t *testing.T) {
	t.Parallel()
	pool := newPool(t)
	ctx := testContext(t, time.Minute)
	for i := range 20 {
		schema := testenv.Name(t, fmt.Sprintf("obrl%d", i))
		dropSchemaAtCleanup(t, pool, schema)
		store, err := outbox.NewStore(pool, outbox.WithSchema(schema))
		if err != nil {
			t.Fatal(err)
		}
		ledger, err := runledger.New(pool, runledger.WithSchema(schema))
		if err != nil {
			t.Fatal(err)
		}
		start := make(chan struct{})
		var wg sync.WaitGroup
		var storeErr, ledgerErr error
		wg.Go(func() { <-start; storeErr = store.Migrate(ctx) })
		wg.Go(func() { <-start; ledgerErr = ledger.Migrate(ctx) })
		close(start)
		wg.Wait()
		if storeErr != nil || ledgerErr != nil {
			t.Fatalf("round %d, schema %s: outbox Migrate: %v; run ledger Migrate: %v", i, schema, storeErr, ledgerErr)
		}
	}
}
