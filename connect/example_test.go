package connect_test

import (
	"context"
	"flag"
	"fmt"
	"log"

	"github.com/userstream/userstream/connect"
	"github.com/userstream/userstream/randomuser"
	"github.com/userstream/userstream/secure"
)

// The servers' flags, their defaults from the environment (here set in
// code), overridden on the command line.
func ExampleServers_KafkaFlags() {
	srv := connect.Servers{KafkaBrokers: []string{"127.0.0.1:9092"}}
	fs := flag.NewFlagSet("ingest", flag.ContinueOnError)
	srv.KafkaFlags(fs)
	srv.CassandraFlags(fs)
	fmt.Println("default:", fs.Lookup("brokers").DefValue)
	if err := fs.Parse([]string{"-brokers", "kafka-1:9092,kafka-2:9092", "-cassandra-hosts", "cassandra-1"}); err != nil {
		log.Fatal(err)
	}
	fmt.Println(srv.KafkaBrokers, srv.CassandraHosts)
	// Output:
	// default: 127.0.0.1:9092
	// [kafka-1:9092 kafka-2:9092] [cassandra-1]
}

// A command opening PostgreSQL: addresses from USERSTREAM_POSTGRES_DSN,
// password and TLS from the variables of package secure.
func ExampleServers_OpenPostgres() {
	ctx := context.Background()
	srv, err := connect.FromEnv()
	if err != nil {
		log.Fatal(err)
	}
	sec, err := secure.FromEnv()
	if err != nil {
		log.Fatal(err)
	}
	pool, err := srv.OpenPostgres(ctx, sec.Postgres) // pinged: a wrong password fails here
	if err != nil {
		log.Fatal(err) // a *secure.Error names the server and the variable to fix
	}
	defer pool.Close()
}

// Offline, the client talks to an in-process imitation of the Random User
// API: the same seed gives the same users, with no internet.
func ExampleOpenAPI() {
	api, err := connect.OpenAPI("", true)
	if err != nil {
		log.Fatal(err)
	}
	defer api.Close()
	n := 0
	for _, err := range api.Users(context.Background(), randomuser.Query{Seed: "example", Results: 50}, 120) {
		if err != nil {
			log.Fatal(err)
		}
		n++
	}
	fmt.Println(api.Offline(), n)
	// Output:
	// true 120
}

// The topics of a production cluster: 3 replicas, and writes acknowledged
// by 2 of them.
func ExampleServers_Topic() {
	srv := connect.Servers{Replication: 3}
	spec := srv.Topic("users_created", 6)
	fmt.Println(spec.Name, spec.Partitions, spec.ReplicationFactor, spec.Configs)
	// Output:
	// users_created 6 3 map[min.insync.replicas:2]
}
