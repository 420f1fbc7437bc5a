// Command explain prints where one user is in the pipeline, hop by hop
// (package explain): the runs that staged it and when, its versions in the
// PostgreSQL outbox and whether the relay passed them, the Kafka record at
// the partition and offset the relay recorded, the Cassandra row's write
// time, and its dead letters with reason and position. The servers come
// from package connect: USERSTREAM_POSTGRES_DSN,
// USERSTREAM_KAFKA_BROKERS (or -brokers) and USERSTREAM_CASSANDRA_HOSTS
// (or -cassandra-hosts), credentials and TLS from the variables package
// secure reads.
//
//	explain 7a0eed16-9430-4d68-901f-c0d4c1c3bf00
//	explain -json 7a0eed16-9430-4d68-901f-c0d4c1c3bf00     # one JSON object, for tools
//	explain -topic orders -group orders-cassandra -pg-schema orders ID
//
// Exit status: 0 when the report was made, whatever it says (the verdict
// is its first line, or "verdict" under -json); 1 on an error (a server
// down, an id that is not a UUID).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/userstream/userstream/cassandrastore"
	"github.com/userstream/userstream/connect"
	"github.com/userstream/userstream/explain"
	"github.com/userstream/userstream/kafkasink"
	"github.com/userstream/userstream/kafkasink/dlq"
	"github.com/userstream/userstream/kafkasink/outbox"
	"github.com/userstream/userstream/runledger"
	"github.com/userstream/userstream/secure"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "explain:", err)
		os.Exit(1)
	}
}

// config is what the command is configured with.
type config struct {
	srv                       connect.Servers
	id                        string
	keyspace, table, pgSchema string
	topic, group              string
	scan                      int
	asJSON                    bool
	timeout                   time.Duration
}

// parseFlags reads the command line into a config.
func parseFlags(args []string, errOut io.Writer) (config, error) {
	var c config
	fs := flag.NewFlagSet("explain", flag.ContinueOnError)
	fs.SetOutput(errOut)
	fs.Usage = func() {
		fmt.Fprintln(errOut, "usage: explain [flags] USER-ID")
		fs.PrintDefaults()
	}
	srv, envErr := connect.FromEnv()
	srv.KafkaFlags(fs)
	srv.CassandraFlags(fs)
	fs.StringVar(&c.keyspace, "keyspace", cassandrastore.DefaultKeyspace, "Cassandra keyspace")
	fs.StringVar(&c.table, "table", cassandrastore.DefaultTable, "Cassandra table")
	fs.StringVar(&c.pgSchema, "pg-schema", outbox.DefaultSchema, "PostgreSQL schema of the outbox and the run ledger (DSN from env "+connect.EnvPostgresDSN+")")
	fs.StringVar(&c.topic, "topic", kafkasink.DefaultTopic, "the pipeline's topic, whose dead-letter topic is searched")
	fs.StringVar(&c.group, "group", "userstream-cassandra", "the consumer group that stores the topic in Cassandra (says whether it consumed the record); empty: not asked")
	fs.IntVar(&c.scan, "dlq-scan", explain.DefaultDeadLetterScan, "newest dead letters read, looking for the user's")
	fs.BoolVar(&c.asJSON, "json", false, "print the report as one JSON object")
	fs.DurationVar(&c.timeout, "timeout", 30*time.Second, "give up after this long")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return c, fmt.Errorf("want one user id, got %d arguments", fs.NArg())
	}
	c.id = strings.ToLower(strings.TrimSpace(fs.Arg(0)))
	c.srv = srv
	return c, envErr
}

// run explains the user args name and writes the report to out.
func run(ctx context.Context, args []string, out, errOut io.Writer) error {
	c, err := parseFlags(args, errOut)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	log := slog.New(slog.NewTextHandler(errOut, &slog.HandlerOptions{Level: slog.LevelWarn}))

	// Credentials and TLS from the environment or files, never flags;
	// nothing set means the local stack's plain listeners.
	sec, err := secure.FromEnv()
	if err != nil {
		return err
	}
	pool, err := c.srv.OpenPostgres(ctx, sec.Postgres) // pinged
	if err != nil {
		return err
	}
	defer pool.Close()
	session, err := c.srv.OpenCassandra(ctx, sec.Cassandra)
	if err != nil {
		return err
	}
	defer session.Close()
	kafka, err := c.srv.OpenKafka(ctx, sec.Kafka) // pinged
	if err != nil {
		return err
	}
	box, err := outbox.NewStore(pool, outbox.WithSchema(c.pgSchema))
	if err != nil {
		return err
	}
	table, err := cassandrastore.New(session, cassandrastore.WithKeyspace(c.keyspace), cassandrastore.WithTable(c.table), cassandrastore.WithLogger(log))
	if err != nil {
		return err
	}
	ledger, err := runledger.New(pool, runledger.WithSchema(c.pgSchema))
	if err != nil {
		return err
	}
	queue, err := dlq.New(kafka.Brokers, dlq.WithDataTopic(c.topic), dlq.WithClientOpts(kafka.ClientOpts...), dlq.WithLogger(log))
	if err != nil {
		return err
	}
	defer queue.Close()
	opts := []explain.Opt{explain.WithRuns(ledger), explain.WithDeadLetters(queue), explain.WithDeadLetterScan(c.scan)}
	if c.group != "" {
		opts = append(opts, explain.WithConsumerGroup(c.group))
	}
	ex, err := explain.New(box, table, append([]kgo.Opt{kgo.SeedBrokers(kafka.Brokers...)}, kafka.ClientOpts...), opts...)
	if err != nil {
		return err
	}
	rep, err := ex.User(ctx, c.id)
	if err != nil {
		return err
	}
	if c.asJSON {
		return json.NewEncoder(out).Encode(rep)
	}
	return printText(out, rep)
}
