package main

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/userstream/userstream/cassandrastore"
	"github.com/userstream/userstream/internal/testenv"
)

// testConfig is a pipeline of its own (topics, group, keyspace, schema) on
// the real servers, fetching from the offline API; everything it creates
// is dropped when the test ends.
func testConfig(t *testing.T, users int) config {
	t.Helper()
	name := testenv.Name(t, "e2e")
	cfg := config{
		brokers:        testenv.KafkaBrokers(t),
		cassandraHosts: testenv.CassandraHosts(t),
		postgresDSN:    testenv.PostgresDSN(t),
		topic:          name,
		dlqTopic:       name + "_dlq",
		partitions:     6,
		group:          name,
		keyspace:       name,
		table:          cassandrastore.DefaultTable,
		replication:    1,
		pgSchema:       name,
		offline:        true,
		users:          users,
		seed:           "e2e-" + name[len(name)-8:],
		pageSize:       5000,
		consumers:      2,
		sessionTimeout: defaultSessionTimeout,
	}
	t.Cleanup(func() { cleanup(cfg) })
	return cfg
}

func cleanup(cfg config) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if cl, err := kgo.NewClient(kgo.SeedBrokers(cfg.brokers...)); err == nil {
		_, _ = kadm.NewClient(cl).DeleteTopics(ctx, cfg.topic, cfg.dlqTopic)
		cl.Close()
	}
	if s, err := cassandrastore.NewSession(ctx, cfg.cassandraHosts); err == nil {
		_ = s.ExecStmt(`DROP KEYSPACE IF EXISTS ` + cfg.keyspace)
		s.Close()
	}
	if conn, err := pgx.Connect(ctx, cfg.postgresDSN); err == nil {
		_, _ = conn.Exec(ctx, `DROP SCHEMA IF EXISTS `+pgx.Identifier{cfg.pgSchema}.Sanitize()+` CASCADE`)
		_ = conn.Close(ctx)
	}
}

var quiet = slog.New(slog.DiscardHandler)

// freeAddr returns a loopback address with a port free at the time.
func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func get(t *testing.T, url string) string {
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %v", url, resp.StatusCode, err)
	}
	return string(b)
}
