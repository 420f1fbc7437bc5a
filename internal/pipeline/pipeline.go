package pipeline

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/scylladb/gocqlx/v2"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/userstream/userstream/cassandrastore"
	"github.com/userstream/userstream/kafkasink"
	"github.com/userstream/userstream/kafkasink/outbox"
	"github.com/userstream/userstream/randomuser"
	"github.com/userstream/userstream/randomuser/randomusertest"
	"github.com/userstream/userstream/secure"
	"github.com/userstream/userstream/transform"
)

// Needs says which parts of the pipeline a process runs.
type Needs struct {
	Ingest  bool // fetch, stage and relay
	Consume bool // consume and store
}

// Counters are the counts this process keeps as it goes (the relay and the
// consumers keep their own); safe for concurrent use.
type Counters struct {
	Fetched, Staged, Duplicates, Invalid, Stored atomic.Int64
}

// Pipeline holds the connections and components of one process.
type Pipeline struct {
	cfg   Config
	needs Needs
	log   *slog.Logger
	m     *Metrics

	pool    *pgxpool.Pool
	outbox  *outbox.Store
	ledger  *Ledger
	session gocqlx.Session
	store   *cassandrastore.Store
	prod    *kafkasink.Producer
	admin   *kgo.Client
	api     *randomuser.Client
	offline *randomusertest.Server

	// latency is fetch to stored, from each record's fetched-at header
	// (set by the relay from the outbox's fetch time), so it is measured
	// wherever the producer runs.
	latency latencyHist

	kafkaSec []kgo.Opt // SASL and TLS for every Kafka client

	relay  atomic.Pointer[outbox.Relay]
	consMu sync.Mutex
	cons   []*kafkasink.Consumer
}

// Open connects what needs asks for and creates what is missing: the
// outbox and ledger tables, the topics, the keyspace and table. Close it
// when done.
func Open(ctx context.Context, cfg Config, needs Needs, log *slog.Logger, m *Metrics) (_ *Pipeline, err error) {
	p := &Pipeline{cfg: cfg, needs: needs, log: log, m: m}
	setMemoryLimit(cfg, needs, log)
	defer func() {
		if err != nil {
			p.Close()
		}
	}()

	// Credentials and TLS come from the environment or files, never flags
	// (package secure); nothing set means the local stack's plain listeners.
	sec, err := secure.FromEnv()
	if err != nil {
		return nil, err
	}
	log.Info("connection security", "settings", sec) // passwords print as [redacted]
	if p.kafkaSec, err = sec.Kafka.Opts(); err != nil {
		return nil, err
	}

	// PostgreSQL: the outbox (ingest) and the run ledger (both).
	pgCfg, err := sec.Postgres.PoolConfig(cfg.PostgresDSN)
	if err != nil {
		return nil, err
	}
	if p.pool, err = pgxpool.NewWithConfig(ctx, pgCfg); err != nil {
		return nil, sec.Postgres.Explain(err)
	}
	if err := p.pool.Ping(ctx); err != nil {
		return nil, sec.Postgres.Explain(err)
	}
	p.ledger = NewLedger(p.pool, cfg.PostgresSchema)
	if err := p.ledger.Migrate(ctx, cfg.PostgresSchema); err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	if needs.Ingest {
		if p.outbox, err = outbox.NewStore(p.pool, outbox.WithSchema(cfg.PostgresSchema)); err != nil {
			return nil, err
		}
		if err := p.outbox.Migrate(ctx); err != nil {
			return nil, fmt.Errorf("postgres: %w", err)
		}
	}

	// Kafka: topics, and the producer of the relay. franz-go retries a
	// refused login until its request times out; a ping first fails fast
	// with the cause.
	if err := sec.Kafka.Ping(ctx, cfg.Brokers); err != nil {
		return nil, err
	}
	if p.admin, err = kgo.NewClient(slices.Concat(p.kafkaSec, []kgo.Opt{kgo.SeedBrokers(cfg.Brokers...)})...); err != nil {
		return nil, fmt.Errorf("kafka: %w", err)
	}
	for _, spec := range []kafkasink.TopicSpec{
		{Name: cfg.Topic, Partitions: int32(cfg.Partitions), ReplicationFactor: int16(cfg.Replication)},
		{Name: cfg.DLQTopic, Partitions: 1, ReplicationFactor: int16(cfg.Replication)},
	} {
		created, err := kafkasink.EnsureTopic(ctx, p.admin, spec)
		if err != nil {
			return nil, fmt.Errorf("kafka: %w", err)
		}
		if created {
			log.Info("created topic", "topic", spec.Name, "partitions", spec.Partitions)
		}
	}
	if needs.Ingest {
		if p.prod, err = kafkasink.NewProducer(cfg.Brokers, kafkasink.WithTopic(cfg.Topic), kafkasink.WithLogger(log),
			kafkasink.WithClientOpts(slices.Concat(p.kafkaSec, m.KafkaOpts("producer"))...)); err != nil {
			return nil, err
		}
		if err := p.setupAPI(); err != nil {
			return nil, err
		}
	}

	// Cassandra.
	if needs.Consume {
		// secure serves plain gocql too, so it has no cassandrastore
		// options: its values go to cassandrastore's own. An empty
		// username is no login, a nil TLS config plain TCP.
		cassTLS, err := sec.Cassandra.TLS.Config()
		if err != nil {
			return nil, fmt.Errorf("cassandra TLS: %w", err)
		}
		if p.session, err = cassandrastore.NewSession(ctx, cfg.CassandraHosts,
			cassandrastore.WithAuth(sec.Cassandra.Username, sec.Cassandra.Password.Reveal()),
			cassandrastore.WithTLS(cassTLS)); err != nil {
			return nil, sec.Cassandra.Explain(ctx, cfg.CassandraHosts, err)
		}
		if p.store, err = cassandrastore.New(p.session, cassandrastore.WithKeyspace(cfg.Keyspace),
			cassandrastore.WithTable(cfg.Table),
			cassandrastore.WithReplication(cassandrastore.SimpleStrategy(cfg.Replication))); err != nil {
			return nil, err
		}
		if err := p.store.Migrate(ctx); err != nil {
			return nil, fmt.Errorf("cassandra: %w", err)
		}
	}
	return p, nil
}

func (p *Pipeline) setupAPI() error {
	base := p.cfg.APIURL
	if p.cfg.Offline {
		srv, err := randomusertest.NewServer()
		if err != nil {
			return fmt.Errorf("offline API server: %w", err)
		}
		p.offline = srv
		base = srv.BaseURL()
		p.log.Info("serving the Random User API offline", "url", base)
	}
	var err error
	p.api, err = randomuser.New(randomuser.WithBaseURL(base), randomuser.WithLogger(p.log))
	return err
}

// Close releases every connection.
func (p *Pipeline) Close() {
	for _, k := range p.consumers() {
		k.Close() // stops a Run still going; releases a consumer never run
	}
	if p.prod != nil {
		p.prod.Close()
	}
	if p.admin != nil {
		p.admin.Close()
	}
	if p.session.Session != nil {
		p.session.Close()
	}
	if p.pool != nil {
		p.pool.Close()
	}
	if p.offline != nil {
		p.offline.Close()
	}
}

// Ledger returns the run ledger.
func (p *Pipeline) Ledger() *Ledger { return p.ledger }

// NewRunID returns a run id that sorts by start time.
func NewRunID(kind string) string {
	var b [3]byte
	_, _ = rand.Read(b[:])
	return kind + "-" + time.Now().UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(b[:])
}

// Ingest fetches cfg.Users users (seed cfg.Seed) page by page, maps and
// validates them, and stages each page in the outbox. ids, if not nil,
// receives the id of every valid user fetched, for verification.
func (p *Pipeline) Ingest(ctx context.Context, runID string, c *Counters, ids *IDSet) error {
	q := randomuser.Query{Results: p.cfg.PageSize, Seed: p.cfg.Seed}
	if p.cfg.Nat != "" {
		q.Nat = strings.Split(p.cfg.Nat, ",")
	}
	if q.Seed == "" {
		q.Seed = randomuser.NewSeed()
	}
	page := make([]transform.Row, 0, p.cfg.PageSize)
	started := time.Now()
	pageStart := time.Now()
	flush := func() error {
		if len(page) == 0 {
			return nil
		}
		p.m.FetchPage.Observe(time.Since(pageStart).Seconds())
		t := time.Now()
		var (
			res outbox.StageResult
			err error
		)
		// Stage validates every row before any I/O and names the first
		// invalid one: it is counted, logged and left out, and the rest
		// of the page staged. (Validating here first as well would double
		// the cost for pages that are all valid, as the API's are.)
		for len(page) > 0 {
			res, err = p.outbox.Stage(ctx, runID, page)
			var inv *outbox.InvalidRowError
			if !errors.As(err, &inv) {
				break
			}
			c.Invalid.Add(1)
			p.m.Invalid.Inc()
			p.log.Warn("invalid user not staged", "err", inv.Err)
			page = slices.Delete(page, inv.Index, inv.Index+1)
		}
		if err != nil {
			return fmt.Errorf("stage: %w", err)
		}
		if ids != nil {
			for i := range page {
				ids.Add(page[i].ID)
			}
		}
		p.m.StageBatch.Observe(time.Since(t).Seconds())
		c.Staged.Add(int64(res.Staged))
		c.Duplicates.Add(int64(res.Duplicates))
		p.m.Staged.Add(float64(res.Staged))
		p.m.Duplicates.Add(float64(res.Duplicates))
		page = page[:0]
		// Offered load: hold the pace of -rate users per second.
		if p.cfg.Rate > 0 {
			due := started.Add(time.Duration(float64(c.Fetched.Load()) / p.cfg.Rate * float64(time.Second)))
			if d := time.Until(due); d > 0 {
				select {
				case <-time.After(d):
				case <-ctx.Done():
					return ctx.Err()
				}
			}
		}
		pageStart = time.Now()
		return nil
	}
	for u, err := range p.api.Users(ctx, q, p.cfg.Users) {
		if err != nil {
			p.m.FetchErrors.Inc()
			if ferr := flush(); ferr != nil {
				return errors.Join(err, ferr)
			}
			return fmt.Errorf("fetch: %w", err)
		}
		c.Fetched.Add(1)
		p.m.Fetched.Inc()
		page = append(page, transform.FromUser(u))
		if len(page) == p.cfg.PageSize {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	return flush()
}

// Relay publishes staged rows until ctx ends.
func (p *Pipeline) Relay(ctx context.Context) error {
	r, err := outbox.NewRelay(p.outbox, p.prod, outbox.WithLogger(p.log), outbox.WithBatchSize(2000))
	if err != nil {
		return err
	}
	p.relay.Store(r)
	return r.Run(ctx)
}

// snapshot reads the run's counts: the counters this process keeps, and
// the relay's and consumers' own.
func (p *Pipeline) snapshot(c *Counters) RunRecord {
	r := RunRecord{
		Fetched: c.Fetched.Load(), Staged: c.Staged.Load(), Duplicates: c.Duplicates.Load(),
		Invalid: c.Invalid.Load(), Stored: c.Stored.Load(),
	}
	if rl := p.relay.Load(); rl != nil {
		r.Published = rl.Stats().Published
	}
	for _, k := range p.consumers() {
		r.DeadLettered += k.Stats().DeadLettered
	}
	return r
}

func (p *Pipeline) consumers() []*kafkasink.Consumer {
	p.consMu.Lock()
	defer p.consMu.Unlock()
	return p.cons
}

// consumerFetchOpts bound what a consumer buffers while Cassandra falls
// behind. franz-go's defaults (1 MiB per partition, 50 MiB per fetch) let
// a buffered fetch of the six partitions hold about 15 MB of decompressed
// rows; with a Cassandra stall of 4 s in a 150,000-user run that took the
// pipeline from 58-61 to 67-70 MB resident and, near the soft memory
// limit, from 5.7-6.0 to 8.1-8.4 CPU-seconds of mostly garbage
// collection. 256 KiB per partition is still hundreds of rows per fetch.
var consumerFetchOpts = []kgo.Opt{kgo.FetchMaxPartitionBytes(256 << 10), kgo.FetchMaxBytes(2 << 20)}

// Consumers returns n consumers of the group that store rows in Cassandra.
func (p *Pipeline) Consumers(n int, c *Counters) ([]*kafkasink.Consumer, error) {
	handler := func(ctx context.Context, msgs []kafkasink.Message) error {
		rows := make([]transform.Row, len(msgs))
		for i, m := range msgs {
			rows[i] = m.Row
		}
		t := time.Now()
		if err := p.store.UpsertMany(ctx, rows); err != nil {
			p.m.StoreErrors.Inc()
			return err
		}
		now := time.Now()
		p.m.StoreBatch.Observe(now.Sub(t).Seconds())
		p.m.Stored.Add(float64(len(rows)))
		c.Stored.Add(int64(len(rows)))
		lat := make([]time.Duration, 0, len(msgs))
		for _, m := range msgs {
			p.m.ProduceToEnd.Observe(now.Sub(m.Timestamp).Seconds())
			if !m.FetchedAt.IsZero() {
				d := now.Sub(m.FetchedAt)
				p.m.FetchToEnd.Observe(d.Seconds())
				lat = append(lat, d)
			}
		}
		p.latency.add(lat...)
		return nil
	}
	out := make([]*kafkasink.Consumer, n)
	for i := range out {
		var err error
		out[i], err = kafkasink.NewConsumer(p.cfg.Brokers, p.cfg.Group, handler, append([]kafkasink.Opt{
			kafkasink.WithTopic(p.cfg.Topic), kafkasink.WithDLQTopic(p.cfg.DLQTopic), kafkasink.WithLogger(p.log),
			kafkasink.WithClientOpts(slices.Concat(p.kafkaSec, p.m.KafkaOpts("consumer"), consumerFetchOpts)...),
		}, p.cfg.groupOpts(i)...)...)
		if err != nil {
			return nil, err
		}
	}
	p.consMu.Lock()
	p.cons = append(p.cons, out...)
	p.consMu.Unlock()
	return out, nil
}

// Lag returns the group's lag on the topic by partition.
func (p *Pipeline) Lag(ctx context.Context) (map[int32]int64, error) {
	lags, err := kadm.NewClient(p.admin).Lag(ctx, p.cfg.Group)
	if err != nil {
		return nil, err
	}
	l := lags[p.cfg.Group]
	if err := l.Error(); err != nil {
		return nil, err
	}
	out := map[int32]int64{}
	for part, ml := range l.Lag[p.cfg.Topic] {
		if ml.Err != nil {
			return nil, ml.Err
		}
		out[part] = max(ml.Lag, 0)
	}
	if len(out) == 0 {
		// The group has not committed yet: everything in the topic is lag.
		ends, err := kadm.NewClient(p.admin).ListEndOffsets(ctx, p.cfg.Topic)
		if err != nil {
			return nil, err
		}
		ends.Each(func(o kadm.ListedOffset) { out[o.Partition] = o.Offset })
	}
	return out, nil
}

// DeadLetters returns the number of records in the dead-letter topic.
func (p *Pipeline) DeadLetters(ctx context.Context) (int64, error) {
	adm := kadm.NewClient(p.admin)
	ends, err := adm.ListEndOffsets(ctx, p.cfg.DLQTopic)
	if err != nil {
		return 0, err
	}
	starts, err := adm.ListStartOffsets(ctx, p.cfg.DLQTopic)
	if err != nil {
		return 0, err
	}
	var n int64
	ends.Each(func(o kadm.ListedOffset) {
		s, _ := starts.Lookup(o.Topic, o.Partition)
		n += o.Offset - s.Offset
	})
	return n, nil
}

// Latency returns the q-quantile of the fetch-to-stored latencies of the
// rows stored since the last reset, within 1%.
func (p *Pipeline) Latency(q float64) time.Duration { return p.latency.quantile(q) }
