package devstack

import (
	"context"
	"testing"
	"time"

	"github.com/gocql/gocql"
	"github.com/jackc/pgx/v5"
	"github.com/scylladb/gocqlx/v2"
	"github.com/scylladb/gocqlx/v2/qb"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/userstream/userstream/internal/testenv"
)

// TestKafkaRoundTrip produces a record to a fresh topic and consumes it back.
func TestKafkaRoundTrip(t *testing.T) {
	t.Parallel()
	brokers := testenv.KafkaBrokers(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	topic := testenv.Name(t, "smoke")

	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, topic); err != nil {
		t.Fatalf("create topic: %v", err)
	}
	t.Cleanup(func() { _, _ = adm.DeleteTopics(context.Background(), topic) })

	want := []byte("hello " + topic)
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Key: []byte("k"), Value: want}).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}

	consumer, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer consumer.Close()
	for {
		fs := consumer.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			t.Fatalf("poll: %v", err)
		}
		if recs := fs.Records(); len(recs) > 0 {
			if got := string(recs[0].Value); got != string(want) {
				t.Fatalf("consumed %q, want %q", got, want)
			}
			return
		}
	}
}

// TestCassandraRoundTrip creates a keyspace and a table, then inserts and
// selects a row through gocqlx.
func TestCassandraRoundTrip(t *testing.T) {
	t.Parallel()
	hosts := testenv.CassandraHosts(t)
	ks := testenv.Name(t, "smoke")

	cluster := gocql.NewCluster(hosts...)
	cluster.Timeout = 10 * time.Second
	session, err := gocqlx.WrapSession(cluster.CreateSession())
	if err != nil {
		t.Fatalf("session: %v", err)
	}
	defer session.Close()
	if err := session.ExecStmt(`CREATE KEYSPACE ` + ks + ` WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}`); err != nil {
		t.Fatalf("create keyspace: %v", err)
	}
	t.Cleanup(func() { _ = session.ExecStmt(`DROP KEYSPACE IF EXISTS ` + ks) })
	if err := session.ExecStmt(`CREATE TABLE ` + ks + `.kv (k text PRIMARY KEY, v int)`); err != nil {
		t.Fatalf("create table: %v", err)
	}

	type kv struct {
		K string
		V int
	}
	in := kv{K: "answer", V: 42}
	if err := session.Query(qb.Insert(ks+".kv").Columns("k", "v").ToCql()).BindStruct(in).ExecRelease(); err != nil {
		t.Fatalf("insert: %v", err)
	}
	var out kv
	if err := session.Query(qb.Select(ks + ".kv").Where(qb.Eq("k")).ToCql()).BindMap(qb.M{"k": "answer"}).GetRelease(&out); err != nil {
		t.Fatalf("select: %v", err)
	}
	if out != in {
		t.Fatalf("selected %+v, want %+v", out, in)
	}
}

// TestPostgresRoundTrip inserts and selects a row through pgx in a schema of
// its own.
func TestPostgresRoundTrip(t *testing.T) {
	t.Parallel()
	dsn := testenv.PostgresDSN(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	schema := testenv.Name(t, "smoke")

	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, `CREATE SCHEMA `+schema); err != nil {
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() { _, _ = conn.Exec(context.Background(), `DROP SCHEMA IF EXISTS `+schema+` CASCADE`) })
	if _, err := conn.Exec(ctx, `CREATE TABLE `+schema+`.kv (k text PRIMARY KEY, v int)`); err != nil {
		t.Fatalf("create table: %v", err)
	}
	if _, err := conn.Exec(ctx, `INSERT INTO `+schema+`.kv (k, v) VALUES ($1, $2)`, "answer", 42); err != nil {
		t.Fatalf("insert: %v", err)
	}
	var v int
	if err := conn.QueryRow(ctx, `SELECT v FROM `+schema+`.kv WHERE k = $1`, "answer").Scan(&v); err != nil {
		t.Fatalf("select: %v", err)
	}
	if v != 42 {
		t.Fatalf("selected %d, want 42", v)
	}
}

// TestSchemaRegistryRoundTrip registers a schema in the stack's registry
// (USERSTREAM_REGISTRY=1) and reads it back by its id, through the
// Confluent API that kafkasink's registry mode uses.
func TestSchemaRegistryRoundTrip(t *testing.T) {
	t.Parallel()
	cl, err := sr.NewClient(sr.URLs(testenv.SchemaRegistryURL(t)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	subject := testenv.Name(t, "smoke") + "-value"
	schema := sr.Schema{Schema: `{"type": "object", "properties": {"n": {"type": "integer"}}}`, Type: sr.TypeJSON}
	id, err := cl.RegisterSchema(ctx, subject, schema, -1, -1)
	if err != nil {
		t.Fatalf("register: %v", err)
	}
	got, err := cl.SchemaByID(ctx, id)
	if err != nil {
		t.Fatalf("schema %d: %v", id, err)
	}
	if got.Schema != schema.Schema || got.Type != sr.TypeJSON {
		t.Errorf("schema %d = %+v, want %+v", id, got, schema)
	}
}
