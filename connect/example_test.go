package connect_test

import (
	"context"
	"flag"
	"fmt"
	"log"

	"github.com/userstream/userstream/connect"
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
