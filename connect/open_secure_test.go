//go:build secure

// Tests of the Open functions against the local stack's secured listeners
// (make test-secure). Each needs the variables testenv names: unset, it
// skips, or fails when USERSTREAM_REQUIRE_INTEGRATION=1.
package connect_test

import (
	"context"
	"crypto/tls"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/userstream/userstream/connect"
	"github.com/userstream/userstream/internal/testenv"
	"github.com/userstream/userstream/kafkasink"
	"github.com/userstream/userstream/secure"
)

func loadSecure(t *testing.T, env map[string]string) secure.Config {
	t.Helper()
	cfg, err := secure.Load(func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func wrongPasswordFile(t *testing.T) string {
	p := filepath.Join(t.TempDir(), "wrong")
	if err := os.WriteFile(p, []byte("not-the-password"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// SASL over TLS: OpenKafka's options reach the broker; a wrong password
// is a *secure.Error of cause ErrAuthentication.
func TestSecureOpenKafka(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	env := map[string]string{
		secure.EnvKafkaUsername:     testenv.Require(t, testenv.KafkaUsernameEnv),
		secure.EnvKafkaPasswordFile: testenv.Require(t, testenv.KafkaPasswordFileEnv),
		secure.EnvKafkaTLSCAFile:    testenv.Require(t, testenv.TLSCAFileEnv),
	}
	s := connect.Servers{KafkaBrokers: testenv.RequireList(t, testenv.KafkaSASLTLSBrokersEnv)}
	k, err := s.OpenKafka(ctx, loadSecure(t, env).Kafka)
	if err != nil {
		t.Fatal(err)
	}
	cl, err := k.NewClient()
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := cl.Ping(ctx); err != nil {
		t.Errorf("client of OpenKafka's options: %v", err)
	}
	// The consumer dials TLS with its own dialer (kafkasink.WithDialTLS,
	// which retries a refused connection), not franz-go's.
	if k.TLS == nil {
		t.Error("OpenKafka over TLS: Kafka.TLS is nil")
	}
	nop := func(context.Context, []kafkasink.Message) error { return nil }
	c, err := k.NewConsumer(testenv.Name(t, "g"), nop, kafkasink.WithTopic(testenv.Name(t, "t")))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if cfg, _ := c.Client().OptValue(kgo.DialTLSConfig).(*tls.Config); cfg != nil {
		t.Error("the consumer kept kgo.DialTLSConfig, and with it franz-go's dialer")
	}
	if err := c.Client().Ping(ctx); err != nil {
		t.Errorf("consumer of OpenKafka's options: %v", err)
	}

	env[secure.EnvKafkaPasswordFile] = wrongPasswordFile(t)
	_, err = s.OpenKafka(ctx, loadSecure(t, env).Kafka)
	var se *secure.Error
	if !errors.As(err, &se) || !errors.Is(se.Cause, secure.ErrAuthentication) {
		t.Errorf("wrong password: %v, want a *secure.Error of ErrAuthentication", err)
	}
}

// Password and verify-full TLS: the pool's connections are encrypted; a
// wrong password is a *secure.Error of cause ErrAuthentication.
func TestSecureOpenPostgres(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	env := map[string]string{
		secure.EnvPostgresPasswordFile: testenv.Require(t, testenv.PostgresPasswordFileEnv),
		secure.EnvPostgresTLSCAFile:    testenv.Require(t, testenv.TLSCAFileEnv),
	}
	s := connect.Servers{PostgresDSN: testenv.Require(t, testenv.PostgresTLSDSNEnv)}
	pool, err := s.OpenPostgres(ctx, loadSecure(t, env).Postgres)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	var ssl bool
	if err := pool.QueryRow(ctx, `SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()`).Scan(&ssl); err != nil || !ssl {
		t.Errorf("ssl %v, %v; want an encrypted connection", ssl, err)
	}

	env[secure.EnvPostgresPasswordFile] = wrongPasswordFile(t)
	_, err = s.OpenPostgres(ctx, loadSecure(t, env).Postgres)
	var se *secure.Error
	if !errors.As(err, &se) || !errors.Is(se.Cause, secure.ErrAuthentication) {
		t.Errorf("wrong password: %v, want a *secure.Error of ErrAuthentication", err)
	}
}

// Login and TLS through WithClusterConfig(sec.Apply): the session works;
// a wrong password is a *secure.Error of cause ErrAuthentication.
func TestSecureOpenCassandra(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	env := map[string]string{
		secure.EnvCassandraUsername:     testenv.Require(t, testenv.CassandraUsernameEnv),
		secure.EnvCassandraPasswordFile: testenv.Require(t, testenv.CassandraPasswordFileEnv),
		secure.EnvCassandraTLSCAFile:    testenv.Require(t, testenv.TLSCAFileEnv),
	}
	s := connect.Servers{CassandraHosts: testenv.RequireList(t, testenv.CassandraTLSHostsEnv)}
	session, err := s.OpenCassandra(ctx, loadSecure(t, env).Cassandra)
	if err != nil {
		t.Fatal(err)
	}
	var release string
	err = session.Query(`SELECT release_version FROM system.local`, nil).WithContext(ctx).Scan(&release)
	session.Close()
	if err != nil {
		t.Errorf("query: %v", err)
	}

	env[secure.EnvCassandraPasswordFile] = wrongPasswordFile(t)
	_, err = s.OpenCassandra(ctx, loadSecure(t, env).Cassandra)
	var se *secure.Error
	if !errors.As(err, &se) || !errors.Is(se.Cause, secure.ErrAuthentication) {
		t.Errorf("wrong password: %v, want a *secure.Error of ErrAuthentication", err)
	}
}
