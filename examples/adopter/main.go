// Command adopter is "signups", a service built on the userstream SDK as a
// module that imports it would build it, from its public packages only.
// It has three commands:
//
//	adopter ingest -users 5000 -seed signups     # fetch, stage in the outbox, relay until nothing is pending
//	adopter store -until-end                     # consume into Cassandra until the topic is stored, then exit
//	adopter store -addr :8080                    # the same as a service, until SIGTERM
//	adopter deadletters list [-reason decode]    # the latest dead letters, newest first
//	adopter deadletters redrive -reason decode   # send them back to the topic, once the cause is fixed
//
// ingest fetches -users users of -seed from the Random User API (-api;
// offline, point it at `go run ./examples/randomuserserver` from the
// repository's root), stages them in a PostgreSQL outbox and relays them to
// Kafka until nothing is pending (outbox.Relay.Drain), then prints a
// summary. Users already staged with the same content are not staged
// again, so running it again with the same -seed publishes nothing; a user
// whose content changed is staged as a new version, which replaces the
// older one in Cassandra.
//
// store consumes the topic as the consumer group -group into the Cassandra
// keyspace -keyspace, committing offsets only once the rows are stored; a
// row Cassandra can never take, and a record that is not a row, goes to the
// dead-letter topic <topic>.dlq. With -until-end it stops once the group has
// committed the topic up to its end at start, or fails after -attempts
// failed writes of one batch in a row (a keyspace with more replicas than
// nodes); without it, a failing write is retried until it succeeds, as a
// service wants. It serves the status page at / and the Prometheus metrics
// of every component at /metrics on its own mux at -addr.
//
// The servers come from USERSTREAM_KAFKA_BROKERS, USERSTREAM_CASSANDRA_HOSTS
// and USERSTREAM_POSTGRES_DSN (package connect; each defaults to the local
// stack's), logins, passwords and TLS from the variables secure.FromEnv
// reads (docs/credentials.md). With USERSTREAM_SCHEMA_REGISTRY_URL set, both
// commands use the registry's wire format (kafkasink's registry mode). Every
// write is by the user's id at its version (the newest version wins), so a
// command that failed can simply be run again.
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
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/userstream/userstream/cassandrastore"
	"github.com/userstream/userstream/connect"
	"github.com/userstream/userstream/console"
	"github.com/userstream/userstream/ingest"
	"github.com/userstream/userstream/kafkasink"
	"github.com/userstream/userstream/kafkasink/dlq"
	"github.com/userstream/userstream/kafkasink/outbox"
	"github.com/userstream/userstream/randomuser"
	"github.com/userstream/userstream/runledger"
	"github.com/userstream/userstream/secure"
)

const usage = "usage: adopter ingest|store|deadletters list|deadletters redrive [flags] (-h for a command's flags)"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "adopter:", err)
		os.Exit(1)
	}
}

// config is what the flags and the environment say.
type config struct {
	api, seed, topic, schema, group, keyspace, addr, reason string
	users, attempts, n                                      int
	untilEnd, all                                           bool
	srv                                                     connect.Servers
	kafka                                                   connect.Kafka
	sec                                                     secure.Config
	log                                                     *slog.Logger
}

func run(ctx context.Context, args []string, out io.Writer) error {
	if len(args) == 0 {
		return errors.New(usage)
	}
	cmd, args := args[0], args[1:]
	if cmd == "deadletters" && len(args) > 0 {
		cmd, args = cmd+" "+args[0], args[1:]
	}
	var c config
	fs := flag.NewFlagSet("adopter "+cmd, flag.ContinueOnError)
	fs.StringVar(&c.topic, "topic", kafkasink.DefaultTopic, "Kafka topic; its dead-letter topic is <topic>"+kafkasink.DLQSuffix)
	switch cmd {
	case "ingest":
		fs.StringVar(&c.api, "api", randomuser.DefaultBaseURL, "base URL of the Random User API")
		fs.IntVar(&c.users, "users", 1000, "users to fetch")
		fs.StringVar(&c.seed, "seed", "signups", "API seed: the same seed gives the same users")
		fs.StringVar(&c.schema, "schema", outbox.DefaultSchema, "PostgreSQL schema of the outbox")
	case "store":
		fs.StringVar(&c.group, "group", "signups", "Kafka consumer group")
		fs.StringVar(&c.keyspace, "keyspace", cassandrastore.DefaultKeyspace, "Cassandra keyspace (table created_users)")
		fs.StringVar(&c.addr, "addr", "127.0.0.1:8080", "address of the status page (/) and /metrics; empty: none")
		fs.BoolVar(&c.untilEnd, "until-end", false, "stop once the topic is stored up to its end at start (a batch job)")
		fs.IntVar(&c.attempts, "attempts", 10, "with -until-end, fail after this many failed writes of one batch in a row")
	case "deadletters list":
		fs.StringVar(&c.reason, "reason", "", "only the letters of this reason (decode, validate, rejected, ...)")
		fs.IntVar(&c.n, "n", 20, "how many of the latest letters")
	case "deadletters redrive":
		fs.StringVar(&c.reason, "reason", "", "redrive the letters of this reason")
		fs.BoolVar(&c.all, "all", false, "redrive every letter (narrowed by -reason when given)")
	default:
		return errors.New(usage)
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	// Where the servers are, and how to log in to each: from the
	// environment, so that one binary runs on the laptop and in production.
	srv, srvErr := connect.FromEnv()
	sec, secErr := secure.FromEnv()
	if err := errors.Join(srvErr, secErr); err != nil {
		return err
	}
	// Each Open checks its connection, so that a wrong address, password
	// or certificate fails at start, naming the server and what to fix.
	k, err := srv.OpenKafka(ctx, sec.Kafka)
	if err != nil {
		return err
	}
	c.srv, c.sec, c.kafka, c.log = srv, sec, k, slog.New(slog.NewJSONHandler(os.Stderr, nil))
	switch cmd {
	case "ingest":
		return ingestUsers(ctx, c, out)
	case "store":
		return store(ctx, c, out)
	default:
		return deadLetters(ctx, c, cmd == "deadletters redrive", out)
	}
}

// ingestUsers fetches, stages and relays: a batch job, run on a schedule.
func ingestUsers(ctx context.Context, c config, out io.Writer) error {
	pool, err := c.srv.OpenPostgres(ctx, c.sec.Postgres)
	if err != nil {
		return err
	}
	defer pool.Close()
	api, err := connect.OpenAPI(c.api, false, randomuser.WithLogger(c.log),
		randomuser.WithRateLimit(randomuser.PublicRateLimitUsers, randomuser.PublicRateLimitWindow))
	if err != nil {
		return err
	}
	defer api.Close()
	// With USERSTREAM_SCHEMA_REGISTRY_URL set, in registry mode, the schema
	// registered before anything is produced.
	producer, err := c.kafka.NewProducer(ctx, kafkasink.WithTopic(c.topic), kafkasink.WithLogger(c.log))
	if err != nil {
		return err
	}
	defer producer.Close()
	// The outbox is bound to the topic by the relay's first publishing round: another
	// service's relay on the same schema fails instead of stealing its rows.
	box, boxErr := outbox.NewStore(pool, outbox.WithSchema(c.schema))
	relay, relayErr := outbox.NewRelay(box, producer, outbox.WithLogger(c.log))
	loop, loopErr := ingest.New(api, box, ingest.WithLogger(c.log))
	_, topicErr := connect.EnsureTopics(ctx, producer.Client(), c.srv.Topic(c.topic, 3))
	if err := errors.Join(boxErr, relayErr, loopErr, topicErr); err != nil {
		return err
	}
	if err := box.Migrate(ctx); err != nil {
		return err
	}
	res, err := loop.Run(ctx, runledger.NewRunID("signups"), c.seed, c.users)
	if err != nil {
		return err
	}
	// Relay until nothing is pending (waiting out another relay of this
	// outbox), then delete the published rows past the retention. A failed
	// run is run again: the relay resumes where it stopped.
	if err := relay.Drain(ctx); err != nil {
		return err
	}
	fmt.Fprintf(out, "ingest: fetched %d users (%d invalid), staged %d (%d already staged), published %d to %s\n",
		res.Fetched, res.Invalid, res.Staged, res.Duplicates, relay.Stats().Published, c.topic)
	return nil
}

// store consumes the topic into Cassandra, serving its status page and
// metrics meanwhile.
func store(ctx context.Context, c config, out io.Writer) error {
	session, err := c.srv.OpenCassandra(ctx, c.sec.Cassandra, cassandrastore.WithLogger(c.log))
	if err != nil {
		return err
	}
	defer session.Close()
	// One registry for every component: each registers its own series.
	reg := prometheus.NewRegistry()
	rows, err := cassandrastore.New(session, cassandrastore.WithKeyspace(c.keyspace),
		cassandrastore.WithLogger(c.log), cassandrastore.WithMetrics(reg))
	if err != nil {
		return err
	}
	// Each batch goes to the bulk write, at each change's version (a newer
	// version wins, a delete sticks, an old record replayed changes
	// nothing); the rows it can never write go to the dead-letter topic
	// (created if missing), any other failure is retried, and nothing is
	// committed before it is stored.
	opts := []kafkasink.ConsumerOpt{kafkasink.WithTopic(c.topic), kafkasink.WithLogger(c.log),
		kafkasink.WithMetrics(reg), kafkasink.WithCreateDLQ(3, int16(c.srv.Replication))}
	if c.untilEnd {
		opts = append(opts, kafkasink.WithStopAtEnd(), kafkasink.WithMaxHandlerAttempts(c.attempts))
	}
	consumer, err := c.kafka.NewConsumer(c.group, kafkasink.ChangesHandler(rows.ApplyMany, kafkasink.RejectedRows), opts...)
	if err != nil {
		return err
	}
	defer consumer.Close()
	// The table, and the topic, so that the service may start before the
	// first ingest.
	_, topicErr := connect.EnsureTopics(ctx, consumer.Client(), c.srv.Topic(c.topic, 3))
	if err := errors.Join(rows.Migrate(ctx), topicErr); err != nil {
		return err
	}
	if c.addr != "" {
		// The status page (with the latest dead letters) and the metrics, on
		// a mux of the service's own.
		queue, err := dlq.New(c.srv.KafkaBrokers, dlq.WithDataTopic(c.topic), dlq.WithClientOpts(c.kafka.ClientOpts...), dlq.WithLogger(c.log))
		if err != nil {
			return err
		}
		defer queue.Close()
		page, err := console.New(console.WithGatherer(reg), console.WithDeadLetters(queue), console.WithTitle("signups"))
		if err != nil {
			return err
		}
		mux := http.NewServeMux()
		mux.Handle("/", page)
		console.Handle(mux, reg) // /metrics (every component's series), /healthz, /debug/pprof/
		server, err := console.Serve(ctx, c.addr, mux)
		if err != nil {
			return err
		}
		sampling, stopSampling := context.WithCancel(ctx)
		defer stopSampling()
		go page.Run(sampling) // the chart's history, before anyone opens the page
		fmt.Fprintf(out, "store: status page on http://%s/, metrics on http://%s/metrics\n", server.Addr(), server.Addr())
	}
	err = consumer.Run(ctx)
	fmt.Fprintf(out, "store: stored %d in %s.%s, dead-lettered %d to %s\n",
		consumer.Stats().Handled, rows.Keyspace(), rows.Table(), consumer.Stats().DeadLettered, consumer.DLQTopic())
	return err
}

// deadLetters lists the latest dead letters, or redrives them.
func deadLetters(ctx context.Context, c config, redrive bool, out io.Writer) error {
	queue, err := dlq.New(c.srv.KafkaBrokers, dlq.WithDataTopic(c.topic), dlq.WithClientOpts(c.kafka.ClientOpts...), dlq.WithLogger(c.log))
	if err != nil {
		return err
	}
	defer queue.Close()
	if redrive {
		// Nothing is deleted from the dead-letter topic; the redrive log
		// makes a second redrive of the same letters send nothing.
		report, err := queue.Redrive(ctx, dlq.Selection{All: c.all, Reason: c.reason})
		for _, s := range report.Skipped {
			fmt.Fprintf(out, "skipped %s (%s): %v\n", s.Letter, s.Reason, s.Err)
		}
		fmt.Fprintf(out, "redrove %d of %d letters selected to %s, skipped %d\n", len(report.Redriven), report.Selected, c.topic, len(report.Skipped))
		return err
	}
	letters, err := queue.Latest(ctx, dlq.Selection{Reason: c.reason}, c.n)
	if errors.Is(err, kafkasink.ErrTopicNotFound) {
		letters, err = nil, nil // no record has been dead-lettered yet
	}
	for _, l := range letters {
		fmt.Fprintf(out, "%s %s reason %s from %s redrive count %d redriven %t: %s\n",
			l.Position, l.Time.UTC().Format(time.RFC3339), l.Reason, l.Original, l.RedriveCount, l.Redriven != nil, l.Error)
	}
	fmt.Fprintf(out, "%d dead letters listed from %s\n", len(letters), queue.Topic())
	return err
}
