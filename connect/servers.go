package connect

import (
	"errors"
	"flag"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"

	"github.com/userstream/userstream/cassandrastore"
)

// The environment variables [FromEnv] reads.
const (
	EnvKafkaBrokers      = "USERSTREAM_KAFKA_BROKERS"
	EnvSchemaRegistryURL = "USERSTREAM_SCHEMA_REGISTRY_URL"
	EnvCassandraHosts    = "USERSTREAM_CASSANDRA_HOSTS"
	EnvPostgresDSN       = "USERSTREAM_POSTGRES_DSN"
	EnvReplication       = "USERSTREAM_REPLICATION"
	// EnvCassandraConsistency is the consistency level of the Cassandra
	// sessions, a name of cassandrastore.ParseConsistency.
	EnvCassandraConsistency = "USERSTREAM_CASSANDRA_CONSISTENCY"
)

// The local stack's addresses: what [FromEnv] returns for a variable that
// is unset or blank.
const (
	DefaultKafkaBrokers   = "127.0.0.1:9092"
	DefaultCassandraHosts = "127.0.0.1:9042"
	DefaultPostgresDSN    = "postgres://userstream:userstream@127.0.0.1:5432/userstream?sslmode=disable"
	DefaultReplication    = 1
	// DefaultCassandraConsistency is cassandrastore's default level: with 3
	// replicas a write is acknowledged by 2, and a read of 2 sees it
	// whichever node is down.
	DefaultCassandraConsistency = "local_quorum"
)

// Servers is where the servers are. The zero value names no server; get
// one from [FromEnv], or fill the fields in code.
type Servers struct {
	// KafkaBrokers are the seed brokers, "host:port".
	KafkaBrokers []string
	// SchemaRegistryURL is the base URL of a schema registry with the
	// Confluent API; empty means none (plain JSON records).
	SchemaRegistryURL string
	// CassandraHosts are the contact points, "host" or "host:port".
	CassandraHosts []string
	// CassandraConsistency is the consistency level of the sessions
	// [Servers.OpenCassandra] opens, the writes' and the reads', as
	// cassandrastore.ParseConsistency reads it; empty keeps cassandrastore's
	// default (LOCAL_QUORUM).
	CassandraConsistency string
	// PostgresDSN is the PostgreSQL connection string (URL or key=value).
	PostgresDSN string
	// Replication is how many replicas a command gives what it creates
	// (topics, keyspaces); 1 suits a single-node stack, 3 production.
	Replication int
}

// EnvError is returned by [FromEnv] for a variable whose value is
// invalid: USERSTREAM_REPLICATION not a whole number from 1 to 32767 (a
// topic's replication factor is an int16), or
// USERSTREAM_CASSANDRA_CONSISTENCY not a consistency level.
type EnvError struct {
	Name  string // the variable
	Value string // as set
	Err   error  // what is wrong with it
}

func (e *EnvError) Error() string { return fmt.Sprintf("%s=%q: %v", e.Name, e.Value, e.Err) }
func (e *EnvError) Unwrap() error { return e.Err }

// FromEnv returns the servers named by the environment (the Env*
// variables), each defaulting to the local stack's (the Default*
// constants). Values are trimmed; lists are split at commas, blank items
// dropped. It fails only with [*EnvError]s (joined when there are two);
// the Servers it returns with them are complete, each invalid value
// replaced by its default, so that a command can still register its flags
// and show its help.
func FromEnv() (Servers, error) {
	s := Servers{
		KafkaBrokers:         splitList(envOr(EnvKafkaBrokers, DefaultKafkaBrokers)),
		SchemaRegistryURL:    envOr(EnvSchemaRegistryURL, ""),
		CassandraHosts:       splitList(envOr(EnvCassandraHosts, DefaultCassandraHosts)),
		PostgresDSN:          envOr(EnvPostgresDSN, DefaultPostgresDSN),
		Replication:          DefaultReplication,
		CassandraConsistency: DefaultCassandraConsistency,
	}
	var errs []error
	if v := envOr(EnvReplication, ""); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > math.MaxInt16 {
			errs = append(errs, &EnvError{Name: EnvReplication, Value: v, Err: fmt.Errorf("want an integer from 1 to %d", math.MaxInt16)})
		} else {
			s.Replication = n
		}
	}
	if v := envOr(EnvCassandraConsistency, ""); v != "" {
		if _, err := cassandrastore.ParseConsistency(v); err != nil {
			errs = append(errs, &EnvError{Name: EnvCassandraConsistency, Value: v, Err: err})
		} else {
			s.CassandraConsistency = v
		}
	}
	return s, errors.Join(errs...)
}

// KafkaFlags registers -brokers and -schema-registry on fs, with s's
// values as defaults; parsing fs sets s's fields.
func (s *Servers) KafkaFlags(fs *flag.FlagSet) {
	fs.Var((*listValue)(&s.KafkaBrokers), "brokers", "Kafka seed brokers, comma-separated (env "+EnvKafkaBrokers+")")
	fs.StringVar(&s.SchemaRegistryURL, "schema-registry", s.SchemaRegistryURL, "URL of a schema registry with the Confluent API, e.g. http://127.0.0.1:8081/apis/ccompat/v7 (env "+EnvSchemaRegistryURL+"): records in the Confluent wire format, the value schema registered under <topic>-value; empty: plain JSON records")
}

// CassandraFlags registers -cassandra-hosts and -consistency on fs, with
// s's values as defaults; parsing fs sets s's fields. -consistency takes
// the names of cassandrastore.ParseConsistency, and parsing fails on
// another.
func (s *Servers) CassandraFlags(fs *flag.FlagSet) {
	fs.Var((*listValue)(&s.CassandraHosts), "cassandra-hosts", "Cassandra contact points, comma-separated (env "+EnvCassandraHosts+")")
	fs.Var((*consistencyValue)(&s.CassandraConsistency), "consistency", "consistency level of the Cassandra writes and reads: local_quorum, quorum, one, local_one, each_quorum, all, two or three (env "+EnvCassandraConsistency+")")
}

// CheckReplication returns an error naming the -replication flag unless n
// is a valid replication factor (1 to 32767).
func CheckReplication(n int) error {
	if n < 1 || n > math.MaxInt16 {
		return fmt.Errorf("-replication %d: want 1 to %d", n, math.MaxInt16)
	}
	return nil
}

// splitList splits a comma-separated list, trimming each item and dropping
// blank ones: "a, b,,c" is [a b c], "" is nil.
func splitList(s string) []string {
	var out []string
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}

func envOr(name, def string) string {
	if v := strings.TrimSpace(os.Getenv(name)); v != "" {
		return v
	}
	return def
}

// listValue is a flag.Value of a comma-separated list.
type listValue []string

func (l *listValue) String() string {
	if l == nil {
		return ""
	}
	return strings.Join(*l, ",")
}

func (l *listValue) Set(v string) error {
	*l = splitList(v)
	if len(*l) == 0 {
		return errors.New("want at least one address")
	}
	return nil
}

// consistencyValue is a flag.Value of a consistency level's name.
type consistencyValue string

func (c *consistencyValue) String() string {
	if c == nil {
		return ""
	}
	return string(*c)
}

func (c *consistencyValue) Set(v string) error {
	if _, err := cassandrastore.ParseConsistency(v); err != nil {
		return err
	}
	*c = consistencyValue(v)
	return nil
}
