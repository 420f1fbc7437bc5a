// Command runs prints the run ledger (package runledger): the last runs of
// the pipeline with their counts per stage and status, read from PostgreSQL
// (USERSTREAM_POSTGRES_DSN, with the credentials and TLS of package secure).
//
//	runs            # the last 20 runs
//	runs -n 5
//	runs -id full-20261125T120000Z-1a2b3c
//	runs -lease 30s # how long a running run may go without a heartbeat
//
// A run still recorded as running whose heartbeat (its last write of the
// ledger, every five seconds while it runs) is older than -lease is shown
// as abandoned, with its last heartbeat: its process was killed or lost
// the database before it could record how it ended.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/userstream/userstream/runledger"
	"github.com/userstream/userstream/secure"
)

const (
	envPostgresDSN     = "USERSTREAM_POSTGRES_DSN"
	defaultPostgresDSN = "postgres://userstream:userstream@127.0.0.1:5432/userstream?sslmode=disable"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "runs:", err)
		os.Exit(1)
	}
}

func run(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("runs", flag.ExitOnError)
	schema := fs.String("pg-schema", runledger.DefaultSchema, "PostgreSQL schema of the run ledger (DSN from env "+envPostgresDSN+")")
	n := fs.Int("n", 20, "how many runs to show, newest first")
	id := fs.String("id", "", "show only this run")
	lease := fs.Duration("lease", runledger.DefaultLease, "a running run without a heartbeat for this long is shown as abandoned")
	_ = fs.Parse(args)
	// The DSN is never a flag: a flag's value shows in ps, and a DSN may
	// carry a password.
	dsn := strings.TrimSpace(os.Getenv(envPostgresDSN))
	if dsn == "" {
		dsn = defaultPostgresDSN
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	sec, err := secure.LoadPostgres(os.LookupEnv)
	if err != nil {
		return err
	}
	poolCfg, err := sec.PoolConfig(dsn) // TLS and the password merged in
	if err != nil {
		return err
	}
	pool, err := pgxpool.NewWithConfig(ctx, poolCfg)
	if err != nil {
		return sec.Explain(err)
	}
	defer pool.Close()
	// The pool connects lazily: fail here, with the cause.
	if err := pool.Ping(ctx); err != nil {
		return sec.Explain(err)
	}
	ledger, err := runledger.New(pool, runledger.WithSchema(*schema), runledger.WithLease(*lease))
	if err != nil {
		return err
	}
	var runs []runledger.Run
	if *id != "" {
		r, err := ledger.Get(ctx, *id)
		if err != nil {
			return err
		}
		runs = append(runs, r)
	} else if runs, err = ledger.Recent(ctx, *n); err != nil {
		return err
	}
	return printRuns(out, runs)
}

// printRuns writes runs as a table, one run a line (two when it failed or
// was abandoned).
func printRuns(w io.Writer, runs []runledger.Run) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "run\tstarted\tseconds\tfetched\tstaged\tduplicates\tinvalid\tpublished\tstored\tdead-lettered\tstatus\t")
	for _, r := range runs {
		secs := "-"
		if r.EndedAt != nil {
			secs = fmt.Sprintf("%.1f", r.EndedAt.Sub(r.StartedAt).Seconds())
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%s\t\n", r.RunID, r.StartedAt.Local().Format(time.DateTime),
			secs, r.Fetched, r.Staged, r.Duplicates, r.Invalid, r.Published, r.Stored, r.DeadLettered, r.Status)
		if r.Error != "" {
			fmt.Fprintf(tw, "\t\t\t\t\t\t\t\t\t\terror: %s\t\n", r.Error)
		}
		if r.Status == runledger.StatusAbandoned {
			fmt.Fprintf(tw, "\t\t\t\t\t\t\t\t\t\tno heartbeat since %s\t\n", r.HeartbeatAt.Local().Format(time.DateTime))
		}
	}
	return tw.Flush()
}
