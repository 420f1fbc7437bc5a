package cassandrastore_test

import (
	"cmp"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gocql/gocql"
	"github.com/scylladb/gocqlx/v2"

	"github.com/userstream/userstream/cassandrastore"
	"github.com/userstream/userstream/internal/testenv"
	"github.com/userstream/userstream/transform"
)

// BenchmarkBulkWrite measures rows/s written into the real table through
// the store, with each write strategy at its defaults, against two
// ceilings with no store in between, sending the same rows with the same
// prepared statement and consistency: "ceiling", a plain gocql loop of
// single-row inserts at the concurrent strategy's concurrency, and
// "ceiling-batch", plain gocql unlogged batches of the rows grouped by the
// node owning their token, at the batch strategy's batch size and
// concurrency (the best raw strategy for rows this small).
//
// Cassandra shares the machine's two cores and its speed drifts with its
// garbage collector, memtables and commit log, so the contenders take turns
// on chunks of 1,000 fresh rows (one UpsertMany call, the size of a sink's
// poll) rather than running one after the other; each writes b.N rows in
// all. Metrics: <contender>-rows/s, and <strategy>-x-ceiling, its
// rows/s over the ceiling's (the goal is ≥ 0.9), and
// unlogged-batch-x-ceiling-batch, the batch strategy over the raw batches.
//
// USERSTREAM_BENCH_REPLICATION=N (default 1, the store's default keyspace)
// makes the keyspace LocalNetworkTopologyStrategy(N), as fullpipeline
// -replication N does, to measure a cluster's ceiling (make
// bench-e2e-cluster sets 3). Every contender, raw ones included, writes
// at the session's consistency, LOCAL_QUORUM ([cassandrastore.NewSession]'s
// default; gocql's queries and batches take the session's): one replica
// with N=1, two of three with N=3.
//
//	USERSTREAM_CASSANDRA_HOSTS=127.0.0.1:9042 go test -run '^$' -bench 'BulkWrite$' -benchtime 100000x -count 3 ./cassandrastore/
func BenchmarkBulkWrite(b *testing.B) {
	session, st := benchStore(b)
	ks := st.Keyspace()
	concurrent := newStore(b, session, cassandrastore.WithKeyspace(ks), cassandrastore.WithWriteStrategy(cassandrastore.WriteConcurrent))
	batched := newStore(b, session, cassandrastore.WithKeyspace(ks), cassandrastore.WithWriteStrategy(cassandrastore.WriteUnloggedBatch))
	rates := interleave(b, []contender{
		{"ceiling", ceiling(session, st.InsertStmt(), cassandrastore.DefaultConcurrency)},
		{"ceiling-batch", ceilingBatch(b, session, st.InsertStmt(), cassandrastore.DefaultBatchSize, cassandrastore.DefaultBatchConcurrency)},
		{"concurrent", concurrent.UpsertMany},
		{"unlogged-batch", batched.UpsertMany},
	})
	b.ReportMetric(rates["concurrent"]/rates["ceiling"], "concurrent-x-ceiling")
	b.ReportMetric(rates["unlogged-batch"]/rates["ceiling"], "unlogged-batch-x-ceiling")
	b.ReportMetric(rates["unlogged-batch"]/rates["ceiling-batch"], "unlogged-batch-x-ceiling-batch")
}

// BenchmarkApplyMany prices versions: ApplyMany of versioned upserts (an
// INSERT ... USING TIMESTAMP per change, a 13th bound value) beside
// UpsertMany of the same rows, with each strategy, taking turns as in
// [BenchmarkBulkWrite]. The versioned contenders build their changes
// inside the timed call, as a consumer does. Besides <contender>-rows/s it
// reports <contender>-allocs/row, the process's heap allocations during
// the contender's calls (gocql's background work included) per row, and
// <strategy>-versioned-x-upsert, the versioned rate over UpsertMany's.
//
//	USERSTREAM_CASSANDRA_HOSTS=127.0.0.1:9042 go test -run '^$' -bench 'ApplyMany$' -benchtime 20000x ./cassandrastore/
func BenchmarkApplyMany(b *testing.B) {
	session, st := benchStore(b)
	ks := st.Keyspace()
	concurrent := newStore(b, session, cassandrastore.WithKeyspace(ks), cassandrastore.WithWriteStrategy(cassandrastore.WriteConcurrent))
	batched := newStore(b, session, cassandrastore.WithKeyspace(ks), cassandrastore.WithWriteStrategy(cassandrastore.WriteUnloggedBatch))
	var version atomic.Int64
	version.Store(time.Now().UnixMicro())
	versioned := func(st *cassandrastore.Store) func(context.Context, []transform.Row) error {
		return func(ctx context.Context, rs []transform.Row) error {
			cs := make([]transform.Change, len(rs))
			for i := range rs {
				cs[i] = transform.Change{Row: rs[i], Version: version.Add(1)}
			}
			return st.ApplyMany(ctx, cs)
		}
	}
	cs := []contender{
		{"concurrent-upsert", concurrent.UpsertMany},
		{"concurrent-versioned", versioned(concurrent)},
		{"unlogged-batch-upsert", batched.UpsertMany},
		{"unlogged-batch-versioned", versioned(batched)},
	}
	mallocs := make([]uint64, len(cs))
	for i := range cs {
		write := cs[i].write
		cs[i].write = func(ctx context.Context, rs []transform.Row) error {
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			err := write(ctx, rs)
			runtime.ReadMemStats(&after)
			mallocs[i] += after.Mallocs - before.Mallocs
			return err
		}
	}
	rates := interleave(b, cs)
	for i, c := range cs {
		b.ReportMetric(float64(mallocs[i])/float64(b.N), c.name+"-allocs/row")
	}
	b.ReportMetric(rates["concurrent-versioned"]/rates["concurrent-upsert"], "concurrent-versioned-x-upsert")
	b.ReportMetric(rates["unlogged-batch-versioned"]/rates["unlogged-batch-upsert"], "unlogged-batch-versioned-x-upsert")
}

// BenchmarkWriteTuning sweeps the knobs behind the defaults, the same way:
// the ceiling and the concurrent strategy at several concurrencies, a loop
// of single Upserts, and unlogged batches at several concurrencies and
// sizes, each beside the raw batches (ceilingBatch) of the same ones.
//
//	USERSTREAM_CASSANDRA_HOSTS=127.0.0.1:9042 go test -run '^$' -bench WriteTuning -benchtime 20000x ./cassandrastore/
func BenchmarkWriteTuning(b *testing.B) {
	session, st := benchStore(b)
	ks := st.Keyspace()
	var cs []contender
	for _, c := range []int{16, 64, 256} {
		cs = append(cs, contender{fmt.Sprintf("ceiling-c%d", c), ceiling(session, st.InsertStmt(), c)})
		st := newStore(b, session, cassandrastore.WithKeyspace(ks), cassandrastore.WithConcurrency(c),
			cassandrastore.WithWriteStrategy(cassandrastore.WriteConcurrent))
		cs = append(cs, contender{fmt.Sprintf("concurrent-c%d", c), st.UpsertMany})
	}
	// Upsert binds through gocqlx's reflection (BindStruct); UpsertMany
	// binds the fields directly. This contender prices the difference.
	cs = append(cs, contender{"upsert-loop-c64", func(ctx context.Context, rs []transform.Row) error {
		var (
			next     atomic.Int64
			wg       sync.WaitGroup
			firstErr atomic.Pointer[error]
		)
		for range 64 {
			wg.Go(func() {
				for i := int(next.Add(1) - 1); i < len(rs); i = int(next.Add(1) - 1) {
					if err := st.Upsert(ctx, rs[i]); err != nil {
						firstErr.CompareAndSwap(nil, &err)
					}
				}
			})
		}
		wg.Wait()
		if err := firstErr.Load(); err != nil {
			return *err
		}
		return nil
	}})
	for _, c := range []int{4, 16, 64} {
		for _, size := range []int{8, 32, 64} {
			st := newStore(b, session, cassandrastore.WithKeyspace(ks), cassandrastore.WithConcurrency(c),
				cassandrastore.WithWriteStrategy(cassandrastore.WriteUnloggedBatch), cassandrastore.WithBatchSize(size))
			cs = append(cs, contender{fmt.Sprintf("batch-c%d-s%d", c, size), st.UpsertMany},
				contender{fmt.Sprintf("ceiling-batch-c%d-s%d", c, size), ceilingBatch(b, session, st.InsertStmt(), size, c)})
		}
	}
	interleave(b, cs)
}

type contender struct {
	name  string
	write func(context.Context, []transform.Row) error
}

// chunk is how many rows a contender writes per turn: large enough that
// the barrier at the end of a call costs little, small enough that every
// contender meets the same drift.
const chunk = 1000

// interleave has the contenders write b.N fresh rows each, taking turns
// chunk rows at a time in a random order each round, and
// reports and returns each one's rows/s.
func interleave(b *testing.B, cs []contender) map[string]float64 {
	ctx := context.Background()
	spent := make([]time.Duration, len(cs))
	// A fresh order each round: a contender that follows a fast one pays
	// for the garbage the fast one left in Cassandra's heap, so a fixed
	// rotation would favour some contenders.
	shuffle := rand.New(rand.NewPCG(1, 2))
	for done := 0; done < b.N; done += chunk {
		n := min(chunk, b.N-done)
		for _, i := range shuffle.Perm(len(cs)) {
			rs := rows(n)
			start := time.Now()
			if err := cs[i].write(ctx, rs); err != nil {
				b.Fatalf("%s: %v", cs[i].name, err)
			}
			spent[i] += time.Since(start)
		}
	}
	// ns/op would time all contenders together; rows/s per contender is
	// the figure. Zero suppresses it.
	b.ReportMetric(0, "ns/op")
	rates := map[string]float64{}
	for i, c := range cs {
		rates[c.name] = float64(b.N) / spent[i].Seconds()
		b.ReportMetric(rates[c.name], c.name+"-rows/s")
	}
	return rates
}

// benchReplicationEnv sets the replication factor of the benchmarks'
// keyspace (see [BenchmarkBulkWrite]).
const benchReplicationEnv = "USERSTREAM_BENCH_REPLICATION"

// benchStore returns a session and a migrated store in a keyspace of its
// own, replicated as USERSTREAM_BENCH_REPLICATION says.
func benchStore(b *testing.B) (gocqlx.Session, *cassandrastore.Store) {
	session := newSession(b)
	ks := testenv.Name(b, "bench")
	dropKeyspaceAtEnd(b, session, ks)
	opts := []cassandrastore.StoreOpt{cassandrastore.WithKeyspace(ks)}
	if v := os.Getenv(benchReplicationEnv); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			b.Fatalf("%s=%q: want a replication factor of 1 or more", benchReplicationEnv, v)
		}
		// 1 keeps the store's default keyspace, as without the variable.
		if n > 1 {
			opts = append(opts, cassandrastore.WithReplication(cassandrastore.LocalNetworkTopologyStrategy(n)))
		}
	}
	st := newStore(b, session, opts...)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := st.Migrate(ctx); err != nil {
		b.Fatalf("Migrate: %v", err)
	}
	// A benchmark's log is always printed: it says what was measured.
	// The raw contenders' queries and batches take the session's
	// consistency, as this query does.
	var repl map[string]string
	q := session.Session.Query(`SELECT replication FROM system_schema.keyspaces WHERE keyspace_name = ?`, ks).WithContext(ctx)
	if err := q.Scan(&repl); err != nil {
		b.Fatalf("read the keyspace's replication: %v", err)
	}
	b.Logf("keyspace %s, replication %v, consistency %v", ks, repl, q.GetConsistency())
	// Warm up, untimed: prepare the statements, and let the JVM compile
	// the write path before the first measured run.
	if err := st.UpsertMany(ctx, rows(5000)); err != nil {
		b.Fatalf("warm-up: %v", err)
	}
	return session, st
}

// ceiling writes rows from conc goroutines, each running
// Session.Query(insert).Exec in a loop: the most a client gets from this
// cluster with single-row gocql writes, with nothing of the store in the way.
func ceiling(session gocqlx.Session, stmt string, conc int) func(context.Context, []transform.Row) error {
	return func(ctx context.Context, rs []transform.Row) error {
		var (
			next     atomic.Int64
			wg       sync.WaitGroup
			firstErr atomic.Pointer[error]
		)
		for range min(conc, len(rs)) {
			wg.Go(func() {
				for {
					i := int(next.Add(1) - 1)
					if i >= len(rs) {
						return
					}
					r := &rs[i]
					q := session.Session.Query(stmt, r.ID, r.FirstName, r.LastName, r.Gender, r.Address, r.PostCode,
						r.Email, r.Username, r.RegisteredDate, r.Phone, r.Picture, r.DOB).
						WithContext(ctx).Idempotent(true)
					err := q.Exec()
					// Returning the query to gocql's pool spares the
					// garbage collector a few KiB per row; without it the
					// "ceiling" is slower than the store.
					q.Release()
					if err != nil {
						firstErr.CompareAndSwap(nil, &err)
					}
				}
			})
		}
		wg.Wait()
		if err := firstErr.Load(); err != nil {
			return *err
		}
		return nil
	}
}

// ceilingBatch writes rows as plain gocql unlogged batches, conc at a
// time: the rows sorted by the node owning their token's range (read once
// from system.local and system.peers) and by token, cut into batches of at
// most size rows of one owner. gocql's token-aware routing sends each batch
// to the replica of its first row, which owns them all. It is what the
// store's WriteUnloggedBatch does, written directly, without the store's
// byte cap (these rows are far below it), ring cache or error bookkeeping.
func ceilingBatch(tb testing.TB, session gocqlx.Session, stmt string, size, conc int) func(context.Context, []transform.Row) error {
	type owned struct {
		tok   int64
		owner int
	}
	var ring []owned
	var toks []string
	if err := session.Session.Query(`SELECT tokens FROM system.local`).Scan(&toks); err != nil {
		tb.Fatal(err)
	}
	add := func(owner int, toks []string) {
		for _, t := range toks {
			v, err := strconv.ParseInt(t, 10, 64)
			if err != nil {
				tb.Fatal(err)
			}
			ring = append(ring, owned{v, owner})
		}
	}
	add(0, toks)
	it := session.Session.Query(`SELECT tokens FROM system.peers`).Iter()
	for n := 1; it.Scan(&toks); n++ {
		add(n, toks)
	}
	if err := it.Close(); err != nil {
		tb.Fatal(err)
	}
	slices.SortFunc(ring, func(a, b owned) int { return cmp.Compare(a.tok, b.tok) })
	ownerOf := func(t int64) int {
		i, _ := slices.BinarySearchFunc(ring, t, func(o owned, t int64) int { return cmp.Compare(o.tok, t) })
		if i == len(ring) {
			i = 0
		}
		return ring[i].owner
	}
	return func(ctx context.Context, rs []transform.Row) error {
		type item struct {
			r     *transform.Row
			tok   int64
			owner int
		}
		items := make([]item, len(rs))
		for i := range rs {
			t, err := cassandrastore.Token(rs[i].ID)
			if err != nil {
				return err
			}
			items[i] = item{&rs[i], t, ownerOf(t)}
		}
		slices.SortFunc(items, func(a, b item) int { return cmp.Or(cmp.Compare(a.owner, b.owner), cmp.Compare(a.tok, b.tok)) })
		var batches [][]item
		for lo := 0; lo < len(items); {
			hi := lo + 1
			for hi < len(items) && hi-lo < size && items[hi].owner == items[lo].owner {
				hi++
			}
			batches = append(batches, items[lo:hi])
			lo = hi
		}
		var (
			next     atomic.Int64
			wg       sync.WaitGroup
			firstErr atomic.Pointer[error]
		)
		for range min(conc, len(batches)) {
			wg.Go(func() {
				for k := int(next.Add(1) - 1); k < len(batches); k = int(next.Add(1) - 1) {
					b := session.Session.NewBatch(gocql.UnloggedBatch).WithContext(ctx)
					for _, it := range batches[k] {
						b.Entries = append(b.Entries, gocql.BatchEntry{Stmt: stmt, Args: cassandrastore.RowValues(it.r), Idempotent: true})
					}
					if err := session.Session.ExecuteBatch(b); err != nil {
						firstErr.CompareAndSwap(nil, &err)
					}
				}
			})
		}
		wg.Wait()
		if err := firstErr.Load(); err != nil {
			return *err
		}
		return nil
	}
}
