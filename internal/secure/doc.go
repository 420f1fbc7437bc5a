// Package secure configures authenticated, encrypted connections to Kafka,
// Cassandra and PostgreSQL from the environment and from files — never
// from command-line flags, whose values any user sees in ps — and explains
// a failed connection in terms of the server and the cause.
//
// # Reading the settings
//
// [FromEnv] reads the USERSTREAM_* variables listed with [EnvKafkaUsername]
// and its neighbours, and the files they name, into a [Config]:
//
//	USERSTREAM_KAFKA_SASL_MECHANISM  SCRAM-SHA-512 (default with a username), SCRAM-SHA-256, PLAIN
//	USERSTREAM_KAFKA_USERNAME, USERSTREAM_KAFKA_PASSWORD or USERSTREAM_KAFKA_PASSWORD_FILE
//	USERSTREAM_KAFKA_TLS             1 for TLS with the system's roots; on by default when a file is set
//	USERSTREAM_KAFKA_TLS_CA_FILE     PEM authorities to trust instead of the system's
//	USERSTREAM_KAFKA_TLS_SERVER_NAME, USERSTREAM_KAFKA_TLS_CERT_FILE, USERSTREAM_KAFKA_TLS_KEY_FILE
//	USERSTREAM_CASSANDRA_USERNAME, USERSTREAM_CASSANDRA_PASSWORD or USERSTREAM_CASSANDRA_PASSWORD_FILE
//	USERSTREAM_CASSANDRA_TLS, USERSTREAM_CASSANDRA_TLS_CA_FILE (and _SERVER_NAME, _CERT_FILE, _KEY_FILE)
//	USERSTREAM_POSTGRES_PASSWORD or USERSTREAM_POSTGRES_PASSWORD_FILE
//	USERSTREAM_POSTGRES_TLS, USERSTREAM_POSTGRES_TLS_CA_FILE (and _CERT_FILE, _KEY_FILE)
//
// Nothing set means what the local stack's plain listeners want: no
// authentication, plain TCP. Load checks everything up front (files
// readable, certificates parseable, a username with its password) and
// reports every mistake at once, each naming its variable.
//
// # Using them
//
//	sec, err := secure.FromEnv()
//	kafkaOpts, err := sec.Kafka.Opts()                     // []kgo.Opt: kgo.SASL, kgo.DialTLSConfig
//	cl, err := kgo.NewClient(append(kafkaOpts, kgo.SeedBrokers(brokers...))...)
//	sessOpts, err := sec.Cassandra.SessionOpts()           // []cassandrastore.SessionOpt: WithAuth, WithTLS
//	session, err := cassandrastore.NewSession(ctx, hosts, sessOpts...)
//	poolCfg, err := sec.Postgres.PoolConfig(dsn)           // sslmode=verify-full, sslrootcert, password
//	pool, err := pgxpool.NewWithConfig(ctx, poolCfg)
//
// TLS always verifies the server's certificate chain and host name; there
// is no setting to skip that. [Postgres] merges its TLS settings into the
// DSN (replacing any sslmode: TLS on means verify-full) and sets the
// password on the parsed config, never in the DSN string.
//
// # Secrets
//
// Passwords are held in [Secret], whose every printed form (fmt with any
// verb, log/slog, encoding/json) is "[redacted]". [Config], [Kafka],
// [Cassandra] and [Postgres] print and log their settings with the
// passwords redacted, and errors from this package name variables and
// files, never values. The drivers receive the password at the last
// moment: franz-go through a per-connection callback, gocql and pgx in
// their configs.
//
// # Errors
//
// [Kafka.Ping], [Cassandra.Ping] and [Postgres.Ping] connect once and
// return an [*Error] on failure; [Kafka.Explain], [Cassandra.Explain] and
// [Postgres.Explain] turn any driver error into one. An *Error names the
// service, the server, the cause — [ErrAuthentication],
// [ErrUntrustedCertificate], [ErrTLSRequired] (a plaintext client at a TLS
// listener) or [ErrTLSUnsupported] — and a hint naming the variables to
// check. When the driver's error does not show the cause (gocql reports
// failures as text; a listener that hangs up on the wrong protocol looks
// like any dropped connection), Explain makes one TLS handshake per server,
// 3 s in all, to find it.
//
// # Testing
//
// The unit tests run everywhere. The tests against real secured servers
// are built with -tags secure and read the USERSTREAM_TEST_* variables
// that the local stack prints (internal/devstack: Kafka SASL_PLAINTEXT and
// SASL_SSL listeners, PostgreSQL TLS, and in USERSTREAM_STACK_SECURE=1 mode
// a second Cassandra node with PasswordAuthenticator and TLS). `make
// test-secure` runs them.
//
// All types are values, safe to copy and to use concurrently.
package secure
