package outbox_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/userstream/userstream/internal/testenv"
	"github.com/userstream/userstream/kafkasink"
	"github.com/userstream/userstream/kafkasink/outbox"
	"github.com/userstream/userstream/transform"
)

func testContext(tb testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	tb.Cleanup(cancel)
	return ctx
}

// newPool returns a pool on the test database, closed after the test.
func newPool(tb testing.TB) *pgxpool.Pool {
	tb.Helper()
	pool, err := pgxpool.New(context.Background(), testenv.PostgresDSN(tb))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(pool.Close)
	return pool
}

// newStore returns a migrated store in a schema of the test's own, dropped
// after the test.
func newStore(tb testing.TB, pool *pgxpool.Pool, opts ...outbox.StoreOpt) *outbox.Store {
	tb.Helper()
	schema := testenv.Name(tb, "ob")
	store, err := outbox.NewStore(pool, append([]outbox.StoreOpt{outbox.WithSchema(schema)}, opts...)...)
	if err != nil {
		tb.Fatal(err)
	}
	dropSchemaAtCleanup(tb, pool, schema)
	if err := store.Migrate(testContext(tb, 30*time.Second)); err != nil {
		tb.Fatal(err)
	}
	return store
}

func dropSchemaAtCleanup(tb testing.TB, pool *pgxpool.Pool, schema string) {
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := pool.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{schema}.Sanitize()+" CASCADE"); err != nil {
			tb.Logf("drop schema %s: %v", schema, err)
		}
	})
}

// newTopic creates a topic of the test's own (the broker does not create
// topics) and deletes it after the test.
func newTopic(tb testing.TB, brokers []string, partitions int32) string {
	tb.Helper()
	topic := testenv.Name(tb, "outbox")
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := kafkasink.EnsureTopic(ctx, cl, kafkasink.TopicSpec{Name: topic, Partitions: partitions, ReplicationFactor: 1}); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_, _ = kadm.NewClient(cl).DeleteTopics(ctx, topic)
		cl.Close()
	})
	return topic
}

// newProducer returns a producer to topic, closed after the test.
func newProducer(tb testing.TB, brokers []string, topic string) *kafkasink.Producer {
	tb.Helper()
	p, err := kafkasink.NewProducer(brokers, kafkasink.WithTopic(topic), kafkasink.WithLogger(discard()))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(p.Close)
	return p
}

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }

// topicKeys reads topic from the start to its current end with a plain
// franz-go client and counts the records by key.
func topicKeys(tb testing.TB, brokers []string, topic string) (keys map[string]int, total int) {
	tb.Helper()
	ctx := testContext(tb, 30*time.Second)
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		tb.Fatal(err)
	}
	defer cl.Close()
	ends, err := kadm.NewClient(cl).ListEndOffsets(ctx, topic)
	if err != nil {
		tb.Fatalf("list end offsets: %v", err)
	}
	remaining := map[int32]int64{} // partition -> end offset not yet reached
	ends.Each(func(o kadm.ListedOffset) {
		if o.Offset > 0 {
			remaining[o.Partition] = o.Offset
		}
	})
	keys = map[string]int{}
	for len(remaining) > 0 {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			tb.Fatalf("read %d records of %s; partitions not read to the end: %v", total, topic, remaining)
		}
		fs.EachRecord(func(r *kgo.Record) {
			keys[string(r.Key)]++
			total++
			if end, ok := remaining[r.Partition]; ok && r.Offset+1 >= end {
				delete(remaining, r.Partition)
			}
		})
	}
	return keys, total
}

// waitFor polls cond until it holds or d passes.
func waitFor(tb testing.TB, d time.Duration, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func counts(tb testing.TB, s *outbox.Store) outbox.Counts {
	tb.Helper()
	c, err := s.Counts(testContext(tb, 10*time.Second))
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

// drain relays until nothing is pending, and fails after d. It also checks
// RelayOnce's word: 0 and nil mean nothing is pending.
func drain(tb testing.TB, r *outbox.Relay, s *outbox.Store, d time.Duration) {
	tb.Helper()
	ctx := testContext(tb, d)
	for {
		n, err := r.RelayOnce(ctx)
		switch {
		case errors.Is(err, outbox.ErrStandby):
			// A relay that is gone holds the position until Postgres
			// notices that its connection closed.
			time.Sleep(50 * time.Millisecond)
		case err != nil:
			tb.Fatalf("RelayOnce: %v", err)
		case n == 0:
			if c := counts(tb, s); c.Pending != 0 {
				tb.Fatalf("RelayOnce = 0, nil with %d rows pending", c.Pending)
			}
			return
		}
	}
}

// fakeProducer acknowledges every row, unless fail says otherwise. It
// publishes to topic, "fake" if empty.
type fakeProducer struct {
	topic string
	mu    sync.Mutex
	fail  func(kafkasink.Encoded) error
	got   []kafkasink.Encoded
}

func (f *fakeProducer) Topic() string {
	if f.topic == "" {
		return "fake"
	}
	return f.topic
}

func (f *fakeProducer) ProduceEncodedSync(ctx context.Context, rows ...kafkasink.Encoded) ([]kafkasink.Delivery, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]kafkasink.Delivery, len(rows))
	var failed []kafkasink.Delivery
	for i, r := range rows {
		out[i] = kafkasink.Delivery{ID: r.ID, Partition: 0, Offset: int64(len(f.got))}
		if f.fail != nil {
			out[i].Err = f.fail(r)
		}
		if out[i].Err != nil {
			failed = append(failed, out[i])
			continue
		}
		f.got = append(f.got, r)
	}
	if failed != nil {
		return out, &kafkasink.ProduceError{Failed: failed}
	}
	return out, nil
}

func (f *fakeProducer) produced() []kafkasink.Encoded {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]kafkasink.Encoded(nil), f.got...)
}

// tcpProxy forwards connections to target while up; taking it down closes
// every connection and refuses new ones, as a Postgres outage would.
type tcpProxy struct {
	ln     net.Listener
	target string

	mu    sync.Mutex
	up    bool
	conns map[net.Conn]struct{}
}

func newTCPProxy(tb testing.TB, target string) *tcpProxy {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	p := &tcpProxy{ln: ln, target: target, up: true, conns: map[net.Conn]struct{}{}}
	go p.serve()
	tb.Cleanup(func() {
		ln.Close()
		p.setUp(false)
	})
	return p
}

func (p *tcpProxy) port() uint16 { return uint16(p.ln.Addr().(*net.TCPAddr).Port) }

func (p *tcpProxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		up := p.up
		p.mu.Unlock()
		if !up {
			c.Close()
			continue
		}
		s, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		p.conns[c], p.conns[s] = struct{}{}, struct{}{}
		p.mu.Unlock()
		go func() { _, _ = io.Copy(s, c); s.Close(); c.Close() }()
		go func() { _, _ = io.Copy(c, s); s.Close(); c.Close() }()
	}
}

func (p *tcpProxy) setUp(up bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.up = up
	if !up {
		for c := range p.conns {
			c.Close()
		}
		clear(p.conns)
	}
}

func pgxpoolParseConfig(dsn string) (*pgxpool.Config, error) { return pgxpool.ParseConfig(dsn) }

// newPoolWithConfig returns a pool of cfg, closed after the test.
func newPoolWithConfig(tb testing.TB, cfg *pgxpool.Config) *pgxpool.Pool {
	tb.Helper()
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(pool.Close)
	return pool
}

// stageOld inserts rows one by one, in their order, into the outbox of a
// schema migrated to an older version (with MigrateTo), where Stage, which
// needs the current one, cannot.
func stageOld(tb testing.TB, pool *pgxpool.Pool, schema, runID string, rows []transform.Row) {
	tb.Helper()
	ctx := testContext(tb, 30*time.Second)
	for _, r := range rows {
		payload, err := transform.Marshal(r)
		if err != nil {
			tb.Fatal(err)
		}
		if _, err := pool.Exec(ctx, "INSERT INTO "+pgx.Identifier{schema, "outbox"}.Sanitize()+
			" (id, payload, run_id, fetched_at) VALUES ($1, $2, $3, now())", r.ID, payload, runID); err != nil {
			tb.Fatal(err)
		}
	}
}
