// Command probe tells whether a server of the local stack answers a real
// request: Kafka a metadata request, Cassandra a CQL query, PostgreSQL a
// query. devstack calls it while waiting for readiness and for `status`.
//
//	probe kafka 127.0.0.1:9092
//	probe cassandra 127.0.0.1:9042 [username password]
//	probe postgres 'postgres://...'
//
// It prints the server's version and exits 0 when the server answered, or
// prints the error and exits 1.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/gocql/gocql"
	"github.com/jackc/pgx/v5"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

func main() {
	if len(os.Args) < 3 {
		fmt.Fprintln(os.Stderr, "usage: probe kafka|cassandra|postgres ADDRESS")
		os.Exit(2)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var (
		version string
		err     error
	)
	switch os.Args[1] {
	case "kafka":
		version, err = kafka(ctx, os.Args[2])
	case "cassandra":
		var user, pass string
		if len(os.Args) >= 5 {
			user, pass = os.Args[3], os.Args[4]
		}
		version, err = cassandra(os.Args[2], user, pass)
	case "postgres":
		version, err = postgres(ctx, os.Args[2])
	default:
		err = fmt.Errorf("unknown server %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println(version)
}

func kafka(ctx context.Context, brokers string) (string, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(strings.Split(brokers, ",")...))
	if err != nil {
		return "", err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	md, err := adm.BrokerMetadata(ctx)
	if err != nil {
		return "", fmt.Errorf("kafka metadata: %w", err)
	}
	if len(md.Brokers) == 0 {
		return "", errors.New("kafka metadata: no brokers")
	}
	vs, err := adm.ApiVersions(ctx)
	if err != nil {
		return "", fmt.Errorf("kafka api versions: %w", err)
	}
	for _, v := range vs {
		if v.Err == nil {
			return fmt.Sprintf("kafka %s, %d broker(s), controller %d", v.VersionGuess(), len(md.Brokers), md.Controller), nil
		}
	}
	return "", errors.New("kafka api versions: no broker answered")
}

func cassandra(hosts, user, pass string) (string, error) {
	cluster := gocql.NewCluster(strings.Split(hosts, ",")...)
	cluster.Timeout = 3 * time.Second
	cluster.ConnectTimeout = 3 * time.Second
	cluster.DisableInitialHostLookup = true
	if user != "" {
		cluster.Authenticator = gocql.PasswordAuthenticator{Username: user, Password: pass}
	}
	s, err := cluster.CreateSession()
	if err != nil {
		return "", fmt.Errorf("cassandra session: %w", err)
	}
	defer s.Close()
	var v string
	if err := s.Query(`SELECT release_version FROM system.local`).Scan(&v); err != nil {
		return "", fmt.Errorf("cassandra query: %w", err)
	}
	return "cassandra " + v, nil
}

func postgres(ctx context.Context, dsn string) (string, error) {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return "", err
	}
	defer conn.Close(ctx)
	var v string
	if err := conn.QueryRow(ctx, `SHOW server_version`).Scan(&v); err != nil {
		return "", fmt.Errorf("postgres query: %w", err)
	}
	return "postgres " + v, nil
}
