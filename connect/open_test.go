package connect_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/gocql/gocql"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/userstream/userstream/connect"
	"github.com/userstream/userstream/internal/testenv"
	"github.com/userstream/userstream/randomuser"
	"github.com/userstream/userstream/secure"
)

func TestOpenPostgres(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s := connect.Servers{PostgresDSN: testenv.PostgresDSN(t)}
	pool, err := s.OpenPostgres(ctx, secure.Postgres{})
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	var one int
	if err := pool.QueryRow(ctx, `SELECT 1`).Scan(&one); err != nil || one != 1 {
		t.Errorf("query: %d, %v", one, err)
	}

	// Nothing listens on port 1: the ping fails at once, naming the server.
	s.PostgresDSN = "postgres://userstream@127.0.0.1:1/userstream?sslmode=disable&connect_timeout=5"
	_, err = s.OpenPostgres(ctx, secure.Postgres{})
	var se *secure.Error
	if !errors.As(err, &se) || se.Service != "postgres" {
		t.Errorf("unreachable server: %v, want a *secure.Error of postgres", err)
	}
}

func TestOpenKafka(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s := connect.Servers{KafkaBrokers: testenv.KafkaBrokers(t)}
	k, err := s.OpenKafka(ctx, secure.Kafka{})
	if err != nil {
		t.Fatal(err)
	}
	if k.Registry != nil {
		t.Error("a registry client without a registry URL")
	}
	cl, err := k.NewClient(kgo.ClientID("connect-test"))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := cl.Ping(ctx); err != nil {
		t.Errorf("client of OpenKafka's options: %v", err)
	}

	s.SchemaRegistryURL = testenv.SchemaRegistryURL(t)
	if k, err = s.OpenKafka(ctx, secure.Kafka{}); err != nil || k.Registry == nil {
		t.Fatalf("with a registry: %+v, %v", k, err)
	}
	if _, err := k.Registry.Subjects(ctx); err != nil {
		t.Errorf("registry client: %v", err)
	}

	pctx, pcancel := context.WithTimeout(ctx, 5*time.Second)
	defer pcancel()
	s = connect.Servers{KafkaBrokers: []string{"127.0.0.1:1"}}
	_, err = s.OpenKafka(pctx, secure.Kafka{})
	var se *secure.Error
	if !errors.As(err, &se) || se.Service != "kafka" {
		t.Errorf("unreachable broker: %v, want a *secure.Error of kafka", err)
	}
}

func TestOpenCassandra(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s := connect.Servers{CassandraHosts: testenv.CassandraHosts(t), CassandraConsistency: "one"}
	session, err := s.OpenCassandra(ctx, secure.Cassandra{})
	if err != nil {
		t.Fatal(err)
	}
	defer session.Close()
	if got := session.Session.Query(`SELECT now() FROM system.local`).GetConsistency(); got != gocql.One {
		t.Errorf("session consistency %v, want ONE (Servers.CassandraConsistency)", got)
	}
	var release string
	if err := session.Query(`SELECT release_version FROM system.local`, nil).WithContext(ctx).Scan(&release); err != nil || release == "" {
		t.Errorf("query: %q, %v", release, err)
	}

	// TLS files that cannot be read fail before any connection.
	bad := secure.Cassandra{TLS: secure.TLS{Enabled: true, CAFile: t.TempDir() + "/missing.pem"}}
	if _, err := s.OpenCassandra(ctx, bad); err == nil {
		t.Error("a missing CA file accepted")
	}
	s.CassandraHosts = []string{"127.0.0.1:1"}
	_, err = s.OpenCassandra(ctx, secure.Cassandra{})
	var se *secure.Error
	if !errors.As(err, &se) || se.Service != "cassandra" {
		t.Errorf("unreachable node: %v, want a *secure.Error of cassandra", err)
	}
}

// Offline, the client talks to an in-process server until Close.
func TestOpenAPIOffline(t *testing.T) {
	api, err := connect.OpenAPI("http://127.0.0.1:1/api/", true)
	if err != nil {
		t.Fatal(err)
	}
	if !api.Offline() || api.BaseURL == "http://127.0.0.1:1/api/" {
		t.Errorf("offline API at %s", api.BaseURL)
	}
	n := 0
	for _, err := range api.Users(context.Background(), randomuser.Query{Seed: "connect", Results: 10}, 25) {
		if err != nil {
			t.Fatal(err)
		}
		n++
	}
	if n != 25 {
		t.Errorf("%d users, want 25", n)
	}
	api.Close()

	online, err := connect.OpenAPI("", false)
	if err != nil || online.Offline() || online.BaseURL != randomuser.DefaultBaseURL {
		t.Errorf("online: %+v, %v", online, err)
	}
	online.Close()
}

// From 3 replicas a topic gets min.insync.replicas 2; EnsureTopics creates
// what is missing, once.
func TestEnsureTopics(t *testing.T) {
	for n, want := range map[int]string{1: "", 2: "", 3: "2", 5: "2"} {
		spec := connect.Servers{Replication: n}.Topic("t", 6)
		if spec.ReplicationFactor != int16(n) || spec.Partitions != 6 || spec.Configs["min.insync.replicas"] != want {
			t.Errorf("replication %d: %+v", n, spec)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s := connect.Servers{KafkaBrokers: testenv.KafkaBrokers(t), Replication: 1}
	k, err := s.OpenKafka(ctx, secure.Kafka{})
	if err != nil {
		t.Fatal(err)
	}
	cl, err := k.NewClient()
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	name := testenv.Name(t, "connect")
	t.Cleanup(func() { _, _ = kadm.NewClient(cl).DeleteTopics(context.Background(), name, name+".dlq") })
	created, err := connect.EnsureTopics(ctx, cl, s.Topic(name, 3), s.Topic(name+".dlq", 1))
	if err != nil || len(created) != 2 || created[0].Name != name || created[1].Name != name+".dlq" {
		t.Fatalf("first: %+v, %v", created, err)
	}
	details, err := kadm.NewClient(cl).ListTopics(ctx, name)
	if err != nil || len(details[name].Partitions) != 3 {
		t.Errorf("topic %s: %+v, %v; want 3 partitions", name, details[name], err)
	}
	if created, err = connect.EnsureTopics(ctx, cl, s.Topic(name, 3), s.Topic(name+".dlq", 1)); err != nil || len(created) != 0 {
		t.Errorf("again: %+v, %v; want none created", created, err)
	}
	if _, err := connect.EnsureTopics(ctx, cl, s.Topic("", 1)); err == nil || !strings.HasPrefix(err.Error(), "kafka: ") {
		t.Errorf("invalid spec: %v", err)
	}
}
