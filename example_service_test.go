package userstream_test

import (
	"context"
	"errors"
	"log"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/scylladb/gocqlx/v2"

	"github.com/userstream/userstream/cassandrastore"
	"github.com/userstream/userstream/connect"
	"github.com/userstream/userstream/ingest"
	"github.com/userstream/userstream/kafkasink"
	"github.com/userstream/userstream/kafkasink/outbox"
	"github.com/userstream/userstream/randomuser"
	"github.com/userstream/userstream/runledger"
	"github.com/userstream/userstream/secure"
)

// A service that runs the whole pipeline until it is stopped: every hour it
// fetches 1,000 new users and stages them in the outbox, while a relay
// publishes what is staged to Kafka and a consumer group stores it in
// Cassandra, the three at once, with their metrics on one registry served on
// /metrics. The README's "Use it in your service" shows serve, between the
// snippet markers (TestReadmeServiceSnippet keeps the two the same). The
// example has no output: `go test` compiles it and does not run it, since it
// needs the servers.
func Example_service() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	reg := prometheus.NewRegistry()
	http.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	go func() { log.Print(http.ListenAndServe("127.0.0.1:9464", nil)) }()
	if err := open(ctx, reg); err != nil {
		log.Fatal(err)
	}
}

// open finds the servers (connect.FromEnv: USERSTREAM_KAFKA_BROKERS,
// USERSTREAM_CASSANDRA_HOSTS, USERSTREAM_POSTGRES_DSN), secures their clients
// (secure.FromEnv: logins, passwords and TLS, see docs/credentials.md), opens
// them, each checked against its server so that a wrong address or password
// fails here naming what to fix, and serves until ctx ends.
func open(ctx context.Context, reg prometheus.Registerer) error {
	srv, srvErr := connect.FromEnv()
	sec, secErr := secure.FromEnv()
	if err := errors.Join(srvErr, secErr); err != nil {
		return err
	}
	k, err := srv.OpenKafka(ctx, sec.Kafka) // franz-go options (SASL, TLS); holds no connection
	if err != nil {
		return err
	}
	pool, err := srv.OpenPostgres(ctx, sec.Postgres)
	if err != nil {
		return err
	}
	defer pool.Close()
	session, err := srv.OpenCassandra(ctx, sec.Cassandra)
	if err != nil {
		return err
	}
	defer session.Close()
	return serve(ctx, srv, k, pool, session, reg)
}

// snippet: service
func serve(ctx context.Context, srv connect.Servers, k connect.Kafka, pool *pgxpool.Pool, session gocqlx.Session, reg prometheus.Registerer) error {
	api, apiErr := randomuser.New(randomuser.WithMetrics(reg))
	box, boxErr := outbox.NewStore(pool, outbox.WithMetrics(reg)) // schema "userstream", bound to one topic
	store, storeErr := cassandrastore.New(session, cassandrastore.WithMetrics(reg))
	if err := errors.Join(apiErr, boxErr, storeErr); err != nil {
		return err
	}
	producer, err := kafkasink.NewProducer(k.Brokers, kafkasink.WithClientOpts(k.ClientOpts...), kafkasink.WithMetrics(reg))
	if err != nil {
		return err
	}
	defer producer.Close()
	consumer, err := kafkasink.NewConsumer(k.Brokers, "users-to-cassandra", kafkasink.ChangesHandler(store.ApplyMany, kafkasink.RejectedRows),
		kafkasink.WithClientOpts(k.ClientOpts...), kafkasink.WithCreateDLQ(3, int16(srv.Replication)), kafkasink.WithMetrics(reg))
	if err != nil {
		return err
	}
	defer consumer.Close()
	relay, relayErr := outbox.NewRelay(box, producer, outbox.WithMetrics(reg))
	loop, loopErr := ingest.New(api, box, ingest.WithMetrics(reg))
	_, topicErr := connect.EnsureTopics(ctx, producer.Client(), srv.Topic(kafkasink.DefaultTopic, 3))
	if err := errors.Join(relayErr, loopErr, topicErr, box.Migrate(ctx), store.Migrate(ctx)); err != nil {
		return err
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 3)               // the three run at once; the first to return stops the others
	go func() { done <- relay.Run(ctx) }()    // to Kafka as rows are staged (a batch job calls relay.Drain)
	go func() { done <- consumer.Run(ctx) }() // to Cassandra; offsets committed once the rows are stored
	go func() {
		done <- ingest.Schedule{Every: time.Hour}.Run(ctx, func(ctx context.Context) error {
			_, err := loop.Run(ctx, runledger.NewRunID("ingest"), "", 1000) // seed "": new users each run
			return err
		})
	}()
	err = <-done
	cancel()
	return errors.Join(err, <-done, <-done)
}

// snippet: end
