// Command consumer is the storing half of the pipeline, the seed's Spark
// job: it consumes users_created in a consumer group, validates each record
// (poison goes to users_created.dlq) and writes the rows, and deletes, into
// Cassandra at their versions, committing offsets only after they are
// stored. Run several (or -consumers N) to share the partitions. It runs
// until SIGINT or SIGTERM, then finishes and commits its batch, prints a
// summary and records the run in the run ledger (examples/runs) as kind
// "consume".
//
//	consumer -group userstream-cassandra -consumers 3
//	consumer -instance-id "$POD_NAME"   # static membership: a restart takes its partitions back at once
//	consumer -replay-from 2026-12-01T10:00:00Z -dry-run   # what a replay would read again, by partition
//	consumer -replay-from 2026-12-01T10:00:00Z            # move the stopped group back there, and exit
//
// -replay-from moves the group's committed offsets back to the first
// records stamped at or after the time (kafkasink.Replay), prints the plan
// by partition and exits; the consumers run next read those records again.
// The group must be stopped (a static member stays in it for
// -session-timeout after it stops): with members it refuses and says
// which. -dry-run only prints the plan, and works while the group runs. A
// replay restores rows that are gone from Cassandra, and unversioned rows
// overwritten since; a versioned record never overwrites a newer write, so
// a row changed by hand since keeps its change (examples/reconcile repairs
// those: reconcile -repair).
//
// This file wires userstream's public packages: [connect] finds the servers
// and opens a checked client of each, secured by [secure];
// [kafkasink.Consumer]s read the topic in a group and hand each batch to
// kafkasink.ChangesHandler(store.ApplyMany, kafkasink.RejectedRows), so that
// offsets are committed once the changes are in Cassandra
// ([cassandrastore.Store]) at their versions (a newer version wins, a
// delete sticks, a replayed older record changes nothing), rows it can
// never write are dead-lettered, and an outage is retried, not lost; [runledger] records the run. Every
// component registers its Prometheus series on the process's one registry
// (WithMetrics): the consumers their dead letters, lag and latencies, the
// store its writes. console.go serves them and the status page, and prints
// the progress line and the summary; flags.go has the flags.
// examples/producer fills the topic.
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
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/scylladb/gocqlx/v2"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/userstream/userstream/cassandrastore"
	"github.com/userstream/userstream/connect"
	"github.com/userstream/userstream/kafkasink"
	"github.com/userstream/userstream/kafkasink/dlq"
	"github.com/userstream/userstream/memlimit"
	"github.com/userstream/userstream/runledger"
	"github.com/userstream/userstream/secure"
)

// consumerFetchOpts bound what a consumer buffers while Cassandra falls
// behind: with franz-go's defaults (1 MiB per partition, 50 MiB per fetch)
// a 4 s stall took the pipeline from about 60 to 70 MB resident, and
// 256 KiB per partition is still hundreds of rows per fetch.
var consumerFetchOpts = []kgo.Opt{kgo.FetchMaxPartitionBytes(256 << 10), kgo.FetchMaxBytes(2 << 20)}

func main() {
	// A signal ends ctx: the run finishes its batch and returns. The
	// process ends with main, so nothing needs to stop the notification.
	ctx, _ := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	cfg, err := parseFlags(flag.NewFlagSet("consumer", flag.ExitOnError), os.Args[1:])
	log, lerr := newLogger(cfg.logLevel)
	switch err = errors.Join(err, lerr); {
	case err != nil:
	case !cfg.replayFrom.IsZero():
		err = replay(ctx, cfg, log, os.Stdout)
	default:
		err = run(ctx, cfg, log, os.Stdout)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "consumer:", err)
		os.Exit(1)
	}
}

// run wires the consumers and runs them until ctx ends, then prints a
// summary to out.
func run(ctx context.Context, cfg config, log *slog.Logger, out io.Writer) error {
	p, err := open(ctx, cfg, log, prometheus.NewRegistry())
	if err != nil {
		return err
	}
	defer p.close()

	run := runledger.Run{RunID: runledger.NewRunID("consume"), Kind: "consume", StartedAt: time.Now()}
	if err := p.ledger.Start(ctx, run.RunID, run.Kind); err != nil {
		return err
	}
	stopProgress := p.startProgress(ctx, run)
	err = p.consume(ctx)
	stopProgress()
	r := p.counted(run)
	r.Status = runledger.StatusSucceeded // stopping is how a consumer ends
	if err != nil {
		r.Status, r.Error = runledger.StatusFailed, err.Error()
	}
	err = errors.Join(err, p.ledger.Update(ctx, r))
	writeSummary(out, cfg, r, time.Since(run.StartedAt))
	return err
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

	pool      *pgxpool.Pool
	ledger    *runledger.Ledger
	kafka     connect.Kafka // brokers, SASL and TLS, the registry: for every Kafka client
	session   gocqlx.Session
	store     *cassandrastore.Store
	consumers []*kafkasink.Consumer
}

// open connects to the servers and builds the consumers, creating what is
// missing: the ledger table, the topics, the keyspace and the table. Close
// it when done.
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
	if err := p.openKafka(ctx, sec.Kafka); err != nil {
		return nil, err
	}
	if err := p.openCassandra(ctx, sec.Cassandra); err != nil {
		return nil, err
	}
	if err := p.newConsumers(); err != nil {
		return nil, err
	}
	return p, p.serveConsole(ctx) // it reads the ledger and the dead letters
}

// openPostgres connects to PostgreSQL, which holds the run ledger.
func (p *pipeline) openPostgres(ctx context.Context, sec secure.Postgres) (err error) {
	// TLS and the password merged in; pinged: fail now, with the cause.
	if p.pool, err = p.cfg.servers().OpenPostgres(ctx, sec); err != nil {
		return err
	}
	if p.ledger, err = runledger.New(p.pool, runledger.WithSchema(p.cfg.pgSchema), runledger.WithMetrics(p.reg)); err != nil {
		return err
	}
	// Idempotent and safe for processes starting together (a producer and
	// its consumers), so each runs it at start.
	if err := p.ledger.Migrate(ctx); err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	return nil
}

// openKafka creates the topics if they are missing, so that consumers may
// start before the producer.
func (p *pipeline) openKafka(ctx context.Context, sec secure.Kafka) (err error) {
	// SASL and TLS, checked by one connection; the registry's client.
	if p.kafka, err = p.cfg.servers().OpenKafka(ctx, sec); err != nil {
		return err
	}
	admin, err := p.kafka.NewClient()
	if err != nil {
		return err
	}
	defer admin.Close()
	// Clusters rarely create topics on first use, and this one would give
	// them its default partitions: create both, as configured.
	srv := p.cfg.servers()
	created, err := connect.EnsureTopics(ctx, admin, srv.Topic(p.cfg.topic, p.cfg.partitions), srv.Topic(p.cfg.dlqTopic, 1))
	for _, spec := range created {
		p.log.Info("created topic", "topic", spec.Name, "partitions", spec.Partitions)
	}
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

// newConsumers creates the -consumers consumers of the group; each takes
// a share of the partitions once it runs.
func (p *pipeline) newConsumers() error {
	// The store's bulk write is the handler. ChangesHandler passes it each
	// batch's changes (rows and deletes, with their versions: ApplyMany
	// writes at the version, so replays and redrives never roll a row
	// back), and RejectedRows sends the rows it can never write to the
	// dead-letter topic; any other failure is retried, so a Cassandra
	// outage holds the partition instead of losing rows.
	handler := kafkasink.ChangesHandler(p.store.ApplyMany, kafkasink.RejectedRows)
	for i := range max(p.cfg.consumers, 1) {
		opts := []kafkasink.ConsumerOpt{kafkasink.WithTopic(p.cfg.topic), kafkasink.WithDLQTopic(p.cfg.dlqTopic), kafkasink.WithLogger(p.log),
			kafkasink.WithSessionTimeout(p.cfg.sessionTimeout), kafkasink.WithMetrics(p.reg), kafkasink.WithClientOpts(consumerFetchOpts...)}
		if id := instanceID(p.cfg.instanceID, p.cfg.consumers, i); id != "" {
			opts = append(opts, kafkasink.WithInstanceID(id))
		}
		// Registry mode, with a registry, reads the Confluent wire format,
		// and the plain records written before the topic switched.
		c, err := p.kafka.NewConsumer(p.cfg.group, handler, opts...)
		if err != nil {
			return err
		}
		p.consumers = append(p.consumers, c)
	}
	return nil
}

// instanceID returns consumer i's static group member id (-instance-id):
// the id itself, or id-i when the process runs several consumers, since
// two live members with one id fence each other. Empty: a dynamic member.
func instanceID(id string, consumers, i int) string {
	if id == "" || consumers <= 1 {
		return id
	}
	return fmt.Sprintf("%s-%d", id, i)
}

// consume runs the consumers until ctx ends, when they finish and commit
// their batches, or until one fails, which stops the others: the process
// exits and its supervisor restarts it.
func (p *pipeline) consume(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make([]error, len(p.consumers))
	var wg sync.WaitGroup
	for i, c := range p.consumers {
		wg.Go(func() {
			if errs[i] = c.Run(ctx); errs[i] != nil {
				cancel()
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// close releases everything open opened.
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
	if p.session.Session != nil {
		p.session.Close()
	}
	if p.pool != nil {
		p.pool.Close()
	}
}

// counted returns r with the process's counts so far: the rows the
// handler stored (the messages it accepted) and the records dead-lettered.
func (p *pipeline) counted(r runledger.Run) runledger.Run {
	for _, c := range p.consumers {
		st := c.Stats()
		r.Stored, r.DeadLettered = r.Stored+st.Handled, r.DeadLettered+st.DeadLettered
	}
	return r
}
