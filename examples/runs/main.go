// Command runs prints the run ledger: the last runs of the pipeline with
// their counts per stage and status, read from PostgreSQL
// (USERSTREAM_POSTGRES_DSN).
//
//	runs            # the last 20 runs
//	runs -n 5
//	runs -id full-20261125T120000Z-1a2b3c
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/userstream/userstream/internal/pipeline"
	"github.com/userstream/userstream/secure"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "runs:", err)
		os.Exit(1)
	}
}

func run() error {
	var cfg pipeline.Config
	fs := flag.NewFlagSet("runs", flag.ExitOnError)
	cfg.ServerFlags(fs)
	n := fs.Int("n", 20, "how many runs to show, newest first")
	id := fs.String("id", "", "show only this run")
	_ = fs.Parse(os.Args[1:])

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	sec, err := secure.FromEnv()
	if err != nil {
		return err
	}
	pgCfg, err := sec.Postgres.PoolConfig(cfg.PostgresDSN)
	if err != nil {
		return err
	}
	pool, err := pgxpool.NewWithConfig(ctx, pgCfg)
	if err != nil {
		return sec.Postgres.Explain(err)
	}
	defer pool.Close()
	l := pipeline.NewLedger(pool, cfg.PostgresSchema)
	var runs []pipeline.RunRecord
	if *id != "" {
		r, err := l.Get(ctx, *id)
		if err != nil {
			return err
		}
		runs = append(runs, r)
	} else if runs, err = l.Recent(ctx, *n); err != nil {
		return err
	}
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
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
	}
	return tw.Flush()
}
