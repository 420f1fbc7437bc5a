// Package connect says where userstream's servers are and opens a checked,
// secured client of each: the one place a command reads the servers'
// addresses, so that every command of a service finds them the same way.
//
// # Where the servers are
//
// [FromEnv] reads the addresses from the environment, each with the local
// stack's default (examples/compose.yaml and internal/devstack publish the
// same ports):
//
//	USERSTREAM_KAFKA_BROKERS          Kafka seed brokers, comma-separated        127.0.0.1:9092
//	USERSTREAM_SCHEMA_REGISTRY_URL    schema registry with the Confluent API     none: plain JSON records
//	USERSTREAM_CASSANDRA_HOSTS        Cassandra contact points, comma-separated  127.0.0.1:9042
//	USERSTREAM_CASSANDRA_CONSISTENCY  consistency level of the sessions          local_quorum
//	USERSTREAM_POSTGRES_DSN           PostgreSQL DSN                             DefaultPostgresDSN
//	USERSTREAM_REPLICATION            replicas of the topics a command creates   1
//
// [Servers.KafkaFlags] and [Servers.CassandraFlags] register the matching
// command-line flags (-brokers, -schema-registry, -cassandra-hosts,
// -consistency) with those values as defaults, so a flag wins over the
// variable, which wins over the default. The DSN has no flag on purpose:
// a flag's value shows in ps, and a DSN may carry a password (better kept in
// USERSTREAM_POSTGRES_PASSWORD_FILE, see package secure).
//
// # Opening the clients
//
// Credentials and TLS come from package secure ([secure.FromEnv]); each
// Open function takes the matching part of a [secure.Config] and checks
// the connection before it returns, so that a wrong address, password or
// certificate fails at start with a [*secure.Error] naming the server and
// the variable to fix, not halfway through a run:
//
//	sec, err := secure.FromEnv()
//	pool, err := srv.OpenPostgres(ctx, sec.Postgres)        // *pgxpool.Pool, pinged
//	k, err := srv.OpenKafka(ctx, sec.Kafka)                 // kgo options (SASL, TLS) and the registry client, pinged
//	session, err := srv.OpenCassandra(ctx, sec.Cassandra)   // gocqlx.Session through cassandrastore.NewSession
//	api, err := connect.OpenAPI(url, offline)               // randomuser.Client, or an in-process server offline
//
// A Kafka builds the kafkasink clients with its options, in registry mode
// when there is a registry (the producer's value schema registered at once):
//
//	p, err := k.NewProducer(ctx, kafkasink.WithTopic(topic))
//	c, err := k.NewConsumer(group, handler, kafkasink.WithTopic(topic))
//
// [Servers.Topic] and [EnsureTopics] create the topics a command needs
// with Servers.Replication replicas (min.insync.replicas 2 from 3).
//
// The caller owns what they return and closes it (pool.Close,
// session.Close, api.Close); a [Kafka] holds no connection. Apart from the
// offline API's server, nothing in this package runs in the background.
package connect
