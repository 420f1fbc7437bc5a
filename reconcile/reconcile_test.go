package reconcile_test

import (
	"errors"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/userstream/userstream/cassandrastore"
	"github.com/userstream/userstream/internal/testrows"
	"github.com/userstream/userstream/kafkasink/outbox"
	"github.com/userstream/userstream/reconcile"
	"github.com/userstream/userstream/transform"
)

// The numbers: 10,000 users, of which 1,000 deleted and 1,000
// overwritten by hand.
const (
	users       = 10_000
	handDeletes = 1_000
	handUpdates = 1_000
)

// TestReconcile carries users through the whole pipeline (outbox, relay,
// Kafka, consumer, Cassandra), damages the table by hand as an operator
// in cqlsh would, and checks that Check reports exactly the damage in
// every scope, that Repair, once carried, fixes what it can, and that a
// second Check finds nothing else.
func TestReconcile(t *testing.T) {
	ctx := testContext(t, 10*time.Minute)
	src := newOutbox(t)
	tbl := newTable(t)
	p := newPipeline(t, src, tbl)
	rec, err := reconcile.New(src, tbl.Store, reconcile.WithMaxFindings(users), reconcile.WithLogger(discard()))
	if err != nil {
		t.Fatal(err)
	}

	rows := testrows.Rows(users)
	for page := range slices.Chunk(rows, 2500) {
		if _, err := src.Stage(ctx, "run-a", page); err != nil {
			t.Fatal(err)
		}
	}
	// A user staged in another run, then deleted: the pipeline deletes
	// the row.
	erased := testrows.Row(users)
	if _, err := src.Stage(ctx, "run-b", []transform.Row{erased}); err != nil {
		t.Fatal(err)
	}
	if _, err := src.StageDeletes(ctx, "run-b", []string{erased.ID}); err != nil {
		t.Fatal(err)
	}
	p.Carry(t)

	rep := check(t, rec, reconcile.Scope{})
	if rep.Compared != users+1 || rep.Differences() != 0 {
		t.Fatalf("after the pipeline carried everything: %+v, want %d compared and no difference", countsOf(rep), users+1)
	}

	// By hand, as cqlsh would (no USING TIMESTAMP: the write times are
	// the coordinator's clock, newer than every version).
	want := map[string]reconcile.Kind{}
	for _, r := range rows[:handDeletes] {
		tbl.Exec(t, "DELETE FROM "+tbl.Name+" WHERE id = ?", r.ID)
		want[r.ID] = reconcile.Missing
	}
	for i, r := range rows[handDeletes : handDeletes+handUpdates] {
		if i%2 == 0 { // one column
			tbl.Exec(t, "UPDATE "+tbl.Name+" SET email = ? WHERE id = ?", "old."+r.Email, r.ID)
		} else { // the whole row, with older values
			tbl.Exec(t, "INSERT INTO "+tbl.Name+" (id, first_name, last_name, email) VALUES (?, ?, ?, ?)", r.ID, "Old", "Name", "old@example.com")
		}
		want[r.ID] = reconcile.Stale
	}
	// A row the outbox never staged, and the erased user written back.
	stranger := testrows.Row(users + 1)
	if err := tbl.Upsert(ctx, stranger); err != nil {
		t.Fatal(err)
	}
	want[stranger.ID] = reconcile.Unexpected
	tbl.Exec(t, "INSERT INTO "+tbl.Name+" (id, first_name, last_name) VALUES (?, ?, ?)", erased.ID, "Back", "Again")
	want[erased.ID] = reconcile.Unexpected

	all := check(t, rec, reconcile.Scope{})
	if c := countsOf(all); c != (counts{Compared: users + 2, Missing: handDeletes, Stale: handUpdates, Unexpected: 2}) {
		t.Fatalf("after the damage: %+v", c)
	}
	assertFindings(t, "all", all.Findings, want)
	for _, f := range all.Findings {
		switch {
		case f.ID == stranger.ID && (f.Version != 0 || f.Repairable()):
			t.Errorf("stranger: %+v, want no version, not repairable", f)
		case f.ID == erased.ID && (!f.Deleted || f.Version == 0 || !f.Repairable()):
			t.Errorf("erased: %+v, want its delete, repairable", f)
		case f.Kind == reconcile.Missing && (f.WriteTime != 0 || f.Version == 0):
			t.Errorf("missing: %+v, want a version and no write time", f)
		case f.Kind == reconcile.Stale && f.WriteTime <= f.Version:
			t.Errorf("stale: %+v, want a write time newer than the version (written by hand)", f)
		}
	}

	// The same findings, whichever way the ring is cut.
	for _, n := range []int{1, 3} {
		r, err := reconcile.New(src, tbl.Store, reconcile.WithRanges(n), reconcile.WithMaxFindings(users))
		if err != nil {
			t.Fatal(err)
		}
		got := check(t, r, reconcile.Scope{})
		if countsOf(got) != countsOf(all) || !slices.Equal(got.Findings, all.Findings) {
			t.Errorf("WithRanges(%d): %+v, want the findings of the default: %+v", n, countsOf(got), countsOf(all))
		}
	}
	// A token range: the findings of all in it.
	var sum counts
	for _, tr := range cassandrastore.SplitRing(4) {
		got := check(t, rec, reconcile.Scope{Ranges: []cassandrastore.TokenRange{tr}})
		inRange := filter(all.Findings, func(id string) bool {
			tok, err := cassandrastore.Token(id)
			return err == nil && tr.Start <= tok && tok <= tr.End
		})
		if !slices.Equal(got.Findings, inRange) {
			t.Errorf("range %+v: %d findings, want the %d of all in it", tr, len(got.Findings), len(inRange))
		}
		c := countsOf(got)
		sum.Compared, sum.Missing, sum.Stale, sum.Unexpected = sum.Compared+c.Compared, sum.Missing+c.Missing, sum.Stale+c.Stale, sum.Unexpected+c.Unexpected
	}
	if sum != countsOf(all) {
		t.Errorf("the four ranges add up to %+v, want %+v", sum, countsOf(all))
	}
	// A run: the findings of all among the run's ids.
	for _, run := range []string{"run-a", "run-b"} {
		ids := map[string]bool{}
		if err := src.EachLatest(ctx, run, func(vs []outbox.Version) error {
			for _, v := range vs {
				ids[v.ID] = true
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		got := check(t, rec, reconcile.Scope{RunID: run})
		if wantRun := filter(all.Findings, func(id string) bool { return ids[id] }); !slices.Equal(got.Findings, wantRun) {
			t.Errorf("run %s: %d findings, want the %d of all among its %d ids", run, len(got.Findings), len(wantRun), len(ids))
		}
		if got.Compared != int64(len(ids)) {
			t.Errorf("run %s: compared %d, want its %d ids", run, got.Compared, len(ids))
		}
	}
	// A run restricted to a range.
	tr := cassandrastore.SplitRing(2)[1]
	got := check(t, rec, reconcile.Scope{RunID: "run-a", Ranges: []cassandrastore.TokenRange{tr}})
	if wantRR := filter(all.Findings, func(id string) bool {
		tok, _ := cassandrastore.Token(id)
		return id != erased.ID && id != stranger.ID && tok >= tr.Start
	}); !slices.Equal(got.Findings, wantRR) {
		t.Errorf("run-a in %+v: %d findings, want %d", tr, len(got.Findings), len(wantRR))
	}

	// Repair, carry, check again: only the stranger is left.
	n, err := rec.Repair(ctx, all, "repair-1")
	if err != nil {
		t.Fatal(err)
	}
	if n != handDeletes+handUpdates+1 {
		t.Errorf("Repair re-staged %d, want %d", n, handDeletes+handUpdates+1)
	}
	p.Carry(t)
	after := check(t, rec, reconcile.Scope{})
	if c := countsOf(after); c != (counts{Compared: users + 2, Unexpected: 1}) {
		t.Fatalf("after the repair: %+v, want only the stranger", c)
	}
	assertFindings(t, "after the repair", after.Findings, map[string]reconcile.Kind{stranger.ID: reconcile.Unexpected})
	if _, err := tbl.Get(ctx, erased.ID); !errors.Is(err, cassandrastore.ErrNotFound) {
		t.Errorf("the erased user after the repair: %v, want not found", err)
	}
	for _, r := range rows[:handDeletes+handUpdates] {
		if st, err := tbl.Get(ctx, r.ID); err != nil || st != r {
			t.Fatalf("row %s after the repair: %+v, %v; want %+v", r.ID, st, err, r)
		}
	}
	// The stranger is never repaired: nothing says what it should be.
	// Deleted by hand, nothing differs.
	tbl.Exec(t, "DELETE FROM "+tbl.Name+" WHERE id = ?", stranger.ID)
	if rep := check(t, rec, reconcile.Scope{}); rep.Differences() != 0 || rep.Compared != users+1 {
		t.Fatalf("with the stranger gone: %+v, want %d compared and no difference", countsOf(rep), users+1)
	}
}

// TestRepairTruncated checks that a report keeping fewer findings than it
// counted repairs those it kept and says so.
func TestRepairTruncated(t *testing.T) {
	ctx := testContext(t, 5*time.Minute)
	src := newOutbox(t)
	tbl := newTable(t)
	rows := testrows.Rows(10)
	if _, err := src.Stage(ctx, "run-t", rows); err != nil {
		t.Fatal(err)
	}
	// Nothing carried: all ten missing.
	rec, err := reconcile.New(src, tbl.Store, reconcile.WithMaxFindings(4))
	if err != nil {
		t.Fatal(err)
	}
	rep, err := rec.Check(ctx, reconcile.Scope{})
	if err != nil {
		t.Fatal(err)
	}
	if c := countsOf(rep); c != (counts{Compared: 10, Missing: 10}) || len(rep.Findings) != 4 || !rep.Truncated {
		t.Fatalf("%+v, %d findings, truncated %v; want 10 missing, 4 kept, truncated", c, len(rep.Findings), rep.Truncated)
	}
	n, err := rec.Repair(ctx, rep, "repair-t")
	if n != 4 || !errors.Is(err, reconcile.ErrTruncated) {
		t.Errorf("Repair = %d, %v; want 4, ErrTruncated", n, err)
	}
}

// check runs a check and fails the test on an error.
func check(t *testing.T, rec *reconcile.Reconciler, s reconcile.Scope) *reconcile.Report {
	t.Helper()
	rep, err := rec.Check(testContext(t, 5*time.Minute), s)
	if err != nil {
		t.Fatalf("Check(%+v): %v", s, err)
	}
	if rep.Truncated {
		t.Fatalf("Check(%+v): truncated", s)
	}
	return rep
}

type counts struct{ Compared, Missing, Stale, Unexpected int64 }

func countsOf(r *reconcile.Report) counts {
	return counts{r.Compared, r.Missing, r.Stale, r.Unexpected}
}

// assertFindings checks that fs are exactly want's ids, of want's kinds.
func assertFindings(t *testing.T, name string, fs []reconcile.Finding, want map[string]reconcile.Kind) {
	t.Helper()
	got := map[string]reconcile.Kind{}
	for _, f := range fs {
		got[f.ID] = f.Kind
	}
	if maps.Equal(got, want) {
		return
	}
	wrong := 0
	for id, k := range want {
		if got[id] != k {
			if wrong++; wrong <= 5 {
				t.Errorf("%s: %s is %q, want %q", name, id, got[id], k)
			}
		}
	}
	for id, k := range got {
		if _, ok := want[id]; !ok {
			if wrong++; wrong <= 10 {
				t.Errorf("%s: %s reported %q, want nothing", name, id, k)
			}
		}
	}
	t.Errorf("%s: %d findings wrong", name, wrong)
}

func filter(fs []reconcile.Finding, keep func(id string) bool) []reconcile.Finding {
	var out []reconcile.Finding
	for _, f := range fs {
		if keep(f.ID) {
			out = append(out, f)
		}
	}
	return out
}
