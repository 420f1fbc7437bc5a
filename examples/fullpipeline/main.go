// Command fullpipeline runs the whole userstream pipeline in one process:
//
//	Random User API → PostgreSQL outbox → Kafka users_created → consumer → Cassandra
//
// It fetches -users users (default 100,000) with a fixed -seed, so a second
// run fetches the same users and changes nothing; then verifies that every
// unique user fetched is in Cassandra and prints a summary. -offline serves
// the API from an in-process compatible server, for machines without
// internet.
//
//	fullpipeline -offline -users 100000
//	fullpipeline -offline -every 1h -runs 24   # scheduled, like the seed's DAG
//	fullpipeline -offline -every 1m -runs 3 -change-share 0.1
//
// With -change-share, run i of the process is day i of the offline API,
// on which that share of the users have a new email, phone, location and
// picture: the run stages their new versions, and the check finds each
// user's latest version in Cassandra.
//
// SIGINT or SIGTERM stops it gracefully: staged users stay in the outbox,
// consumers finish and commit their batch, nothing is lost; the next run
// carries on. The run ledger (examples/runs) records every run.
//
// This file wires userstream's public packages in the order the users flow:
// [connect] finds the servers and opens a checked client of each, secured
// by [secure]; an [ingest.Loop] fetches users page by page with a
// [randomuser.Client] and stages each page in the PostgreSQL outbox
// ([outbox.Store]) in one transaction, the durable hand-off between
// fetching and streaming; an [outbox.Relay] publishes the staged rows in
// order through a [kafkasink.Producer]; [kafkasink.Consumer]s hand each
// batch to kafkasink.ChangesHandler(store.ApplyMany, kafkasink.RejectedRows),
// committing offsets once the changes are in Cassandra
// ([cassandrastore.Store]) at their versions, so that a user's newer
// version wins whatever order its records arrive in, with poison sent to
// the dead-letter topic; [runledger] records every run,
// [ingest.Schedule] repeats them. Every component registers its Prometheus
// series on the process's one registry (WithMetrics). console.go serves
// them and the status page, and prints the progress line and the summary;
// verify.go checks a run against Cassandra; consume.go runs the consumers
// and the relay, drains, and keeps latency quantiles; flags.go has the flags. examples/producer and examples/consumer run the
// two halves as separate processes.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/scylladb/gocqlx/v2"

	"github.com/userstream/userstream/cassandrastore"
	"github.com/userstream/userstream/connect"
	"github.com/userstream/userstream/ingest"
	"github.com/userstream/userstream/kafkasink"
	"github.com/userstream/userstream/kafkasink/dlq"
	"github.com/userstream/userstream/kafkasink/outbox"
	"github.com/userstream/userstream/memlimit"
	"github.com/userstream/userstream/randomuser"
	"github.com/userstream/userstream/randomuser/randomusertest"
	"github.com/userstream/userstream/runledger"
	"github.com/userstream/userstream/secure"
)

// main parses the flags, runs until done or until SIGINT or SIGTERM (the
// process ends with main: nothing needs to stop the notification), writes
// -report, and fails unless every run succeeded.
func main() {
	cfg, err := parseFlags(flag.NewFlagSet("fullpipeline", flag.ExitOnError), os.Args[1:])
	log, lerr := newLogger(cfg.logLevel) // gocql's too
	if err = errors.Join(err, lerr); err == nil {
		ctx, _ := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		var reports []report
		reports, err = run(ctx, cfg, log, os.Stdout)
		if cfg.report != "" {
			err = errors.Join(err, writeReports(cfg.report, reports))
		}
		for _, r := range reports {
			if r.Status != runledger.StatusSucceeded && err == nil {
				err = fmt.Errorf("run %s %s", r.RunID, r.Status)
			}
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "fullpipeline:", err)
		os.Exit(1)
	}
}

// run wires the pipeline and runs it, once or on the -every schedule,
// printing a summary of each run to out.
func run(ctx context.Context, cfg config, log *slog.Logger, out io.Writer) ([]report, error) {
	if limit := cfg.memoryLimitBytes(); memlimit.Apply(limit) {
		log.Debug("soft memory limit set", "bytes", limit)
	}
	p, err := open(ctx, cfg, log, prometheus.NewRegistry())
	if err != nil {
		return nil, err
	}
	defer p.close()

	// The relay and the consumers run for the life of the process, across
	// runs; a run fetches and stages, then waits for them to catch up.
	stopBackground := p.startBackground(ctx)
	var reports []report
	err = ingest.Schedule{Every: cfg.every, Runs: cfg.runs, Logger: log}.Run(ctx, func(ctx context.Context) error {
		// Run i of the process serves day i of the offline API: with
		// -change-share, a share of the users fetched before have changed,
		// and the run stages their new versions.
		if p.offline != nil {
			p.offline.Handler().SetDay(len(reports))
		}
		r, err := p.fullRun(ctx, out)
		reports = append(reports, r)
		return err
	})
	return reports, errors.Join(err, stopBackground())
}

// pipeline is the process's connections and the components built on them.
type pipeline struct {
	cfg config
	log *slog.Logger
	// reg is the process's one registry: every component registers its
	// series on it (WithMetrics), the status page reads it.
	reg         *prometheus.Registry
	mux         *http.ServeMux     // of -metrics-addr (console.go); nil without
	stopConsole context.CancelFunc // the status page's sampler
	queue       *dlq.Queue         // the dead letters the status page shows

	api       *connect.API
	offline   *randomusertest.Server // -offline's API; nil without
	loop      *ingest.Loop
	ids       *idSet // the ids staged by the current run
	pool      *pgxpool.Pool
	outbox    *outbox.Store
	ledger    *runledger.Ledger
	kafka     connect.Kafka // brokers, SASL and TLS, the registry: for every Kafka client
	producer  *kafkasink.Producer
	relay     *outbox.Relay
	session   gocqlx.Session
	store     *cassandrastore.Store
	consumers []*kafkasink.Consumer

	work    context.Context // ends with ctx, or when the relay or a consumer fails (consume.go)
	latency latencyHist     // fetch to stored, of the current run
	// counts are what this process fetched and staged, for the run ledger
	// (the metrics are the components' own); the relay and the consumers
	// count what they do themselves (their Stats).
	fetched, staged, duplicates, invalid atomic.Int64
	// settled is the process's counts at the end of the last run (zero
	// before the first): where the next run's share starts. The relay and
	// the consumers work between runs too (records already in the topic
	// when the process starts, or published by another producer), and
	// what they do there is the next run's, not nobody's.
	settled runledger.Run
}

// open connects to the servers and builds the pipeline, creating what is
// missing: the outbox and ledger tables, the topics, the keyspace and the
// table. Close it when done.
func open(ctx context.Context, cfg config, log *slog.Logger, reg *prometheus.Registry) (_ *pipeline, err error) {
	p := &pipeline{cfg: cfg, log: log, reg: reg}
	defer func() {
		if err != nil {
			p.close()
		}
	}()
	// /metrics and /healthz answer from the start, while the servers are
	// connected (console.go).
	if err := p.serveMetrics(ctx); err != nil {
		return nil, err
	}
	// Credentials and TLS come from the environment or files, never flags
	// (package secure); nothing set means the local stack's plain listeners.
	sec, err := secure.FromEnv()
	if err != nil {
		return nil, err
	}
	log.Info("connection security", "settings", sec) // passwords print as [redacted]

	if err := p.openPostgres(ctx, sec.Postgres); err != nil {
		return nil, err
	}
	if err := p.openIngest(); err != nil { // after fullRun
		return nil, err
	}
	if err := p.openKafka(ctx, sec.Kafka); err != nil {
		return nil, err
	}
	if err := p.openCassandra(ctx, sec.Cassandra); err != nil {
		return nil, err
	}
	if err := p.newConsumers(); err != nil { // consume.go
		return nil, err
	}
	return p, p.serveConsole(ctx) // it reads the ledger and the dead letters
}

// openPostgres connects to PostgreSQL, which holds the outbox and the run
// ledger, in one schema, over one pool.
func (p *pipeline) openPostgres(ctx context.Context, sec secure.Postgres) (err error) {
	// TLS and the password merged in; pinged: fail now, with the cause.
	if p.pool, err = p.cfg.servers().OpenPostgres(ctx, sec); err != nil {
		return err
	}
	if p.outbox, err = outbox.NewStore(p.pool, outbox.WithSchema(p.cfg.pgSchema), outbox.WithMetrics(p.reg)); err != nil {
		return err
	}
	if p.ledger, err = runledger.New(p.pool, runledger.WithSchema(p.cfg.pgSchema), runledger.WithMetrics(p.reg)); err != nil {
		return err
	}
	// Both migrations are idempotent and safe for processes starting
	// together, so every process runs them at start.
	if err := errors.Join(p.outbox.Migrate(ctx), p.ledger.Migrate(ctx)); err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	return nil
}

// openKafka creates the topics, the producer and the relay that publishes
// the outbox through it.
func (p *pipeline) openKafka(ctx context.Context, sec secure.Kafka) (err error) {
	// SASL and TLS, checked by one connection; the registry's client.
	if p.kafka, err = p.cfg.servers().OpenKafka(ctx, sec); err != nil {
		return err
	}
	// In registry mode the value schema is registered now: a registry
	// that is down, or a subject whose rule refuses the schema, stops the
	// program before it stages or produces anything.
	if p.producer, err = p.kafka.NewProducer(ctx, kafkasink.WithTopic(p.cfg.topic), kafkasink.WithLogger(p.log), kafkasink.WithMetrics(p.reg)); err != nil {
		return err
	}
	// Clusters rarely create topics on first use, and this one would give
	// them its default partitions: create both, as configured. The
	// consumers refuse to start without their dead-letter topic.
	srv := p.cfg.servers()
	created, err := connect.EnsureTopics(ctx, p.producer.Client(), srv.Topic(p.cfg.topic, p.cfg.partitions), srv.Topic(p.cfg.dlqTopic, 1))
	for _, spec := range created {
		p.log.Info("created topic", "topic", spec.Name, "partitions", spec.Partitions)
	}
	if err != nil {
		return err
	}
	// Batches of 2,000 rows (the default is 500) keep up with 5,000-user
	// pages in fewer transactions; a crash duplicates at most one batch.
	p.relay, err = outbox.NewRelay(p.outbox, p.producer, outbox.WithLogger(p.log), outbox.WithRoundSize(2000), outbox.WithMetrics(p.reg))
	return err
}

// openCassandra connects to Cassandra and creates the keyspace and table if
// they are missing.
func (p *pipeline) openCassandra(ctx context.Context, sec secure.Cassandra) (err error) {
	// Writes and the reads that verify them use one level (-consistency,
	// LOCAL_QUORUM by default): with 3 replicas a row is acknowledged by 2,
	// and a read of 2 sees it whichever node is down. It, the login and
	// TLS of secure are set by connect.
	if p.session, err = p.cfg.servers().OpenCassandra(ctx, sec); err != nil {
		return err
	}
	p.store, err = cassandrastore.New(p.session, cassandrastore.WithKeyspace(p.cfg.keyspace), cassandrastore.WithTable(p.cfg.table),
		cassandrastore.WithReplication(cassandrastore.LocalNetworkTopologyStrategy(p.cfg.replication)), cassandrastore.WithMetrics(p.reg))
	if err != nil {
		return err
	}
	if err := p.store.Migrate(ctx); err != nil {
		return fmt.Errorf("cassandra: %w", err)
	}
	return nil
}

// close releases everything open opened; the relay and consumers must
// have stopped.
func (p *pipeline) close() {
	if p.stopConsole != nil {
		p.stopConsole()
	}
	if p.queue != nil {
		p.queue.Close()
	}
	for _, c := range p.consumers {
		c.Close() // also releases the client of a consumer never run
	}
	if p.producer != nil {
		p.producer.Close()
	}
	if p.session.Session != nil {
		p.session.Close()
	}
	if p.pool != nil {
		p.pool.Close()
	}
	if p.api != nil {
		p.api.Close()
	}
	if p.offline != nil {
		p.offline.Close()
	}
}

// counted returns r with the process's counts so far less base's: the
// share of r's run.
func (p *pipeline) counted(r, base runledger.Run) runledger.Run {
	r.Fetched, r.Staged, r.Duplicates, r.Invalid = p.fetched.Load(), p.staged.Load(), p.duplicates.Load(), p.invalid.Load()
	r.Published = p.relay.Stats().Published
	for _, c := range p.consumers { // stored: the messages the handler accepted
		st := c.Stats()
		r.Stored, r.DeadLettered = r.Stored+st.Handled, r.DeadLettered+st.DeadLettered
	}
	return r.Since(base)
}

// fullRun is one run: fetch and stage -users users, wait until they are
// published and stored, check that every one is in Cassandra, record the
// run in the ledger and print its summary.
func (p *pipeline) fullRun(ctx context.Context, out io.Writer) (report, error) {
	work := p.work
	run := runledger.Run{RunID: runledger.NewRunID("full"), Kind: "full", StartedAt: time.Now()}
	rep := report{Run: run, TableRows: -1}
	if err := p.ledger.Start(ctx, run.RunID, run.Kind); err != nil {
		return rep, err
	}
	base := p.settled
	p.latency.reset()
	stopProgress := p.startProgress(work, run, base)
	ids := newIDSet()
	p.ids = ids
	// What was fetched before a fetch error is staged: the next run of the
	// seed skips it.
	res, err := p.loop.Run(work, run.RunID, p.cfg.seed, p.cfg.users)
	rep.Updated = res.Updated
	if err == nil {
		err = p.drain(work)
	}
	stopProgress()
	total := p.counted(run, runledger.Run{})
	rep.Run, p.settled = total.Since(base), total
	rep.Duration = time.Since(run.StartedAt)
	rep.P50, rep.P99 = p.latency.quantile(0.50), p.latency.quantile(0.99)
	if err == nil {
		err = p.check(work, ids, &rep)
	}
	if cause := context.Cause(work); work.Err() != nil && !errors.Is(cause, context.Canceled) {
		err = cause // the run was stopped by the relay or a consumer failing
	}
	rep.Status, rep.Error = runledger.Outcome(ctx, err)
	// A success also sets the ledger's last-success gauge, which an alert
	// watches.
	if uerr := p.ledger.Update(ctx, rep.Run); uerr != nil {
		err = errors.Join(err, uerr)
	}
	writeSummary(out, p.cfg, rep)
	if rep.Status == runledger.StatusInterrupted {
		return rep, nil
	}
	return rep, err
}

// openIngest creates the Random User API client (-offline: an in-process
// imitation of the API, for machines without internet) and the loop that
// fetches -users users of -seed, page by page, maps each to a row and
// stages each page in the outbox, where the relay picks it up. Each page
// staged is counted, and its ids go to the run's set, for verification.
func (p *pipeline) openIngest() (err error) {
	// The offline server is this program's own (not connect's), so that
	// it changes -change-share of the users on each run after the first.
	apiURL := p.cfg.apiURL
	if p.cfg.offline {
		if p.offline, err = randomusertest.NewServer(randomusertest.WithChangeShare(p.cfg.changeShare)); err != nil {
			return fmt.Errorf("offline API server: %w", err)
		}
		apiURL = p.offline.BaseURL()
		p.log.Info("serving the Random User API offline", "url", apiURL, "change_share", p.cfg.changeShare)
	}
	p.api, err = connect.OpenAPI(apiURL, false, randomuser.WithLogger(p.log), randomuser.WithMetrics(p.reg))
	if err != nil {
		return err
	}
	p.loop, err = ingest.New(p.api, p.outbox, ingest.WithPageSize(p.cfg.pageSize), ingest.WithRate(p.cfg.rate),
		ingest.WithNat(strings.FieldsFunc(p.cfg.nat, func(r rune) bool { return r == ',' })...),
		ingest.WithLogger(p.log), ingest.WithMetrics(p.reg), ingest.WithPageHook(func(pg ingest.Page) {
			for i := range pg.Rows {
				p.ids.add(&pg.Rows[i])
			}
			p.fetched.Add(int64(pg.Fetched))
			p.invalid.Add(int64(pg.Invalid))
			p.staged.Add(int64(pg.Staged))
			p.duplicates.Add(int64(pg.Duplicates))
		}))
	return err
}
