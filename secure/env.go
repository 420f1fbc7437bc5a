package secure

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
)

// The environment variables the loaders read: [FromEnv] and [Load] read
// all of them, [LoadKafka] the USERSTREAM_KAFKA_* ones, [LoadCassandra]
// the USERSTREAM_CASSANDRA_* ones and [LoadPostgres] the
// USERSTREAM_POSTGRES_* ones. Nothing else in the package reads the
// environment. For each password, set the variable or the _FILE one (a
// path to a file holding it), not both; a file keeps the value out of the
// process environment, which other processes of the same user can read.
const (
	EnvKafkaSASLMechanism     = "USERSTREAM_KAFKA_SASL_MECHANISM" // SCRAM-SHA-512 (default with a username), SCRAM-SHA-256 or PLAIN
	EnvKafkaUsername          = "USERSTREAM_KAFKA_USERNAME"
	EnvKafkaPassword          = "USERSTREAM_KAFKA_PASSWORD"
	EnvKafkaPasswordFile      = "USERSTREAM_KAFKA_PASSWORD_FILE"
	EnvKafkaTLS               = "USERSTREAM_KAFKA_TLS" // 1/true or 0/false; default on when a TLS file or server name is set
	EnvKafkaTLSCAFile         = "USERSTREAM_KAFKA_TLS_CA_FILE"
	EnvKafkaTLSServerName     = "USERSTREAM_KAFKA_TLS_SERVER_NAME"
	EnvKafkaTLSCertFile       = "USERSTREAM_KAFKA_TLS_CERT_FILE"
	EnvKafkaTLSKeyFile        = "USERSTREAM_KAFKA_TLS_KEY_FILE"
	EnvCassandraUsername      = "USERSTREAM_CASSANDRA_USERNAME"
	EnvCassandraPassword      = "USERSTREAM_CASSANDRA_PASSWORD"
	EnvCassandraPasswordFile  = "USERSTREAM_CASSANDRA_PASSWORD_FILE"
	EnvCassandraTLS           = "USERSTREAM_CASSANDRA_TLS"
	EnvCassandraTLSCAFile     = "USERSTREAM_CASSANDRA_TLS_CA_FILE"
	EnvCassandraTLSServerName = "USERSTREAM_CASSANDRA_TLS_SERVER_NAME"
	EnvCassandraTLSCertFile   = "USERSTREAM_CASSANDRA_TLS_CERT_FILE"
	EnvCassandraTLSKeyFile    = "USERSTREAM_CASSANDRA_TLS_KEY_FILE"
	EnvPostgresPassword       = "USERSTREAM_POSTGRES_PASSWORD"
	EnvPostgresPasswordFile   = "USERSTREAM_POSTGRES_PASSWORD_FILE"
	EnvPostgresTLS            = "USERSTREAM_POSTGRES_TLS"
	EnvPostgresTLSCAFile      = "USERSTREAM_POSTGRES_TLS_CA_FILE"
	EnvPostgresTLSCertFile    = "USERSTREAM_POSTGRES_TLS_CERT_FILE"
	EnvPostgresTLSKeyFile     = "USERSTREAM_POSTGRES_TLS_KEY_FILE"
)

// Config is the security settings of the three clients.
type Config struct {
	Kafka     Kafka
	Cassandra Cassandra
	Postgres  Postgres
}

// FromEnv reads every USERSTREAM_* variable above from the process
// environment, and the files they name: Load(os.LookupEnv).
func FromEnv() (Config, error) { return Load(os.LookupEnv) }

// Load reads every variable above through lookup (os.LookupEnv, or a map
// in tests): [LoadKafka], [LoadCassandra] and [LoadPostgres] together,
// their mistakes reported at once.
func Load(lookup func(string) (string, bool)) (Config, error) {
	r := reader{lookup: lookup}
	c := Config{Kafka: r.kafka(), Cassandra: r.cassandra(), Postgres: r.postgres()}
	if err := r.err(); err != nil {
		return Config{}, err
	}
	return c, nil
}

// LoadKafka reads the USERSTREAM_KAFKA_* variables through lookup, and the
// files they name. Unset and empty variables are the same; nothing set is
// no SASL over plain TCP. It reads the password file and checks every
// setting, TLS files included, so that a mistake shows at start-up; the
// error lists every mistake, each naming its variable, never a value.
func LoadKafka(lookup func(string) (string, bool)) (Kafka, error) {
	r := reader{lookup: lookup}
	k := r.kafka()
	if err := r.err(); err != nil {
		return Kafka{}, err
	}
	return k, nil
}

// LoadCassandra reads the USERSTREAM_CASSANDRA_* variables through lookup,
// and the files they name, as [LoadKafka] does.
func LoadCassandra(lookup func(string) (string, bool)) (Cassandra, error) {
	r := reader{lookup: lookup}
	c := r.cassandra()
	if err := r.err(); err != nil {
		return Cassandra{}, err
	}
	return c, nil
}

// LoadPostgres reads the USERSTREAM_POSTGRES_* variables through lookup,
// and the files they name, as [LoadKafka] does. The DSN itself is not
// among them: it is the caller's.
func LoadPostgres(lookup func(string) (string, bool)) (Postgres, error) {
	r := reader{lookup: lookup}
	p := r.postgres()
	if err := r.err(); err != nil {
		return Postgres{}, err
	}
	return p, nil
}

type reader struct {
	lookup func(string) (string, bool)
	errs   []error
}

func (r *reader) err() error {
	if err := errors.Join(r.errs...); err != nil {
		return fmt.Errorf("secure: %w", err)
	}
	return nil
}

func (r *reader) kafka() Kafka {
	k := Kafka{fromEnv: true}
	k.Username = r.str(EnvKafkaUsername)
	k.Password = r.secret(EnvKafkaPassword, EnvKafkaPasswordFile)
	if m := r.str(EnvKafkaSASLMechanism); m != "" {
		var err error
		if k.Mechanism, err = ParseMechanism(m); err != nil {
			r.fail(EnvKafkaSASLMechanism, err)
		}
	} else if k.Username != "" {
		k.Mechanism = ScramSHA512
	}
	k.TLS = r.tls(EnvKafkaTLS, EnvKafkaTLSCAFile, EnvKafkaTLSServerName, EnvKafkaTLSCertFile, EnvKafkaTLSKeyFile)
	r.check("kafka", k.validate())
	return k
}

func (r *reader) cassandra() Cassandra {
	c := Cassandra{fromEnv: true}
	c.Username = r.str(EnvCassandraUsername)
	c.Password = r.secret(EnvCassandraPassword, EnvCassandraPasswordFile)
	c.TLS = r.tls(EnvCassandraTLS, EnvCassandraTLSCAFile, EnvCassandraTLSServerName, EnvCassandraTLSCertFile, EnvCassandraTLSKeyFile)
	r.check("cassandra", c.validate())
	return c
}

func (r *reader) postgres() Postgres {
	p := Postgres{fromEnv: true}
	p.Password = r.secret(EnvPostgresPassword, EnvPostgresPasswordFile)
	p.TLS = r.tls(EnvPostgresTLS, EnvPostgresTLSCAFile, "", EnvPostgresTLSCertFile, EnvPostgresTLSKeyFile)
	return p
}

func (r *reader) fail(name string, err error) {
	r.errs = append(r.errs, fmt.Errorf("%s: %w", name, err))
}

func (r *reader) check(what string, err error) {
	if err != nil {
		r.errs = append(r.errs, fmt.Errorf("%s: %w", what, err))
	}
}

func (r *reader) str(name string) string {
	if name == "" {
		return ""
	}
	v, _ := r.lookup(name)
	return strings.TrimSpace(v)
}

// secret reads the value of name, or of the file fileName names. The
// value itself is not trimmed: spaces may be part of a password.
func (r *reader) secret(name, fileName string) Secret {
	v, _ := r.lookup(name)
	path := r.str(fileName)
	switch {
	case v != "" && path != "":
		r.fail(name, fmt.Errorf("set either it or %s, not both", fileName))
	case path != "":
		s, err := ReadSecretFile(path)
		if err != nil {
			r.fail(fileName, err)
		}
		return s
	}
	return NewSecret(v)
}

func (r *reader) tls(enabledName, caName, serverName, certName, keyName string) TLS {
	t := TLS{
		CAFile:     r.str(caName),
		ServerName: r.str(serverName),
		CertFile:   r.str(certName),
		KeyFile:    r.str(keyName),
	}
	files := t.CAFile != "" || t.CertFile != "" || t.KeyFile != ""
	switch v := r.str(enabledName); v {
	case "":
		t.Enabled = files || t.ServerName != ""
	default:
		on, err := strconv.ParseBool(v)
		if err != nil {
			r.fail(enabledName, fmt.Errorf("want 1, true, 0 or false, not %q", v))
		}
		if !on && (files || t.ServerName != "") {
			r.fail(enabledName, errors.New("TLS is off but TLS files or a server name are set"))
		}
		t.Enabled = on
	}
	// Read the files now: a wrong path should stop the program at
	// start-up, not at its first connection.
	if t.CAFile != "" {
		if _, err := loadCAs(t.CAFile); err != nil {
			r.fail(caName, err)
		}
	}
	switch {
	case (t.CertFile == "") != (t.KeyFile == ""):
		r.fail(certName, fmt.Errorf("a client certificate needs both %s and %s", certName, keyName))
	case t.CertFile != "":
		if _, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile); err != nil {
			r.fail(certName, fmt.Errorf("%s with key %s: %w", t.CertFile, t.KeyFile, err))
		}
	}
	return t
}

// names are what errors and hints call a service's settings: the
// variables when a loader read them, the struct fields when the caller
// set them, so that the advice points at what the reader can change.
type names struct {
	user, password, mechanism, tlsOn, tlsOff, ca string
}

// settingNames returns the names for svc ("kafka", "cassandra",
// "postgres").
func settingNames(svc string, fromEnv bool) names {
	if fromEnv {
		p := "USERSTREAM_" + strings.ToUpper(svc) + "_"
		return names{
			user:      p + "USERNAME",
			password:  p + "PASSWORD or " + p + "PASSWORD_FILE",
			mechanism: p + "SASL_MECHANISM",
			tlsOn:     "set " + p + "TLS=1 or " + p + "TLS_CA_FILE",
			tlsOff:    "unset " + p + "TLS and " + p + "TLS_CA_FILE",
			ca:        p + "TLS_CA_FILE",
		}
	}
	f := strings.ToUpper(svc[:1]) + svc[1:] + "."
	return names{
		user:      f + "Username",
		password:  f + "Password",
		mechanism: f + "Mechanism",
		tlsOn:     "set " + f + "TLS.Enabled",
		tlsOff:    "clear " + f + "TLS.Enabled",
		ca:        f + "TLS.CAFile",
	}
}

// String describes the settings, passwords redacted.
func (c Config) String() string {
	return c.Kafka.String() + " " + c.Cassandra.String() + " " + c.Postgres.String()
}

// LogValue serves log/slog, passwords redacted.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(slog.Any("kafka", c.Kafka), slog.Any("cassandra", c.Cassandra), slog.Any("postgres", c.Postgres))
}
