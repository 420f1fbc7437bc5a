package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/userstream/userstream/cassandrastore"
	"github.com/userstream/userstream/connect"
	"github.com/userstream/userstream/explain"
	"github.com/userstream/userstream/internal/testenv"
	"github.com/userstream/userstream/internal/testrows"
	"github.com/userstream/userstream/kafkasink"
	"github.com/userstream/userstream/kafkasink/outbox"
)

// The command explains a stored user in text and in JSON, with the place
// of its record and the write time of its row, one staged and not yet
// relayed as pending, and an id never staged as such, without an error.
func TestExplainCommand(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	dsn := testenv.PostgresDSN(t)
	hosts := testenv.CassandraHosts(t)
	brokers := testenv.KafkaBrokers(t)
	t.Setenv(connect.EnvPostgresDSN, dsn)
	t.Setenv(connect.EnvCassandraHosts, strings.Join(hosts, ","))
	t.Setenv(connect.EnvKafkaBrokers, strings.Join(brokers, ","))
	name := testenv.Name(t, "explcmd")
	quiet := slog.New(slog.DiscardHandler)

	pool, err := pgxpool.New(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	t.Cleanup(func() {
		_, _ = pool.Exec(context.Background(), `DROP SCHEMA IF EXISTS `+pgx.Identifier{name}.Sanitize()+` CASCADE`)
	})
	box, err := outbox.NewStore(pool, outbox.WithSchema(name))
	if err != nil {
		t.Fatal(err)
	}
	if err := box.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	session, err := cassandrastore.NewSession(ctx, hosts, cassandrastore.WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	defer session.Close()
	t.Cleanup(func() { _ = session.ExecStmt("DROP KEYSPACE IF EXISTS " + name) })
	table, err := cassandrastore.New(session, cassandrastore.WithKeyspace(name), cassandrastore.WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	if err := table.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatal(err)
	}
	for _, topic := range []string{name, kafkasink.DLQTopicFor(name)} {
		if _, err := kafkasink.EnsureTopic(ctx, cl, kafkasink.TopicSpec{Name: topic, Partitions: 2, ReplicationFactor: 1}); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		_, _ = kadm.NewClient(cl).DeleteTopics(context.Background(), name, kafkasink.DLQTopicFor(name))
		cl.Close()
	})

	// Stage two users, relay them and store them, as the pipeline would.
	rows := testrows.Rows(3)
	if _, err := box.Stage(ctx, "run-1", rows[:2]); err != nil {
		t.Fatal(err)
	}
	p, err := kafkasink.NewProducer(brokers, kafkasink.WithTopic(name), kafkasink.WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	relay, err := outbox.NewRelay(box, p)
	if err != nil {
		t.Fatal(err)
	}
	if err := relay.Drain(ctx); err != nil {
		t.Fatal(err)
	}
	c, err := kafkasink.NewConsumer(brokers, name, kafkasink.ChangesHandler(table.ApplyMany, kafkasink.RejectedRows),
		kafkasink.WithTopic(name), kafkasink.WithStopAtEnd(), kafkasink.WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := box.Stage(ctx, "run-2", rows[2:]); err != nil { // pending
		t.Fatal(err)
	}
	h, err := box.History(ctx, rows[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	latest, _ := h.Latest()

	explainCmd := func(args ...string) (string, error) {
		var out, errOut bytes.Buffer
		err := run(ctx, append([]string{"-pg-schema", name, "-keyspace", name, "-topic", name, "-group", name}, args...), &out, &errOut)
		if errOut.Len() > 0 {
			t.Logf("stderr of %v:\n%s", args, errOut.String())
		}
		return out.String(), err
	}

	text, err := explainCmd(rows[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("a stored user:\n%s", text)
	for _, want := range []string{
		"stored: ",
		"runs:\n  run-1: 1 version(s); no run ledger in this schema",
		fmt.Sprintf("seq %d version %d upsert, run run-1", latest.Seq, latest.Version.Version),
		fmt.Sprintf("published at %d/%d", latest.Record.Partition, latest.Record.Offset),
		fmt.Sprintf("kafka: %s partition %d offset %d, key matches, row-version %d", name, latest.Record.Partition, latest.Record.Offset, latest.Version.Version),
		"consumed true",
		fmt.Sprintf("cassandra: %s.%s has the row, write time %d", name, cassandrastore.DefaultTable, latest.Version.Version),
		"at the latest version: true",
		"dead letters: none in " + kafkasink.DLQTopicFor(name),
	} {
		if !strings.Contains(text, want) {
			t.Errorf("the text lacks %q:\n%s", want, text)
		}
	}

	js, err := explainCmd("-json", rows[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	var rep explain.Report
	if err := json.Unmarshal([]byte(js), &rep); err != nil {
		t.Fatalf("-json: %v\n%s", err, js)
	}
	if rep.Verdict != explain.Stored || rep.Kafka.Offset != latest.Record.Offset || rep.Kafka.Partition != latest.Record.Partition ||
		rep.Cassandra.WriteTime != latest.Version.Version || len(rep.Outbox.Versions) != 1 {
		t.Errorf("-json report: %s", js)
	}

	text, err = explainCmd(rows[2].ID)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(text, "pending: ") || !strings.Contains(text, "cassandra: "+name+"."+cassandrastore.DefaultTable+" has no row") {
		t.Errorf("pending user:\n%s", text)
	}

	text, err = explainCmd("00000000-0000-4000-8000-000000000000")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(text, "not-staged: ") || !strings.Contains(text, "no version: not staged here") {
		t.Errorf("unknown user:\n%s", text)
	}
	t.Logf("an unknown user:\n%s", text)

	if _, err := explainCmd("not-a-uuid"); err == nil {
		t.Error("an id that is not a UUID: no error")
	}
	if _, err := explainCmd(); err == nil {
		t.Error("no id: no error")
	}
}
