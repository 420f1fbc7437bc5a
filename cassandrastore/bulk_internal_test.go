package cassandrastore

import (
	"cmp"
	"context"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/gocql/gocql"
	"github.com/scylladb/gocqlx/v2"

	"github.com/userstream/userstream/internal/testenv"
)

func TestPlanBatches(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	ring := []int64{-6e18, -1e18, 0, 3e18, 7e18}
	items := make([]tokenRow, 1000)
	for i := range items {
		items[i] = tokenRow{i: i, tok: int64(rng.Uint64())}
	}
	slices.SortFunc(items, func(a, b tokenRow) int { return cmp.Compare(a.tok, b.tok) })
	owner := func(tok int64) int64 { // the ring token ending tok's range
		for _, r := range ring {
			if tok <= r {
				return r
			}
		}
		return ring[0]
	}
	size := func(i int) int { return 500 + 20*(i%200) } // up to ~4.5 KiB

	for _, tc := range []struct {
		ring      []int64
		batchSize int
	}{{ring, 32}, {ring, 1}, {ring, 1000}, {nil, 16}} {
		batches := planBatches(items, tc.ring, size, tc.batchSize)
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
				if tc.ring != nil && owner(it.tok) != owner(items[b.lo].tok) {
					t.Errorf("batch %v spans token ranges", b)
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
	if got := planBatches(nil, ring, size, 8); len(got) != 0 {
		t.Errorf("planBatches(nil) = %v", got)
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
	ring := st.ringTokens(ctx)
	var local []string
	if err := session.Session.Query(`SELECT tokens FROM system.local`).Scan(&local); err != nil {
		t.Fatal(err)
	}
	if len(ring) < len(local) || !slices.IsSorted(ring) || len(slices.Compact(slices.Clone(ring))) != len(ring) {
		t.Fatalf("ring of %d tokens (local node has %d), sorted %v", len(ring), len(local), slices.IsSorted(ring))
	}
	if again := st.ringTokens(ctx); &again[0] != &ring[0] {
		t.Error("ring read again within its TTL")
	}
}
