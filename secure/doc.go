// Package secure configures authenticated, encrypted connections to Kafka
// (franz-go), Cassandra (gocql, gocqlx) and PostgreSQL (pgx), from the
// environment or from values set in code, keeps the passwords out of logs
// and errors, and explains a failed connection in terms of the server and
// the cause. It is how a service that imports userstream's packages gets
// the same SASL, TLS and password-file handling as userstream's own
// commands. Where the servers are (their addresses) is package connect's
// part: connect.FromEnv reads the addresses, and its Open functions take
// this package's settings and return checked clients.
//
// # Reading the settings
//
// Only the loaders read the environment, and each reads its own variables
// (the Env* constants), plus the files they name:
//
//	FromEnv()              all of the variables below, from os.LookupEnv
//	Load(lookup)           all of them, through lookup (a map in tests)
//	LoadKafka(lookup)      USERSTREAM_KAFKA_SASL_MECHANISM    SCRAM-SHA-512 (default with a username), SCRAM-SHA-256, PLAIN
//	                       USERSTREAM_KAFKA_USERNAME, USERSTREAM_KAFKA_PASSWORD or USERSTREAM_KAFKA_PASSWORD_FILE
//	                       USERSTREAM_KAFKA_TLS               1 for TLS with the system's roots; on by default when a file is set
//	                       USERSTREAM_KAFKA_TLS_CA_FILE       PEM authorities to trust instead of the system's
//	                       USERSTREAM_KAFKA_TLS_SERVER_NAME, USERSTREAM_KAFKA_TLS_CERT_FILE, USERSTREAM_KAFKA_TLS_KEY_FILE
//	LoadCassandra(lookup)  USERSTREAM_CASSANDRA_USERNAME, USERSTREAM_CASSANDRA_PASSWORD or USERSTREAM_CASSANDRA_PASSWORD_FILE
//	                       USERSTREAM_CASSANDRA_TLS, USERSTREAM_CASSANDRA_TLS_CA_FILE (and _SERVER_NAME, _CERT_FILE, _KEY_FILE)
//	LoadPostgres(lookup)   USERSTREAM_POSTGRES_PASSWORD or USERSTREAM_POSTGRES_PASSWORD_FILE
//	                       USERSTREAM_POSTGRES_TLS, USERSTREAM_POSTGRES_TLS_CA_FILE (and _CERT_FILE, _KEY_FILE)
//
// Unset and empty variables are the same, and nothing set means no
// authentication over plain TCP. A loader checks everything up front
// (files readable, certificates parseable, a username with its password)
// and reports every mistake at once, each naming its variable. The
// addresses of the servers and the PostgreSQL DSN are not among these
// variables: they are the caller's.
//
// Settings can equally be written in code, as the fields of [Kafka],
// [Cassandra], [Postgres] and [TLS], with the password wrapped by
// [NewSecret] or read by [ReadSecretFile]:
//
//	k := secure.Kafka{Mechanism: secure.ScramSHA512, Username: "svc", Password: pw,
//		TLS: secure.TLS{Enabled: true, CAFile: "/etc/ssl/kafka-ca.pem"}}
//
// # Using them
//
// Each service's settings turn into what its driver takes; none of these
// reads the environment:
//
//	opts, err := k.Opts()                                // franz-go: []kgo.Opt (kgo.SASL, kgo.DialTLSConfig)
//	cl, err := kgo.NewClient(append(opts, kgo.SeedBrokers(brokers...))...)
//
//	cluster := gocql.NewCluster(hosts...)                // gocql or gocqlx
//	err = c.Apply(cluster)                               // Authenticator, SslOpts
//	session, err := gocqlx.WrapSession(cluster.CreateSession())
//
//	poolCfg, err := p.PoolConfig(dsn)                    // pgx: sslmode=verify-full, sslrootcert, password
//	pool, err := pgxpool.NewWithConfig(ctx, poolCfg)     // or p.Apply(&poolCfg.ConnConfig.Config) on a parsed config
//
// With cassandrastore, the same Apply is the one way to secure its session,
// so the password never leaves a [Secret] as a plain string:
//
//	session, err := cassandrastore.NewSession(ctx, hosts, cassandrastore.WithClusterConfig(c.Apply))
//
// TLS always verifies the server's certificate chain and host name; there
// is no setting to skip that. [Postgres.PoolConfig] merges its TLS
// settings into the DSN (replacing any sslmode: TLS on means verify-full)
// and sets the password on the parsed config, never in the DSN string.
// The TLS files are read when the settings are turned into driver values:
// do that once per process and reuse the result.
//
// # Secrets
//
// Passwords are held in [Secret], whose every printed form (fmt with any
// verb, log/slog, encoding/json) is "[redacted]". [Config], [Kafka],
// [Cassandra] and [Postgres] print and log their settings with the
// passwords redacted, and errors from this package name settings and
// files, never values. The drivers receive the password at the last
// moment: franz-go and gocql through a per-connection callback (so a
// printed kgo or gocql configuration shows no password), pgx in its
// config's Password field, which pgx itself does not print.
//
// # Errors
//
// [Kafka.Ping], [Cassandra.Ping] and [Postgres.Ping] connect once and
// return an [*Error] on failure; [Kafka.Explain], [Cassandra.Explain] and
// [Postgres.Explain] turn any driver error into one. An *Error names the
// service, the server, the cause — [ErrAuthentication],
// [ErrUntrustedCertificate], [ErrTLSRequired] (a plaintext client at a TLS
// listener) or [ErrTLSUnsupported] — and a hint naming what to check: the
// variables when a loader read the settings, the fields when code set
// them. When the driver's error does not show the cause (gocql reports
// failures as text; a listener that hangs up on the wrong protocol looks
// like any dropped connection), Explain makes one TLS handshake per
// server, 3 s in all, to find it.
//
// # Testing
//
// The unit tests and examples run everywhere. The tests against real
// secured servers are built with -tags secure and read the
// USERSTREAM_TEST_* variables that the local stack prints
// (internal/devstack: Kafka SASL_PLAINTEXT and SASL_SSL listeners,
// PostgreSQL TLS, and in USERSTREAM_STACK_SECURE=1 mode a second Cassandra
// node with PasswordAuthenticator and TLS). `make test-secure` runs them.
//
// All types are values, safe to copy and to use concurrently.
package secure
