package secure_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/gocql/gocql"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/scylladb/gocqlx/v2"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"

	"github.com/userstream/userstream/secure"
)

// FromEnv reads every USERSTREAM_* security variable; each service's
// settings then become its driver's options. Nothing set means plain
// connections.
func ExampleFromEnv() {
	sec, err := secure.FromEnv()
	if err != nil {
		log.Fatal(err) // names every wrong variable, never a password
	}
	slog.Info("connection security", "settings", sec) // passwords print as [redacted]

	kafkaOpts, err := sec.Kafka.Opts()
	if err != nil {
		log.Fatal(err)
	}
	cl, err := kgo.NewClient(append(kafkaOpts, kgo.SeedBrokers("127.0.0.1:9092"))...)
	if err != nil {
		log.Fatal(err)
	}
	defer cl.Close()
}

// Load reads the same variables through any lookup function; here a map.
// Printing the settings redacts the passwords.
func ExampleLoad() {
	env := map[string]string{
		secure.EnvKafkaUsername:     "svc",
		secure.EnvKafkaPassword:     "s3cret",
		secure.EnvKafkaTLS:          "1",
		secure.EnvPostgresPassword:  "s3cret",
		secure.EnvCassandraUsername: "svc",
		secure.EnvCassandraPassword: "s3cret",
	}
	sec, err := secure.Load(func(name string) (string, bool) { v, ok := env[name]; return v, ok })
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(sec.Kafka)
	fmt.Println(sec.Cassandra)
	fmt.Printf("%+v\n", sec.Postgres)
	// Output:
	// kafka{sasl=SCRAM-SHA-512 user="svc" password=[redacted] tls=on}
	// cassandra{auth=user="svc" password=[redacted] tls=off}
	// postgres{password=[redacted] tls=off}
}

// A loader checks every setting and reports each mistake with its
// variable.
func ExampleLoadKafka_mistakes() {
	env := map[string]string{
		secure.EnvKafkaSASLMechanism: "GSSAPI",
		secure.EnvKafkaPassword:      "s3cret",
	}
	_, err := secure.LoadKafka(func(name string) (string, bool) { v, ok := env[name]; return v, ok })
	fmt.Println(err)
	// Output:
	// secure: USERSTREAM_KAFKA_SASL_MECHANISM: unknown SASL mechanism "GSSAPI" (want SCRAM-SHA-512, SCRAM-SHA-256 or PLAIN)
	// kafka: a username or password is set but no SASL mechanism (USERSTREAM_KAFKA_SASL_MECHANISM)
}

// Settings written in code give the same franz-go options as the
// environment: kgo.SASL and kgo.DialTLSConfig.
func ExampleKafka_Opts() {
	k := secure.Kafka{
		Mechanism: secure.ScramSHA256,
		Username:  "svc",
		Password:  secure.NewSecret("s3cret"),
		TLS:       secure.TLS{Enabled: true}, // the system's roots
	}
	opts, err := k.Opts()
	if err != nil {
		log.Fatal(err)
	}
	cl, err := kgo.NewClient(append(opts, kgo.SeedBrokers("kafka.example:9093"))...) // no I/O yet
	if err != nil {
		log.Fatal(err)
	}
	defer cl.Close()
	mech := cl.OptValue(kgo.SASL).([]sasl.Mechanism)[0]
	fmt.Println(len(opts), "options:", mech.Name(), "over TLS:", cl.OptValue(kgo.DialTLSConfig) != nil)
	// Output:
	// 2 options: SCRAM-SHA-256 over TLS: true
}

// Apply sets the login and TLS on a gocql configuration, for gocql or
// gocqlx; the password is handed over per connection, so the
// configuration prints none.
func ExampleCassandra_Apply() {
	c := secure.Cassandra{
		Username: "svc",
		Password: secure.NewSecret("s3cret"),
		TLS:      secure.TLS{Enabled: true},
	}
	cluster := gocql.NewCluster("cassandra.example:9142")
	if err := c.Apply(cluster); err != nil {
		log.Fatal(err)
	}
	fmt.Println(cluster.Authenticator)
	fmt.Println("TLS verifies the node:", cluster.SslOpts.EnableHostVerification && !cluster.SslOpts.InsecureSkipVerify)
	// Output:
	// PasswordAuthenticator{Username:"svc" Password:[redacted]}
	// TLS verifies the node: true
}

// With a Cassandra cluster at hand, the session comes from gocqlx as
// usual. (Not run: it needs a server.)
func ExampleCassandra_Apply_gocqlx() {
	c, err := secure.LoadCassandra(os.LookupEnv)
	if err != nil {
		log.Fatal(err)
	}
	hosts := []string{"127.0.0.1:9142"}
	cluster := gocql.NewCluster(hosts...)
	if err := c.Apply(cluster); err != nil {
		log.Fatal(err)
	}
	session, err := gocqlx.WrapSession(cluster.CreateSession())
	if err != nil {
		log.Fatal(c.Explain(context.Background(), hosts, err)) // names the node and the cause
	}
	defer session.Close()
}

// PoolConfig merges TLS into the DSN (TLS on means sslmode=verify-full)
// and sets the password on the parsed config, never in the string.
func ExamplePostgres_PoolConfig() {
	p := secure.Postgres{Password: secure.NewSecret("s3cret"), TLS: secure.TLS{Enabled: true}}
	cfg, err := p.PoolConfig("postgres://app@db.example:5432/app?sslmode=disable")
	if err != nil {
		log.Fatal(err)
	}
	cfg.MaxConns = 8 // the rest of the pool's settings as usual
	fmt.Println(cfg.ConnString())
	fmt.Println("password set:", cfg.ConnConfig.Password != "", "verifies:", cfg.ConnConfig.TLSConfig.ServerName)
	// Output:
	// postgres://app@db.example:5432/app?sslmode=verify-full
	// password set: true verifies: db.example
}

// Apply sets the same settings on a configuration parsed already.
func ExamplePostgres_Apply() {
	cfg, err := pgxpool.ParseConfig("postgres://app@db.example/app") // sslmode=prefer: TLS unverified, then plaintext
	if err != nil {
		log.Fatal(err)
	}
	p := secure.Postgres{Password: secure.NewSecret("s3cret"), TLS: secure.TLS{Enabled: true}}
	if err := p.Apply(&cfg.ConnConfig.Config); err != nil {
		log.Fatal(err)
	}
	tc := cfg.ConnConfig.TLSConfig
	fmt.Println("verifies:", tc.ServerName, !tc.InsecureSkipVerify, "plaintext fallbacks:", len(cfg.ConnConfig.Fallbacks))
	// Output:
	// verifies: db.example true plaintext fallbacks: 0
}

// Ping connects once and explains a failure. (Not run: it needs a
// server.)
func ExamplePostgres_Ping() {
	p, err := secure.LoadPostgres(os.LookupEnv)
	if err != nil {
		log.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err = p.Ping(ctx, "postgres://app@db.example:5432/app")
	if errors.Is(err, secure.ErrUntrustedCertificate) {
		log.Fatalf("set %s: %v", secure.EnvPostgresTLSCAFile, err)
	}
}

// Explain turns a driver's error into an *Error naming the server, the
// cause and what to check.
func ExampleKafka_Explain() {
	k := secure.Kafka{Mechanism: secure.ScramSHA512, Username: "svc", Password: secure.NewSecret("wrong")}
	driverErr := fmt.Errorf("unable to dial: %w", kerr.SaslAuthenticationFailed)
	err := k.Explain(context.Background(), []string{"kafka.example:9093"}, driverErr)
	var se *secure.Error
	if errors.As(err, &se) {
		fmt.Println(se.Service, se.Addr, errors.Is(err, secure.ErrAuthentication))
		fmt.Println(se.Hint)
	}
	// Output:
	// kafka kafka.example:9093 true
	// check Kafka.Username, Kafka.Password and Kafka.Mechanism (now SCRAM-SHA-512 as "svc")
}

// A Secret shows "[redacted]" however it is printed; Reveal is for the
// driver.
func ExampleSecret() {
	dir, err := os.MkdirTemp("", "secret")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "password")
	if err := os.WriteFile(path, []byte("s3cret\n"), 0o600); err != nil {
		log.Fatal(err)
	}
	pw, err := secure.ReadSecretFile(path) // drops the file's final line break
	if err != nil {
		log.Fatal(err)
	}
	b, _ := json.Marshal(map[string]any{"password": pw})
	fmt.Printf("%v %q %x %#v %s\n", pw, pw, pw, pw, b)
	fmt.Println(len(pw.Reveal()))
	// Output:
	// [redacted] [redacted] [redacted] secure.Secret([redacted]) {"password":"[redacted]"}
	// 6
}
