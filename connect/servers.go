package connect

import (
	"errors"
	"flag"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
)

// The environment variables [FromEnv] reads.
const (
	EnvKafkaBrokers      = "USERSTREAM_KAFKA_BROKERS"
	EnvSchemaRegistryURL = "USERSTREAM_SCHEMA_REGISTRY_URL"
	EnvCassandraHosts    = "USERSTREAM_CASSANDRA_HOSTS"
	EnvPostgresDSN       = "USERSTREAM_POSTGRES_DSN"
	EnvReplication       = "USERSTREAM_REPLICATION"
)

// The local stack's addresses: what [FromEnv] returns for a variable that
// is unset or blank.
const (
	DefaultKafkaBrokers   = "127.0.0.1:9092"
	DefaultCassandraHosts = "127.0.0.1:9042"
	DefaultPostgresDSN    = "postgres://userstream:userstream@127.0.0.1:5432/userstream?sslmode=disable"
	DefaultReplication    = 1
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
	// PostgresDSN is the PostgreSQL connection string (URL or key=value).
	PostgresDSN string
	// Replication is how many replicas a command gives what it creates
	// (topics, keyspaces); 1 suits a single-node stack, 3 production.
	Replication int
}

// ReplicationError is returned by [FromEnv] for a USERSTREAM_REPLICATION
// that is not a whole number from 1 to 32767 (a topic's replication
// factor is an int16).
type ReplicationError struct {
	Value string // as set in the environment
}

func (e *ReplicationError) Error() string {
	return fmt.Sprintf("%s=%q: want an integer from 1 to %d", EnvReplication, e.Value, math.MaxInt16)
}

// FromEnv returns the servers named by the environment (the Env*
// variables), each defaulting to the local stack's (the Default*
// constants). Values are trimmed; lists are split at commas, blank items
// dropped. It fails only with a [*ReplicationError]; the Servers it
// returns with it are complete, Replication at its default, so that a
// command can still register its flags and show its help.
func FromEnv() (Servers, error) {
	s := Servers{
		KafkaBrokers:      SplitList(envOr(EnvKafkaBrokers, DefaultKafkaBrokers)),
		SchemaRegistryURL: envOr(EnvSchemaRegistryURL, ""),
		CassandraHosts:    SplitList(envOr(EnvCassandraHosts, DefaultCassandraHosts)),
		PostgresDSN:       envOr(EnvPostgresDSN, DefaultPostgresDSN),
		Replication:       DefaultReplication,
	}
	if v := envOr(EnvReplication, ""); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > math.MaxInt16 {
			return s, &ReplicationError{Value: v}
		}
		s.Replication = n
	}
	return s, nil
}

// KafkaFlags registers -brokers and -schema-registry on fs, with s's
// values as defaults; parsing fs sets s's fields.
func (s *Servers) KafkaFlags(fs *flag.FlagSet) {
	fs.Var((*listValue)(&s.KafkaBrokers), "brokers", "Kafka seed brokers, comma-separated (env "+EnvKafkaBrokers+")")
	fs.StringVar(&s.SchemaRegistryURL, "schema-registry", s.SchemaRegistryURL, "URL of a schema registry with the Confluent API, e.g. http://127.0.0.1:8081/apis/ccompat/v7 (env "+EnvSchemaRegistryURL+"): records in the Confluent wire format, the value schema registered under <topic>-value; empty: plain JSON records")
}

// CassandraFlags registers -cassandra-hosts on fs, with s's value as
// default; parsing fs sets s.CassandraHosts.
func (s *Servers) CassandraFlags(fs *flag.FlagSet) {
	fs.Var((*listValue)(&s.CassandraHosts), "cassandra-hosts", "Cassandra contact points, comma-separated (env "+EnvCassandraHosts+")")
}

// CheckReplication returns an error naming the -replication flag unless n
// is a valid replication factor (1 to 32767).
func CheckReplication(n int) error {
	if n < 1 || n > math.MaxInt16 {
		return fmt.Errorf("-replication %d: want 1 to %d", n, math.MaxInt16)
	}
	return nil
}

// SplitList splits a comma-separated list, trimming each item and dropping
// blank ones: "a, b,,c" is [a b c], "" is nil.
func SplitList(s string) []string {
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
	*l = SplitList(v)
	if len(*l) == 0 {
		return errors.New("want at least one address")
	}
	return nil
}
