//go:build secure

// Tests against the real secured servers of the local stack; `make
// test-secure` brings them up and runs these. Each test says which
// variables it needs (testenv): unset, it skips, or fails when
// USERSTREAM_REQUIRE_INTEGRATION=1.

package secure_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gocql/gocql"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/scylladb/gocqlx/v2"
	"github.com/scylladb/gocqlx/v2/qb"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/userstream/userstream/internal/testenv"
	"github.com/userstream/userstream/secure"
)

// ---------------------------------------------------------------- kafka

type kafkaCase struct {
	mech secure.Mechanism
	tls  bool
}

func (c kafkaCase) name() string {
	if c.tls {
		return string(c.mech) + "_TLS"
	}
	return string(c.mech)
}

// kafkaEnv is the environment a deployment would set for c, built from
// the stack's test variables.
func kafkaEnv(t *testing.T, c kafkaCase) (map[string]string, []string) {
	t.Helper()
	env := map[string]string{
		secure.EnvKafkaSASLMechanism: string(c.mech),
		secure.EnvKafkaUsername:      testenv.Require(t, testenv.KafkaUsernameEnv),
		secure.EnvKafkaPasswordFile:  testenv.Require(t, testenv.KafkaPasswordFileEnv),
	}
	brokersEnv := testenv.KafkaSASLBrokersEnv
	if c.tls {
		brokersEnv = testenv.KafkaSASLTLSBrokersEnv
		env[secure.EnvKafkaTLSCAFile] = testenv.Require(t, testenv.TLSCAFileEnv)
	}
	return env, testenv.RequireList(t, brokersEnv)
}

func load(t *testing.T, env map[string]string) secure.Config {
	t.Helper()
	cfg, err := secure.Load(lookupMap(env))
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	return cfg
}

func kafkaClient(t *testing.T, k secure.Kafka, brokers []string, extra ...kgo.Opt) *kgo.Client {
	t.Helper()
	opts, err := k.Opts()
	if err != nil {
		t.Fatal(err)
	}
	cl, err := kgo.NewClient(append(append(opts, kgo.SeedBrokers(brokers...)), extra...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// TestSecureKafkaRoundTrip creates a topic, produces a record and consumes
// it back through each secured listener with each mechanism.
func TestSecureKafkaRoundTrip(t *testing.T) {
	t.Parallel()
	for _, c := range []kafkaCase{{secure.ScramSHA512, false}, {secure.ScramSHA512, true}, {secure.Plain, false}, {secure.Plain, true}} {
		t.Run(c.name(), func(t *testing.T) {
			t.Parallel()
			env, brokers := kafkaEnv(t, c)
			k := load(t, env).Kafka
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			if err := k.Ping(ctx, brokers); err != nil {
				t.Fatalf("ping: %v", err)
			}

			topic := testenv.Name(t, "sec")
			cl := kafkaClient(t, k, brokers)
			adm := kadm.NewClient(cl)
			if _, err := adm.CreateTopic(ctx, 1, 1, nil, topic); err != nil {
				t.Fatalf("create topic: %v", err)
			}
			t.Cleanup(func() { _, _ = adm.DeleteTopics(context.Background(), topic) })
			want := "hello over " + c.name()
			if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte(want)}).FirstErr(); err != nil {
				t.Fatalf("produce: %v", err)
			}
			consumer := kafkaClient(t, k, brokers, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
			for {
				fs := consumer.PollFetches(ctx)
				if err := fs.Err0(); err != nil {
					t.Fatalf("poll: %v", err)
				}
				if recs := fs.Records(); len(recs) > 0 {
					if got := string(recs[0].Value); got != want {
						t.Fatalf("consumed %q, want %q", got, want)
					}
					return
				}
			}
		})
	}
}

// TestSecureKafkaRejects connects with a wrong password, an untrusted
// authority and no TLS at the TLS listener. Each must fail with an error
// naming the broker and the cause, and write nothing: neither a record to
// an existing topic nor a new topic.
func TestSecureKafkaRejects(t *testing.T) {
	t.Parallel()
	wrongPW := writeTemp(t, "wrong.password", "not-the-password\n")
	otherCA := writeTemp(t, "other-ca.crt", string(newCA(t)))
	for _, tc := range []struct {
		name  string
		c     kafkaCase
		alter func(env map[string]string) // from a working environment
		want  error
		addr  string // the listener whose address the error names
	}{
		{"wrong password SCRAM", kafkaCase{secure.ScramSHA512, false}, func(e map[string]string) { e[secure.EnvKafkaPasswordFile] = wrongPW }, secure.ErrAuthentication, testenv.KafkaSASLBrokersEnv},
		{"wrong password PLAIN over TLS", kafkaCase{secure.Plain, true}, func(e map[string]string) { e[secure.EnvKafkaPasswordFile] = wrongPW }, secure.ErrAuthentication, testenv.KafkaSASLTLSBrokersEnv},
		{"untrusted certificate", kafkaCase{secure.ScramSHA512, true}, func(e map[string]string) { e[secure.EnvKafkaTLSCAFile] = otherCA }, secure.ErrUntrustedCertificate, testenv.KafkaSASLTLSBrokersEnv},
		{"plaintext client at TLS listener", kafkaCase{secure.ScramSHA512, true}, func(e map[string]string) { delete(e, secure.EnvKafkaTLSCAFile) }, secure.ErrTLSRequired, testenv.KafkaSASLTLSBrokersEnv},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			goodEnv, brokers := kafkaEnv(t, tc.c)
			good := load(t, goodEnv).Kafka
			badEnv := clone(goodEnv)
			tc.alter(badEnv)
			bad := load(t, badEnv).Kafka
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()

			// A topic that exists, to try to write to.
			goodCl := kafkaClient(t, good, brokers)
			goodAdm := kadm.NewClient(goodCl)
			existing, absent := testenv.Name(t, "sec_existing"), testenv.Name(t, "sec_absent")
			if _, err := goodAdm.CreateTopic(ctx, 1, 1, nil, existing); err != nil {
				t.Fatalf("create topic: %v", err)
			}
			t.Cleanup(func() { _, _ = goodAdm.DeleteTopics(context.Background(), existing, absent) })

			start := time.Now()
			err := bad.Ping(ctx, brokers)
			checkError(t, err, "kafka", tc.want, testenv.Require(t, tc.addr), passwordOf(t, goodEnv[secure.EnvKafkaPasswordFile]))
			t.Logf("Ping failed in %v: %v", time.Since(start).Round(time.Millisecond), err)

			// Writes through the bad settings fail.
			wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
			defer wcancel()
			badCl := kafkaClient(t, bad, brokers, kgo.RecordDeliveryTimeout(5*time.Second))
			if err := badCl.ProduceSync(wctx, &kgo.Record{Topic: existing, Value: []byte("must not arrive")}).FirstErr(); err == nil {
				t.Fatal("produce through rejected settings succeeded")
			} else {
				t.Logf("produce: %v", bad.Explain(wctx, brokers, err))
			}
			if _, err := kadm.NewClient(badCl).CreateTopic(wctx, 1, 1, nil, absent); err == nil {
				t.Fatal("create topic through rejected settings succeeded")
			}

			// And nothing arrived.
			ends, err := goodAdm.ListEndOffsets(ctx, existing)
			if err != nil {
				t.Fatalf("list end offsets: %v", err)
			}
			ends.Each(func(o kadm.ListedOffset) {
				if o.Err != nil || o.Offset != 0 {
					t.Errorf("%s[%d]: end offset %d (err %v), want 0: a record was written", o.Topic, o.Partition, o.Offset, o.Err)
				}
			})
			topics, err := goodAdm.ListTopics(ctx, absent)
			if err != nil {
				t.Fatalf("list topics: %v", err)
			}
			if topics.Has(absent) {
				t.Errorf("topic %s exists: it was created through rejected settings", absent)
			}
		})
	}
}

// ---------------------------------------------------------------- cassandra

func cassandraEnv(t *testing.T) (map[string]string, []string) {
	t.Helper()
	return map[string]string{
		secure.EnvCassandraUsername:     testenv.Require(t, testenv.CassandraUsernameEnv),
		secure.EnvCassandraPasswordFile: testenv.Require(t, testenv.CassandraPasswordFileEnv),
		secure.EnvCassandraTLSCAFile:    testenv.Require(t, testenv.TLSCAFileEnv),
	}, testenv.RequireList(t, testenv.CassandraTLSHostsEnv)
}

// TestSecureCassandraRoundTrip logs in with PasswordAuthenticator over TLS,
// creates a keyspace and a table, and writes and reads a row.
func TestSecureCassandraRoundTrip(t *testing.T) {
	t.Parallel()
	env, hosts := cassandraEnv(t)
	c := load(t, env).Cassandra
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := c.Ping(ctx, hosts); err != nil {
		t.Fatalf("ping: %v", err)
	}
	s := cassandraSession(t, ctx, c, hosts)
	ks := createKeyspace(t, s)
	if err := s.Query(qb.Insert(ks+".kv").Columns("k", "v").ToCql()).Bind("answer", 42).ExecRelease(); err != nil {
		t.Fatalf("insert: %v", err)
	}
	var v int
	if err := s.Query(qb.Select(ks + ".kv").Columns("v").Where(qb.Eq("k")).ToCql()).Bind("answer").GetRelease(&v); err != nil {
		t.Fatalf("select: %v", err)
	}
	if v != 42 {
		t.Fatalf("selected %d, want 42", v)
	}
	// Every client of this node must be encrypted; this session too.
	var encrypted []bool
	if err := s.Query(`SELECT ssl_enabled FROM system_views.clients`, nil).SelectRelease(&encrypted); err != nil {
		t.Fatalf("select system_views.clients: %v", err)
	}
	if len(encrypted) == 0 {
		t.Fatal("system_views.clients is empty")
	}
	for _, e := range encrypted {
		if !e {
			t.Fatal("a client of the node is not encrypted")
		}
	}
}

// TestSecureCassandraRejects connects with a wrong password, an untrusted
// authority and no TLS. Each must fail with an error naming the node and
// the cause, and the table must stay empty.
func TestSecureCassandraRejects(t *testing.T) {
	t.Parallel()
	goodEnv, hosts := cassandraEnv(t)
	good := load(t, goodEnv).Cassandra
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	s := cassandraSession(t, ctx, good, hosts)
	ks := createKeyspace(t, s)
	pw := passwordOf(t, goodEnv[secure.EnvCassandraPasswordFile])
	wrongPW := writeTemp(t, "wrong.password", "not-the-password\n")
	otherCA := writeTemp(t, "other-ca.crt", string(newCA(t)))

	for _, tc := range []struct {
		name  string
		alter func(map[string]string)
		want  error
	}{
		{"wrong password", func(e map[string]string) { e[secure.EnvCassandraPasswordFile] = wrongPW }, secure.ErrAuthentication},
		{"untrusted certificate", func(e map[string]string) { e[secure.EnvCassandraTLSCAFile] = otherCA }, secure.ErrUntrustedCertificate},
		{"plaintext client at TLS port", func(e map[string]string) { delete(e, secure.EnvCassandraTLSCAFile) }, secure.ErrTLSRequired},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := clone(goodEnv)
			tc.alter(env)
			bad := load(t, env).Cassandra
			start := time.Now()
			err := bad.Ping(ctx, hosts)
			checkError(t, err, "cassandra", tc.want, hosts[0], pw)
			t.Logf("Ping failed in %v: %v", time.Since(start).Round(time.Millisecond), err)

			// No session, so no write: try the insert anyway.
			cluster := gocql.NewCluster(hosts...)
			cluster.ConnectTimeout = 3 * time.Second
			if err := bad.Apply(cluster); err != nil {
				t.Fatal(err)
			}
			if bs, err := gocqlx.WrapSession(cluster.CreateSession()); err == nil {
				err := bs.Query(qb.Insert(ks+".kv").Columns("k", "v").ToCql()).Bind("bad", 1).ExecRelease()
				bs.Close()
				t.Fatalf("session through rejected settings opened (insert: %v)", err)
			}
			var n int
			if err := s.Query(`SELECT count(*) FROM `+ks+`.kv`, nil).GetRelease(&n); err != nil {
				t.Fatalf("count: %v", err)
			}
			if n != 0 {
				t.Fatalf("%s.kv has %d rows, want 0", ks, n)
			}
		})
	}
}

// ---------------------------------------------------------------- postgres

func postgresEnv(t *testing.T) (map[string]string, string) {
	t.Helper()
	return map[string]string{
		secure.EnvPostgresPasswordFile: testenv.Require(t, testenv.PostgresPasswordFileEnv),
		secure.EnvPostgresTLSCAFile:    testenv.Require(t, testenv.TLSCAFileEnv),
	}, testenv.Require(t, testenv.PostgresTLSDSNEnv)
}

// TestSecurePostgresRoundTrip connects with a password and
// sslmode=verify-full, checks the connection is encrypted, and writes and
// reads a row.
func TestSecurePostgresRoundTrip(t *testing.T) {
	t.Parallel()
	env, dsn := postgresEnv(t)
	p := load(t, env).Postgres
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := p.Ping(ctx, dsn); err != nil {
		t.Fatalf("ping: %v", err)
	}
	pool := postgresPool(t, ctx, p, dsn)
	if mode := pool.Config().ConnConfig.TLSConfig; mode == nil || mode.InsecureSkipVerify {
		t.Fatalf("pool TLS config %v: want verification on", mode)
	}
	schema := createSchema(t, ctx, pool)
	if _, err := pool.Exec(ctx, `INSERT INTO `+schema+`.kv VALUES ($1, $2)`, "answer", 42); err != nil {
		t.Fatalf("insert: %v", err)
	}
	var (
		v   int
		ssl bool
	)
	if err := pool.QueryRow(ctx, `SELECT v, (SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()) FROM `+schema+`.kv WHERE k = $1`, "answer").Scan(&v, &ssl); err != nil {
		t.Fatalf("select: %v", err)
	}
	if v != 42 || !ssl {
		t.Fatalf("selected v=%d over ssl=%v, want 42 over TLS", v, ssl)
	}

	// The same through Apply on a configuration parsed from the plain DSN
	// (sslmode=prefer, which would accept an unverified certificate).
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Apply(&cfg.ConnConfig.Config); err != nil {
		t.Fatal(err)
	}
	applied, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer applied.Close()
	if err := applied.QueryRow(ctx, `SELECT v, (SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()) FROM `+schema+`.kv WHERE k = $1`, "answer").Scan(&v, &ssl); err != nil {
		t.Fatalf("select through Apply: %v", p.Explain(err))
	}
	if v != 42 || !ssl {
		t.Fatalf("through Apply: selected v=%d over ssl=%v, want 42 over TLS", v, ssl)
	}
}

// TestSecurePostgresRejects connects with a wrong password, an untrusted
// authority and no TLS (the role is admitted over TLS only). Each must
// fail with an error naming the server and the cause, and write nothing.
func TestSecurePostgresRejects(t *testing.T) {
	t.Parallel()
	goodEnv, dsn := postgresEnv(t)
	good := load(t, goodEnv).Postgres
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	pool := postgresPool(t, ctx, good, dsn)
	schema := createSchema(t, ctx, pool)
	pw := passwordOf(t, goodEnv[secure.EnvPostgresPasswordFile])
	wrongPW := writeTemp(t, "wrong.password", "not-the-password\n")
	otherCA := writeTemp(t, "other-ca.crt", string(newCA(t)))
	addr := hostPort(t, dsn)

	for _, tc := range []struct {
		name  string
		alter func(map[string]string)
		dsn   string
		want  error
	}{
		{"wrong password", func(e map[string]string) { e[secure.EnvPostgresPasswordFile] = wrongPW }, dsn, secure.ErrAuthentication},
		{"untrusted certificate", func(e map[string]string) { e[secure.EnvPostgresTLSCAFile] = otherCA }, dsn, secure.ErrUntrustedCertificate},
		{"plaintext client", func(e map[string]string) { delete(e, secure.EnvPostgresTLSCAFile) }, dsn + "?sslmode=disable", secure.ErrTLSRequired},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := clone(goodEnv)
			tc.alter(env)
			bad := load(t, env).Postgres
			err := bad.Ping(ctx, tc.dsn)
			checkError(t, err, "postgres", tc.want, addr, pw)
			t.Logf("Ping: %v", err)

			cfg, err := bad.PoolConfig(tc.dsn)
			if err != nil {
				t.Fatal(err)
			}
			badPool, err := pgxpool.NewWithConfig(ctx, cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer badPool.Close()
			if _, err := badPool.Exec(ctx, `INSERT INTO `+schema+`.kv VALUES ('bad', 1)`); err == nil {
				t.Fatal("insert through rejected settings succeeded")
			}
			if _, err := badPool.Exec(ctx, `CREATE SCHEMA `+schema+`_bad`); err == nil {
				t.Fatal("create schema through rejected settings succeeded")
			}
			var rows int
			var schemaExists bool
			if err := pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM `+schema+`.kv), EXISTS (SELECT FROM pg_namespace WHERE nspname = $1)`, schema+"_bad").Scan(&rows, &schemaExists); err != nil {
				t.Fatalf("check: %v", err)
			}
			if rows != 0 || schemaExists {
				t.Fatalf("rows=%d, schema %s_bad exists=%v: something was written", rows, schema, schemaExists)
			}
		})
	}
}

// ---------------------------------------------------------------- helpers

// checkError asserts err is an *secure.Error about service at addr with
// cause want, whose text names the server and the cause and does not
// contain the password.
func checkError(t *testing.T, err error, service string, want error, addr, password string) {
	t.Helper()
	if err == nil {
		t.Fatal("connected through rejected settings")
	}
	var se *secure.Error
	if !errors.As(err, &se) {
		t.Fatalf("error %T %v: want *secure.Error", err, err)
	}
	if !errors.Is(err, want) {
		t.Fatalf("error %v: cause %v, want %v", err, se.Cause, want)
	}
	msg := err.Error()
	for _, s := range []string{service + " ", addr, want.Error()} {
		if !strings.Contains(msg, s) {
			t.Errorf("error %q does not name %q", msg, s)
		}
	}
	if strings.Contains(msg, password) || strings.Contains(fmt.Sprintf("%+v %#v", err, err), password) {
		t.Errorf("error shows the password")
	}
}

func passwordOf(t *testing.T, file string) string {
	t.Helper()
	s, err := secure.ReadSecretFile(file)
	if err != nil {
		t.Fatal(err)
	}
	return s.Reveal()
}

func clone(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// cassandraSession opens a session the way the package doc tells a gocqlx
// user to: a gocql cluster configuration, Apply, WrapSession.
func cassandraSession(t *testing.T, ctx context.Context, c secure.Cassandra, hosts []string) gocqlx.Session {
	t.Helper()
	cluster := gocql.NewCluster(hosts...)
	cluster.ConnectTimeout = 5 * time.Second
	if err := c.Apply(cluster); err != nil {
		t.Fatal(err)
	}
	s, err := gocqlx.WrapSession(cluster.CreateSession())
	if err != nil {
		t.Fatalf("session: %v", c.Explain(ctx, hosts, err))
	}
	t.Cleanup(s.Close)
	return s
}

func createKeyspace(t *testing.T, s gocqlx.Session) string {
	t.Helper()
	ks := testenv.Name(t, "sec")
	if err := s.ExecStmt(`CREATE KEYSPACE ` + ks + ` WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}`); err != nil {
		t.Fatalf("create keyspace: %v", err)
	}
	t.Cleanup(func() { _ = s.ExecStmt(`DROP KEYSPACE IF EXISTS ` + ks) })
	if err := s.ExecStmt(`CREATE TABLE ` + ks + `.kv (k text PRIMARY KEY, v int)`); err != nil {
		t.Fatalf("create table: %v", err)
	}
	return ks
}

func postgresPool(t *testing.T, ctx context.Context, p secure.Postgres, dsn string) *pgxpool.Pool {
	t.Helper()
	cfg, err := p.PoolConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

func createSchema(t *testing.T, ctx context.Context, pool *pgxpool.Pool) string {
	t.Helper()
	schema := testenv.Name(t, "sec")
	if _, err := pool.Exec(ctx, `CREATE SCHEMA `+schema); err != nil {
		t.Fatalf("create schema: %v", p(err))
	}
	t.Cleanup(func() { _, _ = pool.Exec(context.Background(), `DROP SCHEMA IF EXISTS `+schema+` CASCADE`) })
	if _, err := pool.Exec(ctx, `CREATE TABLE `+schema+`.kv (k text PRIMARY KEY, v int)`); err != nil {
		t.Fatalf("create table: %v", err)
	}
	return schema
}

// p explains a Postgres error in a test's failure message.
func p(err error) error { return secure.Postgres{}.Explain(err) }

func hostPort(t *testing.T, dsn string) string {
	t.Helper()
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%s:%d", cfg.Host, cfg.Port)
}
