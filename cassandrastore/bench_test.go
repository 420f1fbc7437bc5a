package cassandrastore_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scylladb/gocqlx/v2"

	"github.com/userstream/userstream/cassandrastore"
	"github.com/userstream/userstream/internal/testenv"
	"github.com/userstream/userstream/transform"
)

// BenchmarkBulkWrite measures rows/s written into the real table through
// the store, with each write strategy at its defaults, against the
// ceiling: a plain gocql loop of the same rows, with the same prepared
// statement, consistency and concurrency, and no store in between.
//
// Cassandra shares the machine's two cores and its speed drifts with its
// garbage collector, memtables and commit log, so the contenders take turns
// on chunks of 1,000 fresh rows (one UpsertMany call, the size of a sink's
// poll) rather than running one after the other; each writes b.N rows in
// all. Metrics: <contender>-rows/s, and <strategy>-x-ceiling, its
// rows/s over the ceiling's (the goal is ≥ 0.9).
//
//	USERSTREAM_CASSANDRA_HOSTS=127.0.0.1:9042 go test -run '^$' -bench 'BulkWrite$' -benchtime 100000x -count 3 ./cassandrastore/
func BenchmarkBulkWrite(b *testing.B) {
	session, st := benchStore(b)
	ks := st.Keyspace()
	concurrent := newStore(b, session, cassandrastore.WithKeyspace(ks), cassandrastore.WithWriteStrategy(cassandrastore.WriteConcurrent))
	batched := newStore(b, session, cassandrastore.WithKeyspace(ks), cassandrastore.WithWriteStrategy(cassandrastore.WriteUnloggedBatch))
	rates := interleave(b, []contender{
		{"ceiling", ceiling(session, st.InsertStmt(), cassandrastore.DefaultConcurrency)},
		{"concurrent", concurrent.UpsertMany},
		{"unlogged-batch", batched.UpsertMany},
	})
	b.ReportMetric(rates["concurrent"]/rates["ceiling"], "concurrent-x-ceiling")
	b.ReportMetric(rates["unlogged-batch"]/rates["ceiling"], "unlogged-batch-x-ceiling")
}

// BenchmarkWriteTuning sweeps the knobs behind the defaults, the same way:
// the ceiling and the concurrent strategy at several concurrencies, a loop
// of single Upserts, and unlogged batches at several concurrencies and
// sizes.
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
			cs = append(cs, contender{fmt.Sprintf("batch-c%d-s%d", c, size), st.UpsertMany})
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

func benchStore(b *testing.B) (gocqlx.Session, *cassandrastore.Store) {
	session := newSession(b)
	ks := testenv.Name(b, "bench")
	dropKeyspaceAtEnd(b, session, ks)
	st := newStore(b, session, cassandrastore.WithKeyspace(ks))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := st.Migrate(ctx); err != nil {
		b.Fatalf("Migrate: %v", err)
	}
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
