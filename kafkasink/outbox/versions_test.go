package outbox_test

import (
	"bytes"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/userstream/userstream/internal/testenv"
	"github.com/userstream/userstream/internal/testrows"
	"github.com/userstream/userstream/kafkasink/outbox"
	"github.com/userstream/userstream/transform"
)

// storedVersion is a row of the outbox table.
type storedVersion struct {
	seq, version int64
	id           string
	deleted      bool
	payload      *string
	runID        string
}

// tableVersions reads every row of the outbox in seq order, and checks
// that versions increase strictly with seq and are microsecond times near
// now.
func tableVersions(tb testing.TB, pool *pgxpool.Pool, schema string) []storedVersion {
	tb.Helper()
	rows, err := pool.Query(testContext(tb, 10*time.Second), "SELECT seq, version, id::text, deleted, payload::text, run_id FROM "+
		pgx.Identifier{schema, "outbox"}.Sanitize()+" ORDER BY seq")
	if err != nil {
		tb.Fatal(err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (v storedVersion, err error) {
		err = r.Scan(&v.seq, &v.version, &v.id, &v.deleted, &v.payload, &v.runID)
		return v, err
	})
	if err != nil {
		tb.Fatal(err)
	}
	for i, v := range out {
		if i > 0 && v.version <= out[i-1].version {
			tb.Fatalf("seq %d has version %d, not above seq %d's %d", v.seq, v.version, out[i-1].seq, out[i-1].version)
		}
		if d := time.Since(time.UnixMicro(v.version)); d < -time.Minute || d > 365*24*time.Hour {
			tb.Fatalf("seq %d: version %d is not a recent time in microseconds", v.seq, v.version)
		}
	}
	return out
}

func stagePaths() []struct {
	name      string
	threshold int
} {
	return []struct {
		name      string
		threshold int
	}{{"insert", 1 << 30}, {"copy", 1}}
}

// TestStageVersions: through both staging paths, the same content is a
// duplicate, changed content a new version (an update), repeats in a
// page are compared with the row before them, and versions increase
// strictly in seq order.
func TestStageVersions(t *testing.T) {
	t.Parallel()
	pool := newPool(t)
	for _, tc := range stagePaths() {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			store := newStore(t, pool, outbox.WithCopyThreshold(tc.threshold))
			ctx := testContext(t, 30*time.Second)
			stage := func(runID string, rows []transform.Row, want outbox.StageResult) {
				t.Helper()
				res, err := store.Stage(ctx, runID, rows)
				if err != nil || res != want {
					t.Fatalf("Stage(%s) = %+v, %v; want %+v", runID, res, err, want)
				}
			}
			rows := testrows.Rows(6)
			stage("r1", rows[:4], outbox.StageResult{Staged: 4})
			stage("r2", rows[:4], outbox.StageResult{Duplicates: 4})
			// Users 0 and 1 changed; 2 and 3 did not; 4 and 5 are new.
			next := slices.Concat(changed(rows[:2]), rows[2:])
			stage("r3", next, outbox.StageResult{Staged: 4, Duplicates: 2, Updates: 2})
			// In one page: user 2 twice the same (a duplicate of the
			// table, then of the row before it), user 3 changed then
			// changed back (three versions: two new, the last equal to
			// the first, but not to the row before it), user 4 changed
			// then the same again (one version, one duplicate).
			page := []transform.Row{rows[2], rows[2], changed(rows[3:4])[0], rows[3], changed(rows[4:5])[0], changed(rows[4:5])[0]}
			stage("r4", page, outbox.StageResult{Staged: 3, Duplicates: 3, Updates: 3})

			all := tableVersions(t, pool, store.Schema())
			var got []string
			for _, v := range all {
				got = append(got, v.runID+":"+v.id)
			}
			want := []string{
				"r1:" + rows[0].ID, "r1:" + rows[1].ID, "r1:" + rows[2].ID, "r1:" + rows[3].ID,
				"r3:" + rows[0].ID, "r3:" + rows[1].ID, "r3:" + rows[4].ID, "r3:" + rows[5].ID,
				"r4:" + rows[3].ID, "r4:" + rows[3].ID, "r4:" + rows[4].ID,
			}
			if !slices.Equal(got, want) {
				t.Fatalf("versions in seq order:\n%v\nwant\n%v", got, want)
			}
			latest, err := store.Latest(ctx, ids(rows))
			if err != nil || len(latest) != 6 {
				t.Fatalf("Latest = %v, %v", latest, err)
			}
			wantRows := map[string]transform.Row{}
			for i, r := range slices.Concat(changed(rows[:2]), rows[2:4], changed(rows[4:5]), rows[5:]) {
				wantRows[rows[i].ID] = r
			}
			for _, v := range latest {
				if r, err := transform.Unmarshal(v.Payload); err != nil || r != wantRows[v.ID] {
					t.Errorf("latest of %s: %s, %v; want %+v", v.ID, v.Payload, err, wantRows[v.ID])
				}
			}
		})
	}
}

// TestStageDeletes: a delete is a version with no payload; a delete of a
// deleted user, or repeated in the call, is a duplicate; a delete of a
// user the outbox never had is staged; a user staged after a delete is a
// new version again.
func TestStageDeletes(t *testing.T) {
	t.Parallel()
	pool := newPool(t)
	for _, tc := range stagePaths() {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			store := newStore(t, pool, outbox.WithCopyThreshold(tc.threshold))
			ctx := testContext(t, 30*time.Second)
			rows := testrows.Rows(3)
			if _, err := store.Stage(ctx, "r1", rows); err != nil {
				t.Fatal(err)
			}
			unknown := testrows.UUID()
			del := func(ids []string, want outbox.StageResult) {
				t.Helper()
				res, err := store.StageDeletes(ctx, "del", ids)
				if err != nil || res != want {
					t.Fatalf("StageDeletes = %+v, %v; want %+v", res, err, want)
				}
			}
			del([]string{rows[0].ID, unknown, rows[0].ID}, outbox.StageResult{Staged: 2, Duplicates: 1, Updates: 1})
			del([]string{rows[0].ID, unknown, rows[1].ID}, outbox.StageResult{Staged: 1, Duplicates: 2, Updates: 1})
			// Staged again after its deletion: a new version.
			res, err := store.Stage(ctx, "r2", rows)
			if want := (outbox.StageResult{Staged: 2, Duplicates: 1, Updates: 2}); err != nil || res != want {
				t.Fatalf("Stage after the deletes = %+v, %v; want %+v", res, err, want)
			}
			all := tableVersions(t, pool, store.Schema())
			if len(all) != 8 {
				t.Fatalf("%d versions, want 8", len(all))
			}
			for _, v := range all {
				if v.deleted != (v.payload == nil) || v.deleted != (v.runID == "del") {
					t.Errorf("version %+v: deleted %v with payload %v", v, v.deleted, v.payload)
				}
			}
			latest, err := store.Latest(ctx, []string{unknown, rows[2].ID})
			if err != nil || len(latest) != 2 {
				t.Fatalf("Latest = %+v, %v", latest, err)
			}
			for _, v := range latest {
				if v.ID == unknown && (!v.Deleted || v.Payload != nil) || v.ID != unknown && (v.Deleted || v.Payload == nil) {
					t.Errorf("Latest: %+v", v)
				}
			}

			// Ids are checked before any I/O.
			var ie *outbox.InvalidIDError
			for _, bad := range []string{strings.ToUpper(rows[0].ID), "x", rows[0].ID + "0"} {
				if _, err := store.StageDeletes(ctx, "del", []string{rows[1].ID, bad}); !errors.As(err, &ie) || ie.Index != 1 {
					t.Errorf("StageDeletes(%q) = %v, want an InvalidIDError of index 1", bad, err)
				}
			}
			if _, err := store.StageDeletes(ctx, "", []string{rows[0].ID}); err == nil {
				t.Error("StageDeletes with an empty run id succeeded")
			}
		})
	}
}

// TestConcurrentStagersOfOneContent: stagers of overlapping pages with the
// same content, at once, stage exactly one version per user (each sees
// the others' commits), and versions still increase with seq.
func TestConcurrentStagersOfOneContent(t *testing.T) {
	t.Parallel()
	pool := newPool(t)
	store := newStore(t, pool, outbox.WithCopyThreshold(50))
	ctx := testContext(t, time.Minute)
	rows := testrows.Rows(400)
	for round := range 2 {
		if round == 1 {
			rows = changed(rows) // then all of them changed, at once
		}
		var wg sync.WaitGroup
		results := make([]outbox.StageResult, 8)
		errs := make([]error, 8)
		for i := range 8 {
			page := slices.Clone(rows[i*25 : i*25+225])
			if i%2 == 1 {
				slices.Reverse(page)
			}
			if i%4 == 3 {
				page = page[:40] // the small path too
			}
			wg.Go(func() { results[i], errs[i] = store.Stage(ctx, "run", page) })
		}
		wg.Wait()
		staged, updates := 0, 0
		for i := range 8 {
			if errs[i] != nil {
				t.Fatalf("Stage %d: %v", i, errs[i])
			}
			staged += results[i].Staged
			updates += results[i].Updates
		}
		if want := 7*25 + 225; staged != want || updates != round*want {
			t.Fatalf("round %d: staged %d (updates %d), want %d (%d)", round, staged, updates, want, round*want)
		}
	}
	perID := map[string]int{}
	for _, v := range tableVersions(t, pool, store.Schema()) {
		perID[v.id]++
	}
	for id, n := range perID {
		if n != 2 {
			t.Errorf("user %s has %d versions, want 2", id, n)
		}
	}
}

// TestRepublish: the latest version goes out again as a newer version of
// the same content; unknown ids are skipped.
func TestRepublish(t *testing.T) {
	t.Parallel()
	pool := newPool(t)
	store := newStore(t, pool)
	ctx := testContext(t, 30*time.Second)
	rows := testrows.Rows(3)
	if _, err := store.Stage(ctx, "r1", rows); err != nil {
		t.Fatal(err)
	}
	if _, err := store.StageDeletes(ctx, "del", []string{rows[2].ID}); err != nil {
		t.Fatal(err)
	}
	before, err := store.Latest(ctx, ids(rows))
	if err != nil {
		t.Fatal(err)
	}
	n, err := store.Republish(ctx, "repair", []string{rows[0].ID, testrows.UUID(), rows[2].ID, rows[0].ID})
	if n != 2 || err != nil {
		t.Fatalf("Republish = %d, %v; want 2", n, err)
	}
	after, err := store.Latest(ctx, ids(rows))
	if err != nil {
		t.Fatal(err)
	}
	old := map[string]outbox.Version{}
	for _, v := range before {
		old[v.ID] = v
	}
	for _, v := range after {
		o := old[v.ID]
		if v.ID == rows[1].ID {
			if !sameVersion(v, o) {
				t.Errorf("user 1, not republished, changed: %+v -> %+v", o, v)
			}
			continue
		}
		if v.Version <= o.Version || v.Seq <= o.Seq || v.RunID != "repair" ||
			string(v.Payload) != string(o.Payload) || v.Deleted != o.Deleted {
			t.Errorf("republished %+v, from %+v: want a newer version of the same content", v, o)
		}
	}
	tableVersions(t, pool, store.Schema()) // versions still increase with seq
	// Duplicates of the republished content are duplicates still.
	if res, err := store.Stage(ctx, "r2", rows[:2]); err != nil || res.Staged != 0 {
		t.Fatalf("Stage of the same rows = %+v, %v", res, err)
	}
	var ie *outbox.InvalidIDError
	if _, err := store.Republish(ctx, "repair", []string{"nope"}); !errors.As(err, &ie) {
		t.Fatalf("Republish(nope) = %v, want an InvalidIDError", err)
	}
}

// TestEachLatest pages through every user's latest version, across a page
// boundary, and with a run filter only through the users of that run.
func TestEachLatest(t *testing.T) {
	t.Parallel()
	pool := newPool(t)
	store := newStore(t, pool)
	ctx := testContext(t, time.Minute)
	rows := testrows.Rows(5100)
	if _, err := store.Stage(ctx, "all", rows); err != nil {
		t.Fatal(err)
	}
	// 30 users get a second version in run "some", 20 are deleted in "gone".
	if _, err := store.Stage(ctx, "some", changed(rows[100:130])); err != nil {
		t.Fatal(err)
	}
	if _, err := store.StageDeletes(ctx, "gone", ids(rows[120:140])); err != nil {
		t.Fatal(err)
	}
	read := func(runID string) (map[string]outbox.Version, []int) {
		t.Helper()
		got := map[string]outbox.Version{}
		var sizes []int
		last := ""
		err := store.EachLatest(ctx, runID, func(page []outbox.Version) error {
			sizes = append(sizes, len(page))
			for _, v := range page {
				if v.ID <= last {
					t.Fatalf("id %s after %s: not in id order", v.ID, last)
				}
				last = v.ID
				got[v.ID] = v
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return got, sizes
	}
	all, sizes := read("")
	if len(all) != 5100 || !slices.Equal(sizes, []int{5000, 100}) {
		t.Fatalf("EachLatest read %d users in pages %v, want 5100 in 5000 and 100", len(all), sizes)
	}
	for i, r := range rows {
		v := all[r.ID]
		switch {
		case i >= 120 && i < 140:
			if !v.Deleted || v.RunID != "gone" || v.Payload != nil {
				t.Fatalf("user %d: %+v, want the delete", i, v)
			}
		case i >= 100 && i < 120:
			if want, _ := transform.Marshal(changed(rows[i : i+1])[0]); v.RunID != "some" || string(v.Payload) != string(want) {
				t.Fatalf("user %d: %+v, want the second version", i, v)
			}
		default:
			if v.RunID != "all" || v.Deleted || time.Since(v.FetchedAt) > time.Minute {
				t.Fatalf("user %d: %+v, want the first version", i, v)
			}
		}
	}
	some, sizes := read("some")
	if len(some) != 30 || !slices.Equal(sizes, []int{30}) {
		t.Fatalf("EachLatest(some) read %d users in pages %v, want 30", len(some), sizes)
	}
	for id, v := range some {
		if !sameVersion(v, all[id]) {
			t.Fatalf("EachLatest(some) of %s = %+v, want the latest version %+v", id, v, all[id])
		}
	}
	if none, _ := read("no such run"); len(none) != 0 {
		t.Fatalf("EachLatest of an unknown run read %d users", len(none))
	}
	stop := errors.New("stop")
	if err := store.EachLatest(ctx, "", func([]outbox.Version) error { return stop }); err != stop {
		t.Fatalf("EachLatest = %v, want fn's error", err)
	}
}

// TestMigrateFromVersion3WithRows: a version 3 outbox with published and
// pending rows becomes versioned in place: backfilled versions increase
// with seq, from the rows' fetch time; the relay resumes and publishes
// the pending rows with their versions; new stages version after them,
// and a user staged before compares with its version.
func TestMigrateFromVersion3WithRows(t *testing.T) {
	t.Parallel()
	pool := newPool(t)
	ctx := testContext(t, 30*time.Second)
	schema := testenv.Name(t, "ob")
	store, err := outbox.NewStore(pool, outbox.WithSchema(schema))
	if err != nil {
		t.Fatal(err)
	}
	dropSchemaAtCleanup(t, pool, schema)
	if err := store.MigrateTo(ctx, 3); err != nil {
		t.Fatal(err)
	}
	rows := testrows.Rows(10)
	stageOld(t, pool, schema, "v3", rows)
	// Rows 0-5 published, by a relay of version 3.
	if _, err := pool.Exec(ctx, "UPDATE "+pgx.Identifier{schema, "outbox_position"}.Sanitize()+
		" SET position = (SELECT seq FROM "+pgx.Identifier{schema, "outbox"}.Sanitize()+" WHERE id = $1), topic = 'fake'", rows[5].ID); err != nil {
		t.Fatal(err)
	}
	if err := store.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	backfilled := tableVersions(t, pool, schema) // strictly increasing with seq
	if len(backfilled) != 10 {
		t.Fatalf("%d rows after the upgrade, want 10", len(backfilled))
	}
	if c := counts(t, store); c != (outbox.Counts{Pending: 4, Published: 6}) {
		t.Fatalf("Counts after the upgrade = %+v", c)
	}
	p := &fakeProducer{}
	relay, err := outbox.NewRelay(store, p)
	if err != nil {
		t.Fatal(err)
	}
	drain(t, relay, store, 10*time.Second)
	got := p.produced()
	if len(got) != 4 {
		t.Fatalf("relayed %d rows, want 4", len(got))
	}
	for i, e := range got {
		if e.ID != rows[6+i].ID || e.Version != backfilled[6+i].version || e.Delete || e.Value == nil {
			t.Errorf("relayed %s version %d delete %v, want %s version %d", e.ID, e.Version, e.Delete, rows[6+i].ID, backfilled[6+i].version)
		}
	}
	// Staging after the upgrade: the same users are duplicates, a
	// changed one is a newer version than every backfilled one.
	res, err := store.Stage(ctx, "v4", append(changed(rows[:1]), rows[1:]...))
	if want := (outbox.StageResult{Staged: 1, Duplicates: 9, Updates: 1}); err != nil || res != want {
		t.Fatalf("Stage after the upgrade = %+v, %v; want %+v", res, err, want)
	}
	// A row inserted by hand gets its version from the column default.
	if _, err := pool.Exec(ctx, "INSERT INTO "+pgx.Identifier{schema, "outbox"}.Sanitize()+
		" (id, payload, run_id, fetched_at) VALUES ($1, '{}', 'hand', now())", testrows.UUID()); err != nil {
		t.Fatal(err)
	}
	if all := tableVersions(t, pool, schema); len(all) != 12 {
		t.Fatalf("%d rows, want 12", len(all))
	}
}

// TestRelayHandsOnVersions: each version goes to the producer with its
// version, a delete with Delete set and no value, in seq order.
func TestRelayHandsOnVersions(t *testing.T) {
	t.Parallel()
	pool := newPool(t)
	store := newStore(t, pool)
	ctx := testContext(t, 30*time.Second)
	rows := testrows.Rows(2)
	if _, err := store.Stage(ctx, "r1", rows); err != nil {
		t.Fatal(err)
	}
	if _, err := store.Stage(ctx, "r2", changed(rows[:1])); err != nil {
		t.Fatal(err)
	}
	if _, err := store.StageDeletes(ctx, "r3", ids(rows[1:])); err != nil {
		t.Fatal(err)
	}
	p := &fakeProducer{}
	relay, err := outbox.NewRelay(store, p)
	if err != nil {
		t.Fatal(err)
	}
	drain(t, relay, store, 10*time.Second)
	stored := tableVersions(t, pool, store.Schema())
	got := p.produced()
	if len(got) != len(stored) || len(got) != 4 {
		t.Fatalf("produced %d rows, want %d", len(got), len(stored))
	}
	for i, e := range got {
		s := stored[i]
		if e.ID != s.id || e.Version != s.version || e.Delete != s.deleted || (e.Value == nil) != s.deleted ||
			(s.payload != nil && string(e.Value) != *s.payload) {
			t.Errorf("produced %+v, want %+v", e, s)
		}
	}
	if !got[3].Delete || got[3].ID != rows[1].ID {
		t.Errorf("last record %+v, want the delete of user 1", got[3])
	}
}

func sameVersion(a, b outbox.Version) bool {
	return a.ID == b.ID && a.Seq == b.Seq && a.Version == b.Version && a.Deleted == b.Deleted &&
		bytes.Equal(a.Payload, b.Payload) && (a.Payload == nil) == (b.Payload == nil) &&
		a.RunID == b.RunID && a.FetchedAt.Equal(b.FetchedAt)
}
