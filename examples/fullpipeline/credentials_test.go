package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/userstream/userstream/cassandrastore"
	"github.com/userstream/userstream/randomuser"
	"github.com/userstream/userstream/randomuser/randomusertest"
)

// The API's credentials (login.password, salt, md5, sha1, sha256) never
// reach PostgreSQL, Kafka or Cassandra: the pipeline's client does not ask
// for them, and the row has no place for them. The test fetches the same
// users with credentials and searches all three stores for every value.
func TestCredentialsNeverStored(t *testing.T) {
	cfg := testConfig(t, 2000)
	cfg.pageSize = 500
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if _, err := run(ctx, cfg, quiet, &strings.Builder{}); err != nil {
		t.Fatalf("run: %v", err)
	}

	// The same users, with their credentials, from an identical offline server.
	srv, err := randomusertest.NewServer()
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	api, err := randomuser.New(randomuser.WithBaseURL(srv.BaseURL()), randomuser.WithCredentials())
	if err != nil {
		t.Fatal(err)
	}
	var secrets []string
	for u, err := range api.Users(ctx, randomuser.Query{Results: cfg.pageSize, Seed: cfg.seed}, cfg.users) {
		if err != nil {
			t.Fatal(err)
		}
		l := u.Login
		if l.Salt == "" || l.SHA256 == "" {
			t.Fatalf("user %s came without credentials; the test would prove nothing", l.UUID)
		}
		secrets = append(secrets, l.Salt, l.MD5, l.SHA1, l.SHA256)
		if len(l.Password) >= 8 { // short passwords are common words found in other fields
			secrets = append(secrets, l.Password)
		}
	}
	check := func(where, text string) {
		for _, s := range secrets {
			if strings.Contains(text, s) {
				t.Errorf("%s holds a credential value %q", where, s[:min(4, len(s))]+"…")
				return
			}
		}
	}

	// PostgreSQL: every staged payload.
	conn, err := pgx.Connect(ctx, cfg.postgresDSN)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT payload::text FROM `+pgx.Identifier{cfg.pgSchema, "outbox"}.Sanitize())
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for rows.Next() {
		var p string
		if err := rows.Scan(&p); err != nil {
			t.Fatal(err)
		}
		check("postgres outbox payload", p)
		n++
	}
	if rows.Err() != nil || n != cfg.users {
		t.Fatalf("read %d outbox rows (%v), want %d", n, rows.Err(), cfg.users)
	}

	// Kafka: every record, value and headers.
	cl, err := kgo.NewClient(kgo.SeedBrokers(cfg.brokers...), kgo.ConsumeTopics(cfg.topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	for n = 0; n < cfg.users; {
		fs := cl.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			t.Fatalf("read topic after %d records: %v", n, err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			check("kafka record", string(r.Value)+fmt.Sprint(r.Headers))
			n++
		})
	}

	// Cassandra: every row.
	session, err := cassandrastore.NewSession(ctx, cfg.cassandraHosts)
	if err != nil {
		t.Fatal(err)
	}
	defer session.Close()
	store, err := cassandrastore.New(session, cassandrastore.WithKeyspace(cfg.keyspace), cassandrastore.WithTable(cfg.table))
	if err != nil {
		t.Fatal(err)
	}
	n = 0
	for row, err := range store.All(ctx, 500) {
		if err != nil {
			t.Fatal(err)
		}
		check("cassandra row", fmt.Sprintf("%+v", row))
		n++
	}
	if n != cfg.users {
		t.Fatalf("read %d Cassandra rows, want %d", n, cfg.users)
	}
}
