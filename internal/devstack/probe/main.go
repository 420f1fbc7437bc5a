// Command probe tells whether a server of the local stack answers a real
// request: Kafka a metadata request, Cassandra a CQL query, PostgreSQL a
// query, the schema registry a list of its subjects through its
// Confluent-compatible API. devstack calls it while waiting for readiness and for `status`,
// and to set up the secured listeners.
//
//	probe kafka 127.0.0.1:9092
//	probe kafka-secure ADDR SCRAM-SHA-512|PLAIN USER PASSWORD_FILE [CA_FILE]
//	probe kafka-scram ADDR USER PASSWORD_FILE     (create/update the SCRAM user)
//	probe cassandra HOSTS [USER PASSWORD_FILE [CA_FILE]]
//	probe cassandra-setup HOSTS CA_FILE ADMIN_PASSWORD_FILE USER PASSWORD_FILE
//	probe postgres 'postgres://...'
//	probe postgres-secure DSN PASSWORD_FILE CA_FILE
//	probe registry http://127.0.0.1:8081/apis/ccompat/v7
//	probe secure-init DIR NAME...                  (certificates, passwords)
//
// Passwords are read from files: arguments show in ps.
//
// It prints what answered and exits 0, or prints the error and exits 1
// (2 for a usage error).
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"
)

func main() {
	if len(os.Args) < 3 {
		usage()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var (
		version string
		err     error
	)
	args := os.Args[2:]
	arg := func(i int) string { // optional argument i, or ""
		if i < len(args) {
			return args[i]
		}
		return ""
	}
	switch os.Args[1] {
	case "kafka":
		version, err = kafka(ctx, args[0])
	case "kafka-secure":
		need(args, 4)
		version, err = kafkaSecure(ctx, args[0], args[1], args[2], args[3], arg(4))
	case "kafka-scram":
		need(args, 3)
		version, err = kafkaSCRAM(ctx, args[0], args[1], args[2])
	case "cassandra":
		var user, pass string
		if user = arg(1); user != "" {
			need(args, 3)
			if pass, err = readPassword(args[2]); err != nil {
				break
			}
		}
		version, err = cassandra(args[0], user, pass, arg(3))
	case "cassandra-setup":
		need(args, 5)
		version, err = cassandraSetup(args[0], args[1], args[2], args[3], args[4])
	case "postgres":
		version, err = postgres(ctx, args[0])
	case "postgres-secure":
		need(args, 3)
		version, err = postgresSecure(ctx, args[0], args[1], args[2])
	case "registry":
		version, err = registry(ctx, args[0])
	case "secure-init":
		err = secureInit(args[0], args[1:])
		version = "certificates and passwords in " + args[0]
	default:
		usage()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println(version)
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: probe kafka|kafka-secure|kafka-scram|cassandra|cassandra-setup|postgres|postgres-secure|registry|secure-init ARG...")
	os.Exit(2)
}

func need(args []string, n int) {
	if len(args) < n {
		usage()
	}
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

func cassandra(hosts, user, pass, caFile string) (string, error) {
	s, err := cassandraSession(hosts, user, pass, caFile)
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

// registry lists the subjects of the schema registry at url with the client
// kafkasink uses, so that a registry it cannot talk to is not ready.
func registry(ctx context.Context, url string) (string, error) {
	cl, err := sr.NewClient(sr.URLs(url))
	if err != nil {
		return "", err
	}
	subjects, err := cl.Subjects(ctx)
	if err != nil {
		return "", fmt.Errorf("schema registry subjects: %w", err)
	}
	return fmt.Sprintf("schema registry at %s, %d subject(s)", url, len(subjects)), nil
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
