// Command producer is the ingest half of the pipeline, the seed's Airflow
// task: it fetches users from the Random User API, stages them in the
// PostgreSQL outbox and relays them to the Kafka topic users_created, once or
// on a schedule (-every). Run examples/consumer to store them in Cassandra.
//
//	producer -offline -users 20000 -every 24h
//
// SIGINT or SIGTERM stops it gracefully: what is staged stays in the outbox
// and the next start publishes it. Each run is recorded in the run ledger
// (examples/runs) as kind "ingest".
//
// This file wires userstream's public packages in the order the users flow:
// [connect] finds the servers and opens a checked client of each, secured
// by [secure]; an [ingest.Loop] fetches users page by page with a
// [randomuser.Client] and stages each page in the PostgreSQL outbox
// ([outbox.Store]) in one transaction, the durable hand-off: a crash after
// it loses nothing, and a second fetch of the same users stages nothing; an
// [outbox.Relay] publishes the staged rows in order through a
// [kafkasink.Producer], and [outbox.Relay.Drain] ends a run once all are
// published; [runledger] records every run, [ingest.Schedule] repeats them.
// Every component registers its Prometheus series on the process's one
// registry (WithMetrics). console.go serves them and the status page, and
// prints the progress line and the summary; flags.go has the flags.
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

	"github.com/userstream/userstream/connect"
	"github.com/userstream/userstream/ingest"
	"github.com/userstream/userstream/kafkasink"
	"github.com/userstream/userstream/kafkasink/outbox"
	"github.com/userstream/userstream/memlimit"
	"github.com/userstream/userstream/randomuser"
	"github.com/userstream/userstream/runledger"
	"github.com/userstream/userstream/secure"
)

// main parses the flags and runs until done or until SIGINT or SIGTERM.
func main() {
	// A signal ends ctx: the run finishes its batch and returns. The
	// process ends with main, so nothing needs to stop the notification.
	ctx, _ := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	cfg, err := parseFlags(flag.NewFlagSet("producer", flag.ExitOnError), os.Args[1:])
	log, lerr := newLogger(cfg.logLevel)
	if err = errors.Join(err, lerr); err == nil {
		err = run(ctx, cfg, log, os.Stdout)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "producer:", err)
		os.Exit(1)
	}
}

// run wires the producer and runs it, once or on the -every schedule,
// printing a summary of each run to out.
func run(ctx context.Context, cfg config, log *slog.Logger, out io.Writer) error {
	p, err := open(ctx, cfg, log, prometheus.NewRegistry())
	if err != nil {
		return err
	}
	defer p.close()

	// The relay runs for the life of the process, across runs: it also
	// publishes what a process killed earlier left staged.
	relayCtx, stopRelay := context.WithCancel(ctx)
	relayDone := make(chan error, 1)
	go func() { relayDone <- p.relay.Run(relayCtx) }()

	err = ingest.Schedule{Every: cfg.every, Runs: cfg.runs, Logger: log}.Run(ctx, func(ctx context.Context) error { return p.ingestRun(ctx, out) })
	stopRelay() // the relay commits its batch and returns
	return errors.Join(err, <-relayDone)
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

	pool     *pgxpool.Pool
	outbox   *outbox.Store
	ledger   *runledger.Ledger
	api      *connect.API
	loop     *ingest.Loop
	producer *kafkasink.Producer
	relay    *outbox.Relay

	// counts are what this process fetched and staged, for the run ledger
	// (the metrics are the components' own); the relay counts what it
	// publishes (its Stats).
	fetched, staged, duplicates, invalid atomic.Int64
	// settled is the process's counts at the end of the last run (zero
	// before the first): where the next run's share starts. The relay
	// publishes between runs too (rows left pending by a process that
	// died, or staged by another), and that is the next run's, not
	// nobody's.
	settled runledger.Run
}

// open connects to the servers and builds the producer, creating what is
// missing: the outbox and ledger tables and the topics. Close it when done.
func open(ctx context.Context, cfg config, log *slog.Logger, reg *prometheus.Registry) (_ *pipeline, err error) {
	if memlimit.Apply(cfg.memoryLimit) { // the process's
		log.Debug("soft memory limit set", "bytes", cfg.memoryLimit)
	}
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
	if err := p.openIngest(); err != nil {
		return nil, err
	}
	if err := p.openKafka(ctx, sec.Kafka); err != nil {
		return nil, err
	}
	return p, p.serveConsole(ctx) // it reads the ledger
}

// openPostgres connects to PostgreSQL, which holds the outbox and the run
// ledger, in one schema, over one pool, and creates their tables.
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
	// together (a producer and its consumers), so each runs them at start.
	if err := errors.Join(p.outbox.Migrate(ctx), p.ledger.Migrate(ctx)); err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	return nil
}

// openIngest creates the Random User API client (-offline: an in-process
// imitation of the API, for machines without internet) and the loop that
// fetches -users users of -seed, page by page, maps each to a row and
// stages each page in the outbox, where the relay picks it up. Each page
// staged is counted, for the run ledger and the progress line.
func (p *pipeline) openIngest() (err error) {
	if p.api, err = connect.OpenAPI(p.cfg.apiURL, p.cfg.offline, randomuser.WithLogger(p.log), randomuser.WithMetrics(p.reg)); err != nil {
		return err
	} else if p.api.Offline() {
		p.log.Info("serving the Random User API offline", "url", p.api.BaseURL)
	}
	nat := strings.FieldsFunc(p.cfg.nat, func(r rune) bool { return r == ',' })
	p.loop, err = ingest.New(p.api, p.outbox, ingest.WithPageSize(p.cfg.pageSize), ingest.WithRate(p.cfg.rate), ingest.WithNat(nat...),
		ingest.WithLogger(p.log), ingest.WithMetrics(p.reg), ingest.WithPageHook(func(pg ingest.Page) {
			p.fetched.Add(int64(pg.Fetched))
			p.invalid.Add(int64(pg.Invalid))
			p.staged.Add(int64(pg.Staged))
			p.duplicates.Add(int64(pg.Duplicates))
		}))
	return err
}

// openKafka creates the producer, the topics and the relay that publishes
// the outbox through the producer.
func (p *pipeline) openKafka(ctx context.Context, sec secure.Kafka) error {
	// SASL and TLS, checked by one connection; the registry's client. In
	// registry mode the value schema is registered now, so that a registry
	// that is down, or a subject whose compatibility rule refuses the
	// schema, stops the program before it stages or produces anything.
	k, err := p.cfg.servers().OpenKafka(ctx, sec)
	if err != nil {
		return err
	}
	if p.producer, err = k.NewProducer(ctx, kafkasink.WithTopic(p.cfg.topic), kafkasink.WithLogger(p.log), kafkasink.WithMetrics(p.reg)); err != nil {
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

// close releases everything open opened; the relay must have stopped.
func (p *pipeline) close() {
	if p.stopConsole != nil {
		p.stopConsole()
	}
	if p.producer != nil {
		p.producer.Close()
	}
	if p.pool != nil {
		p.pool.Close()
	}
	if p.api != nil {
		p.api.Close()
	}
}

// counted returns r with the process's counts so far less base's: the
// share of r's run.
func (p *pipeline) counted(r, base runledger.Run) runledger.Run {
	r.Fetched, r.Staged, r.Duplicates, r.Invalid = p.fetched.Load(), p.staged.Load(), p.duplicates.Load(), p.invalid.Load()
	r.Published = p.relay.Stats().Published
	return r.Since(base)
}

// ingestRun is one run: fetch and stage -users users, wait until the relay
// has published them, record the run in the ledger and print its summary.
func (p *pipeline) ingestRun(ctx context.Context, out io.Writer) error {
	run := runledger.Run{RunID: runledger.NewRunID("ingest"), Kind: "ingest", StartedAt: time.Now()}
	if err := p.ledger.Start(ctx, run.RunID, run.Kind); err != nil {
		return err
	}
	base := p.settled
	stopProgress := p.startProgress(ctx, run, base)
	// What was fetched before a fetch error is staged: the next run of the
	// seed skips it.
	_, err := p.loop.Run(ctx, run.RunID, p.cfg.seed, p.cfg.users)
	if err == nil {
		err = p.drain(ctx)
	}
	stopProgress()
	total := p.counted(run, runledger.Run{})
	r := total.Since(base)
	p.settled = total
	took := time.Since(run.StartedAt)
	r.Status, r.Error = runledger.Outcome(ctx, err)
	if r.Status == runledger.StatusInterrupted {
		err = nil // the next run carries on
	}
	// A success also sets the ledger's last-success gauge, which an alert
	// watches.
	err = errors.Join(err, p.ledger.Update(ctx, r))
	writeSummary(out, p.cfg, r, took)
	return err
}

// drain returns once the relay has published everything staged: a
// Relay.Drain beside Run (they share the position, a round at a time).
// Drain ends at a failed round where Run retries; the run waits the outage
// out as Run does, so that Kafka or PostgreSQL restarting does not fail it.
func (p *pipeline) drain(ctx context.Context) error {
	for {
		err := p.relay.Drain(ctx)
		if err == nil || ctx.Err() != nil || errors.Is(err, outbox.ErrTopicMismatch) || errors.Is(err, outbox.ErrNotMigrated) {
			return err
		}
		p.log.Warn("waiting for the relay", "err", err)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
	}
}
