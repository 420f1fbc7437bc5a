// Command adopter is the userstream pipeline as a service that imports the
// module would wire it, from its public packages only: fetch users from the
// Random User API, stage them in a PostgreSQL outbox, relay them to Kafka,
// consume them into Cassandra, and stop once every user fetched is stored
// (or dead-lettered), printing a summary.
//
//	go run . -users 1000 -api https://randomuser.me/api/
//
// The servers come from USERSTREAM_KAFKA_BROKERS, USERSTREAM_CASSANDRA_HOSTS
// (both comma-separated) and USERSTREAM_POSTGRES_DSN; logins, passwords and
// TLS from the variables secure.FromEnv reads (the README's "Credentials and
// TLS"). Offline, point -api at `go run ./examples/randomuserserver` from the
// repository's root. A run that fails can be run again: what it staged
// stays in the outbox and is relayed then, and every write is an upsert by
// the user's id, so running again with the same -seed changes nothing.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/userstream/userstream/cassandrastore"
	"github.com/userstream/userstream/kafkasink"
	"github.com/userstream/userstream/kafkasink/outbox"
	"github.com/userstream/userstream/randomuser"
	"github.com/userstream/userstream/runledger"
	"github.com/userstream/userstream/secure"
	"github.com/userstream/userstream/transform"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "adopter:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("adopter", flag.ContinueOnError)
	api := fs.String("api", randomuser.DefaultBaseURL, "base URL of the Random User API")
	users := fs.Int("users", 1000, "users to fetch")
	seed := fs.String("seed", "adopter", "API seed: the same seed gives the same users")
	topic := fs.String("topic", kafkasink.DefaultTopic, "Kafka topic; its dead-letter topic is <topic>"+kafkasink.DLQSuffix)
	group := fs.String("group", "userstream-adopter", "Kafka consumer group")
	keyspace := fs.String("keyspace", cassandrastore.DefaultKeyspace, "Cassandra keyspace (table created_users)")
	schema := fs.String("schema", outbox.DefaultSchema, "PostgreSQL schema of the outbox")
	if err := fs.Parse(args); err != nil {
		return err
	}
	brokers, hosts, dsn := os.Getenv("USERSTREAM_KAFKA_BROKERS"), os.Getenv("USERSTREAM_CASSANDRA_HOSTS"), os.Getenv("USERSTREAM_POSTGRES_DSN")
	if brokers == "" || hosts == "" || dsn == "" {
		return errors.New("set USERSTREAM_KAFKA_BROKERS, USERSTREAM_CASSANDRA_HOSTS and USERSTREAM_POSTGRES_DSN")
	}
	seeds, nodes := strings.Split(brokers, ","), strings.Split(hosts, ",")
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))

	// Logins, passwords and TLS from the environment, turned into each
	// driver's configuration: franz-go options (SASL, TLS), a pgx pool
	// configuration (verify-full; the password kept out of the DSN) and a
	// gocql cluster adjustment (Authenticator, SslOpts). The pings connect
	// once to each server, so that a wrong password or certificate fails
	// here, naming the server, the cause and the variable to fix.
	sec, err := secure.FromEnv()
	if err != nil {
		return err
	}
	kafkaOpts, kafkaErr := sec.Kafka.Opts()
	pgCfg, pgErr := sec.Postgres.PoolConfig(dsn)
	if err := errors.Join(kafkaErr, pgErr,
		sec.Kafka.Ping(ctx, seeds), sec.Cassandra.Ping(ctx, nodes), sec.Postgres.Ping(ctx, dsn)); err != nil {
		return err
	}

	// The connections, closed on return. cassandrastore's session is tuned
	// for these writes (LOCAL_QUORUM, token-aware routing, retries); the
	// login and TLS go into it through WithClusterConfig.
	pool, err := pgxpool.NewWithConfig(ctx, pgCfg)
	if err != nil {
		return err
	}
	defer pool.Close()
	session, err := cassandrastore.NewSession(ctx, nodes, cassandrastore.WithClusterConfig(sec.Cassandra.Apply),
		cassandrastore.WithLogger(log))
	if err != nil {
		return err
	}
	defer session.Close()
	producer, err := kafkasink.NewProducer(seeds, kafkasink.WithTopic(*topic), kafkasink.WithClientOpts(kafkaOpts...), kafkasink.WithLogger(log))
	if err != nil {
		return err
	}
	defer producer.Close()

	// The stages. Their constructors only check options; Migrate creates
	// (or upgrades) the outbox's tables and created_users, EnsureTopic the
	// topic (brokers rarely create topics on first use).
	box, boxErr := outbox.NewStore(pool, outbox.WithSchema(*schema))
	store, storeErr := cassandrastore.New(session, cassandrastore.WithKeyspace(*keyspace), cassandrastore.WithLogger(log))
	client, clientErr := randomuser.New(randomuser.WithBaseURL(*api),
		randomuser.WithRateLimit(randomuser.PublicRateLimitUsers, randomuser.PublicRateLimitWindow))
	if err := errors.Join(boxErr, storeErr, clientErr); err != nil {
		return err
	}
	relay, relayErr := outbox.NewRelay(box, producer, outbox.WithLogger(log))
	_, topicErr := kafkasink.EnsureTopic(ctx, producer.Client(), kafkasink.TopicSpec{Name: *topic, Partitions: 3, ReplicationFactor: 1})
	if err := errors.Join(relayErr, topicErr, box.Migrate(ctx), store.Migrate(ctx)); err != nil {
		return err
	}
	// The consumer hands each batch to the store's bulk upsert. A row it can
	// never write goes to <topic>.dlq, created if missing; any other failure
	// is retried, not committed. With WithStopAtEnd, Run returns once the
	// group has committed the topic up to the end offsets it saw at start.
	consumer, err := kafkasink.NewConsumer(seeds, *group, kafkasink.RowsHandler(store.UpsertMany, kafkasink.RejectedRows),
		kafkasink.WithTopic(*topic), kafkasink.WithClientOpts(kafkaOpts...), kafkasink.WithLogger(log), kafkasink.WithCreateDLQ(3, 1), kafkasink.WithStopAtEnd())
	if err != nil {
		return err
	}
	defer consumer.Close()

	// 1. Fetch, and stage in one transaction (all or nothing; the rows are
	// held in memory until then). A user that is not a valid row is left
	// out, since Stage refuses a page holding one.
	var rows []transform.Row
	for row, err := range transform.FromUsers(client.Users(ctx, randomuser.Query{Seed: *seed}, *users)) {
		if err == nil {
			rows = append(rows, row)
		} else if !errors.As(err, new(*transform.ValidationError)) {
			return fmt.Errorf("fetch: %w", err)
		}
	}
	staged, err := box.Stage(ctx, runledger.NewRunID("adopter"), rows)
	if err != nil {
		return err
	}

	// 2. Relay until nothing is pending, waiting out another process that
	// is relaying this schema, then delete the published rows past the
	// retention. A failed round (Kafka or PostgreSQL down) fails the run;
	// running again resumes at the relay position. A long-running service
	// would run relay.Run instead, which waits those out.
	if err := relay.Drain(ctx); err != nil {
		return err
	}

	// 3. Consume until every user published is stored or dead-lettered.
	if err := consumer.Run(ctx); err != nil {
		return err
	}
	fmt.Fprintf(out, "fetched %d users (%d invalid), staged %d (%d already staged), published %d to %s, stored %d in %s.%s, dead-lettered %d to %s\n",
		*users, *users-len(rows), staged.Staged, staged.Duplicates, relay.Stats().Published, *topic,
		consumer.Stats().Handled, store.Keyspace(), store.Table(), consumer.Stats().DeadLettered, consumer.DLQTopic())
	return nil
}
