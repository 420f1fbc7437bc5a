package cassandrastore

import (
	"cmp"
	"context"
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/gocql/gocql"
	"github.com/scylladb/gocqlx/v2"

	"github.com/userstream/userstream/internal/testenv"
)

func TestPlanBatches(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	// Three nodes with interleaved ranges, as vnodes give.
	r := ring{tokens: []int64{-6e18, -1e18, 0, 3e18, 7e18}, owners: []int{0, 1, 2, 0, 1}}
	size := func(i int) int { return 500 + 20*(i%200) } // up to ~4.5 KiB

	for _, tc := range []struct {
		ring      ring
		batchSize int
	}{{r, 32}, {r, 1}, {r, 1000}, {ring{}, 16}} {
		items := make([]tokenRow, 1000)
		for i := range items {
			tok := int64(rng.Uint64())
			items[i] = tokenRow{i: i, tok: tok, owner: tc.ring.owner(tok)}
		}
		slices.SortFunc(items, func(a, b tokenRow) int {
			return cmp.Or(cmp.Compare(a.owner, b.owner), cmp.Compare(a.tok, b.tok))
		})
		batches := planBatches(items, size, tc.batchSize)
		next := 0
		for _, b := range batches {
			if b.lo != next || b.hi <= b.lo {
				t.Fatalf("batch %v does not follow %d", b, next)
			}
			next = b.hi
			if n := b.hi - b.lo; n > tc.batchSize {
				t.Errorf("batch of %d rows, limit %d", n, tc.batchSize)
			}
			bytes := 0
			for _, it := range items[b.lo:b.hi] {
				bytes += size(it.i)
				if it.owner != items[b.lo].owner {
					t.Errorf("batch %v has rows of two owners", b)
				}
			}
			if bytes > maxBatchBytes && b.hi-b.lo > 1 {
				t.Errorf("batch %v holds %d bytes, limit %d", b, bytes, maxBatchBytes)
			}
		}
		if next != len(items) {
			t.Fatalf("batches cover %d of %d rows", next, len(items))
		}
	}
	// Small rows: batches are full, one short batch per owner at most,
	// however many ranges each owner's rows fall in.
	perOwner := map[int]int{}
	items := make([]tokenRow, 1000)
	for i := range items {
		tok := int64(rng.Uint64())
		items[i] = tokenRow{i: i, tok: tok, owner: r.owner(tok)}
		perOwner[items[i].owner]++
	}
	slices.SortFunc(items, func(a, b tokenRow) int { return cmp.Or(cmp.Compare(a.owner, b.owner), cmp.Compare(a.tok, b.tok)) })
	want := 0
	for _, n := range perOwner {
		want += (n + 31) / 32
	}
	if got := len(planBatches(items, func(int) int { return 100 }, 32)); got != want {
		t.Errorf("%d batches of small rows, want %d (full batches per owner)", got, want)
	}
	if got := planBatches(nil, size, 8); len(got) != 0 {
		t.Errorf("planBatches(nil) = %v", got)
	}
	// Owners of ranges: (t[i-1], t[i]] is owners[i]; past the last wraps.
	for tok, want := range map[int64]int{-7e18: 0, -6e18: 0, -5e18: 1, 1: 0, 7e18: 1, 8e18: 0} {
		if got := r.owner(tok); got != want {
			t.Errorf("owner(%d) = %d, want %d", tok, got, want)
		}
	}
}

func TestTokenKnownValues(t *testing.T) {
	// From Cassandra 5.0.6: SELECT token(id) for these ids. TestStore
	// checks 50 random ids against the server as well.
	for id, want := range map[string]int64{
		"00000000-0000-0000-0000-000000000000": 5457549051747178710,
		"7a0eed16-9430-4d68-901f-c0d4c1c3bf22": 4132802526281903742,
	} {
		u, _ := gocql.ParseUUID(id)
		if got := token(u); got != want {
			t.Errorf("token(%s) = %d, want %d", id, got, want)
		}
	}
}

// TestRingTokens reads the ring of the real cluster: every node's tokens,
// sorted and distinct.
func TestRingTokens(t *testing.T) {
	t.Parallel()
	hosts := testenv.CassandraHosts(t)
	cluster := gocql.NewCluster(hosts...)
	cluster.Timeout = 10 * time.Second
	session, err := gocqlx.WrapSession(cluster.CreateSession())
	if err != nil {
		t.Fatal(err)
	}
	defer session.Close()
	st, err := New(session)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	r := st.ringTokens(ctx)
	var local []string
	if err := session.Session.Query(`SELECT tokens FROM system.local`).Scan(&local); err != nil {
		t.Fatal(err)
	}
	if len(r.tokens) < len(local) || !slices.IsSorted(r.tokens) || len(slices.Compact(slices.Clone(r.tokens))) != len(r.tokens) {
		t.Fatalf("ring of %d tokens (local node has %d), sorted %v", len(r.tokens), len(local), slices.IsSorted(r.tokens))
	}
	if len(r.owners) != len(r.tokens) {
		t.Fatalf("%d owners for %d tokens", len(r.owners), len(r.tokens))
	}
	// The local node owns the ranges ending at its own tokens.
	for _, tok := range local {
		v, _ := strconv.ParseInt(tok, 10, 64)
		if got := r.owner(v); got != 0 {
			t.Errorf("token %d of the local node owned by node %d", v, got)
		}
	}
	if again := st.ringTokens(ctx); &again.tokens[0] != &r.tokens[0] {
		t.Error("ring read again within its TTL")
	}
}
