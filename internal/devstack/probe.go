package devstack

// Readiness probes: each asks its server a real question (Kafka a metadata
// request, Cassandra a CQL query, PostgreSQL a query, the registry its list
// of subjects) with the clients userstream itself uses, so a server that
// listens but cannot serve is not ready. The set-up steps of the secured
// listeners (the Kafka SCRAM user, the Cassandra roles) are here too.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"strings"
	"time"

	"github.com/gocql/gocql"
	"github.com/jackc/pgx/v5"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
	"github.com/twmb/franz-go/pkg/sr"
)

// probeTimeout bounds one probe.
const probeTimeout = 5 * time.Second

// probeKafka asks the brokers at addrs for metadata and wants at least
// want brokers in it.
func probeKafka(ctx context.Context, addrs string, want int) error {
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(strings.Split(addrs, ",")...))
	if err != nil {
		return err
	}
	defer cl.Close()
	md, err := kadm.NewClient(cl).BrokerMetadata(ctx)
	if err != nil {
		return fmt.Errorf("kafka metadata: %w", err)
	}
	if len(md.Brokers) < want {
		return fmt.Errorf("kafka metadata: %d broker(s), want %d", len(md.Brokers), want)
	}
	return nil
}

// kafkaSCRAM creates or updates the SCRAM-SHA-512 credential of user,
// through the unauthenticated PLAINTEXT listeners at addrs (comma-separated). KRaft storage
// formatted by devstack already has it (--add-scram); this covers storage
// formatted before the secured listeners existed, and a changed password.
func kafkaSCRAM(ctx context.Context, addrs, user, passwordFile string) error {
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	pw, err := readPassword(passwordFile)
	if err != nil {
		return err
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(strings.Split(addrs, ",")...))
	if err != nil {
		return err
	}
	defer cl.Close()
	res, err := kadm.NewClient(cl).AlterUserSCRAMs(ctx, nil, []kadm.UpsertSCRAM{{
		User: user, Mechanism: kadm.ScramSha512, Iterations: 8192, Password: pw,
	}})
	if err != nil {
		return fmt.Errorf("kafka alter SCRAM credentials: %w", err)
	}
	for _, r := range res {
		if r.Err != nil {
			return fmt.Errorf("kafka alter SCRAM credentials of %s: %w (%s)", r.User, r.Err, r.ErrMessage)
		}
	}
	return nil
}

// probeKafkaSecure asks for metadata through a SASL listener,
// authenticating with mechanism; caFile, when set, turns TLS on.
func probeKafkaSecure(ctx context.Context, addr, mechanism, user, passwordFile, caFile string) error {
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	pw, err := readPassword(passwordFile)
	if err != nil {
		return err
	}
	opts := []kgo.Opt{kgo.SeedBrokers(addr)}
	switch mechanism {
	case "SCRAM-SHA-512":
		opts = append(opts, kgo.SASL(scram.Auth{User: user, Pass: pw}.AsSha512Mechanism()))
	case "PLAIN":
		opts = append(opts, kgo.SASL(plain.Auth{User: user, Pass: pw}.AsMechanism()))
	default:
		return fmt.Errorf("unknown SASL mechanism %q", mechanism)
	}
	if caFile != "" {
		cfg, err := caConfig(caFile)
		if err != nil {
			return err
		}
		opts = append(opts, kgo.DialTLSConfig(cfg))
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return err
	}
	defer cl.Close()
	md, err := kadm.NewClient(cl).BrokerMetadata(ctx)
	if err != nil {
		return fmt.Errorf("kafka metadata over %s: %w", addr, err)
	}
	if len(md.Brokers) == 0 {
		return errors.New("kafka metadata: no brokers")
	}
	return nil
}

// probeCassandra selects the release version through a session to hosts,
// with a password when user is set and TLS when caFile is.
func probeCassandra(hosts, user, pass, caFile string) error {
	s, err := cassandraSession(hosts, user, pass, caFile)
	if err != nil {
		return fmt.Errorf("cassandra session: %w", err)
	}
	defer s.Close()
	var v string
	if err := s.Query(`SELECT release_version FROM system.local`).Scan(&v); err != nil {
		return fmt.Errorf("cassandra query: %w", err)
	}
	return nil
}

// probeRing checks a ring from each node's point of view: through each
// host as coordinator, a write at consistency ALL to a table replicated on
// every node (keyspace devstack_ring, made on first use). A coordinator
// refuses it while its failure detector counts any node down, and it
// succeeds only once every node stored it: every node is up (UN) and sees
// the others up.
func probeRing(hosts []string, user, pw string) error {
	first, err := cassandraSession(hosts[0], user, pw, "")
	if err != nil {
		return fmt.Errorf("cassandra session: %w", err)
	}
	defer first.Close()
	for _, stmt := range []string{
		fmt.Sprintf(`CREATE KEYSPACE IF NOT EXISTS devstack_ring WITH replication = {'class': 'SimpleStrategy', 'replication_factor': %d}`, len(hosts)),
		`CREATE TABLE IF NOT EXISTS devstack_ring.probe (coordinator text PRIMARY KEY, at timestamp)`,
	} {
		if err := first.Query(stmt).Exec(); err != nil {
			return fmt.Errorf("cassandra ring probe: %w", err)
		}
	}
	for _, h := range hosts {
		s, err := cassandraSession(h, user, pw, "")
		if err != nil {
			return fmt.Errorf("cassandra session %s: %w", h, err)
		}
		err = s.Query(`INSERT INTO devstack_ring.probe (coordinator, at) VALUES (?, toTimestamp(now()))`, h).
			Consistency(gocql.All).Exec()
		s.Close()
		if err != nil {
			return fmt.Errorf("cassandra ring: a write at ALL through %s: %w", h, err)
		}
	}
	return nil
}

// cassandraSetup logs in to a PasswordAuthenticator cluster as the
// superuser "cassandra" and makes sure user exists with the password in
// userPasswordFile and may create keyspaces. It then replaces the
// well-known default superuser password with the one in adminPasswordFile,
// so the stack does not ship cassandra/cassandra; later runs log in with it.
func cassandraSetup(hosts, caFile, adminPasswordFile, user, userPasswordFile string) error {
	adminPW, err := readPassword(adminPasswordFile)
	if err != nil {
		return err
	}
	userPW, err := readPassword(userPasswordFile)
	if err != nil {
		return err
	}
	var s *gocql.Session
	for _, pw := range []string{adminPW, "cassandra"} {
		if s, err = cassandraSession(hosts, "cassandra", pw, caFile); err == nil {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("cassandra superuser login: %w", err)
	}
	defer s.Close()
	// CQL takes no bind marker for a password: it is spliced as a string
	// literal. Errors name the statement up to WITH, never the password.
	stmts := []string{
		`CREATE ROLE IF NOT EXISTS ` + user + ` WITH LOGIN = true AND PASSWORD = ` + cqlString(userPW),
		`ALTER ROLE ` + user + ` WITH LOGIN = true AND PASSWORD = ` + cqlString(userPW),
		`GRANT CREATE ON ALL KEYSPACES TO ` + user,
		// Lets a client check that its own connection is encrypted
		// (system_views.clients.ssl_enabled).
		`GRANT SELECT ON KEYSPACE system_views TO ` + user,
		`ALTER ROLE cassandra WITH PASSWORD = ` + cqlString(adminPW),
	}
	for _, st := range stmts {
		if err := s.Query(st).Consistency(gocql.One).Exec(); err != nil {
			return fmt.Errorf("cassandra role setup: %s: %w", strings.SplitN(st, " WITH", 2)[0], err)
		}
	}
	return nil
}

func cqlString(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// quietLogger keeps gocql's connection complaints, expected while a node
// starts, off the terminal.
var quietLogger = log.New(io.Discard, "", 0)

func cassandraSession(hosts, user, pw, caFile string) (*gocql.Session, error) {
	cluster := gocql.NewCluster(strings.Split(hosts, ",")...)
	cluster.Timeout = 5 * time.Second
	cluster.ConnectTimeout = 3 * time.Second
	cluster.DisableInitialHostLookup = true
	cluster.NumConns = 1
	cluster.Logger = quietLogger
	if user != "" {
		cluster.Authenticator = gocql.PasswordAuthenticator{Username: user, Password: pw}
	}
	if caFile != "" {
		cfg, err := caConfig(caFile)
		if err != nil {
			return nil, err
		}
		cluster.SslOpts = &gocql.SslOptions{Config: cfg, EnableHostVerification: true}
	}
	return cluster.CreateSession()
}

func probePostgres(ctx context.Context, dsn string) error {
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	var v string
	if err := conn.QueryRow(ctx, `SHOW server_version`).Scan(&v); err != nil {
		return fmt.Errorf("postgres query: %w", err)
	}
	return nil
}

// probePostgresSecure connects with sslmode=verify-full against caFile and
// the password in passwordFile (dsn carries neither), and checks that the
// connection is encrypted.
func probePostgresSecure(ctx context.Context, dsn, passwordFile, caFile string) error {
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	pw, err := readPassword(passwordFile)
	if err != nil {
		return err
	}
	sep := "?"
	if strings.Contains(dsn, "?") {
		sep = "&"
	}
	cfg, err := pgx.ParseConfig(dsn + sep + "sslmode=verify-full&sslrootcert=" + caFile)
	if err != nil {
		return err
	}
	cfg.Password = pw
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	var ssl bool
	if err := conn.QueryRow(ctx, `SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()`).Scan(&ssl); err != nil {
		return fmt.Errorf("postgres query: %w", err)
	}
	if !ssl {
		return errors.New("postgres: connection is not encrypted")
	}
	return nil
}

// probeRegistry lists the subjects of the schema registry at url with the
// client kafkasink uses, so that a registry it cannot talk to is not ready,
// and registers a schema under the subject devstack-probe-value (the same
// one each time, so the registry keeps one version): a registry just
// started answers its first writes slowly (a cold JVM loading its schema
// checker and storage), and in CI those were the tests' first
// registrations, which took longer than a client's 5 s.
func probeRegistry(ctx context.Context, url string) error {
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	cl, err := sr.NewClient(sr.URLs(url))
	if err != nil {
		return err
	}
	if _, err := cl.Subjects(ctx); err != nil {
		return fmt.Errorf("schema registry subjects: %w", err)
	}
	probe := sr.Schema{Type: sr.TypeJSON, Schema: `{"$schema":"http://json-schema.org/draft-07/schema#","type":"object"}`}
	if _, err := cl.CreateSchema(ctx, "devstack-probe-value", probe); err != nil {
		return fmt.Errorf("schema registry registration: %w", err)
	}
	return nil
}
