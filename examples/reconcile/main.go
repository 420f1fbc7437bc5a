// Command reconcile checks that the Cassandra table holds the latest
// version of every user the PostgreSQL outbox staged, and with -repair
// re-stages those that differ, for the relay and the consumers to carry
// (package reconcile). The servers come from package connect:
// USERSTREAM_POSTGRES_DSN and USERSTREAM_CASSANDRA_HOSTS (or
// -cassandra-hosts), credentials and TLS from the variables package secure
// reads.
//
//	reconcile                                # every id, the ring cut into ranges of about 1M rows
//	reconcile -run full-20261125T120000Z-1a2b3c
//	reconcile -ranges 16                     # every id, in 16 ranges (less memory per range)
//	reconcile -token-range -9223372036854775808:-1 -json
//	reconcile -repair                        # re-stage the missing, stale and deleted-but-present rows
//
// It prints the counts (compared, missing, stale, unexpected) and the
// findings (id, kind, the outbox's version, the row's write time), or,
// with -json, the report as one JSON object (with "restaged" under
// -repair). Exit status: 0 when nothing differs, or when -repair re-staged
// every difference; 1 on an error; 2 when differences were found and left
// (without -repair, or rows -repair cannot repair: rows of ids the outbox
// never staged, or findings beyond -max-findings). A repair takes effect
// once the relay (the producer) and a consumer have carried it: check
// again then.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/userstream/userstream/cassandrastore"
	"github.com/userstream/userstream/connect"
	"github.com/userstream/userstream/kafkasink/outbox"
	"github.com/userstream/userstream/reconcile"
	"github.com/userstream/userstream/runledger"
	"github.com/userstream/userstream/secure"
)

// Exit statuses besides 0.
const (
	exitError       = 1
	exitDifferences = 2
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code, err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "reconcile:", err)
	}
	os.Exit(code)
}

// config is what the command is configured with.
type config struct {
	srv                       connect.Servers
	keyspace, table, pgSchema string
	runID, tokenRange         string
	ranges, maxFindings       int
	repair, asJSON            bool
	logLevel                  string
}

// parseFlags reads the command line into a config.
func parseFlags(args []string, errOut io.Writer) (config, error) {
	var c config
	fs := flag.NewFlagSet("reconcile", flag.ContinueOnError)
	fs.SetOutput(errOut)
	srv, envErr := connect.FromEnv()
	srv.CassandraFlags(fs)
	fs.StringVar(&c.keyspace, "keyspace", cassandrastore.DefaultKeyspace, "Cassandra keyspace")
	fs.StringVar(&c.table, "table", cassandrastore.DefaultTable, "Cassandra table")
	fs.StringVar(&c.pgSchema, "pg-schema", outbox.DefaultSchema, "PostgreSQL schema of the outbox (DSN from env "+connect.EnvPostgresDSN+")")
	fs.StringVar(&c.runID, "run", "", "check only the ids staged in this run (see examples/runs)")
	fs.StringVar(&c.tokenRange, "token-range", "", "check only the ids whose token is in START:END (Murmur3 tokens, both included)")
	fs.IntVar(&c.ranges, "ranges", 0, "check every id in this many token ranges, one after the other; 0: one per million of the outbox's ids")
	fs.IntVar(&c.maxFindings, "max-findings", reconcile.DefaultMaxFindings, "findings kept and printed (the counts are exact); -repair repairs only these")
	fs.BoolVar(&c.repair, "repair", false, "re-stage the latest version of every missing or stale row, and of every row whose latest version is a delete")
	fs.BoolVar(&c.asJSON, "json", false, "print the report as one JSON object")
	fs.StringVar(&c.logLevel, "log-level", "warn", "log level: debug, info, warn or error")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if c.tokenRange != "" && c.ranges != 0 {
		return c, errors.New("give -token-range or -ranges, not both")
	}
	c.srv = srv
	return c, envErr
}

// scope returns the scope the flags select.
func (c config) scope() (reconcile.Scope, error) {
	s := reconcile.Scope{RunID: c.runID}
	if c.tokenRange != "" {
		r, err := parseRange(c.tokenRange)
		if err != nil {
			return s, err
		}
		s.Ranges = []cassandrastore.TokenRange{r}
	}
	return s, nil
}

// parseRange reads START:END.
func parseRange(v string) (cassandrastore.TokenRange, error) {
	a, b, ok := strings.Cut(v, ":")
	start, err1 := strconv.ParseInt(strings.TrimSpace(a), 10, 64)
	end, err2 := strconv.ParseInt(strings.TrimSpace(b), 10, 64)
	if !ok || err1 != nil || err2 != nil || start > end {
		return cassandrastore.TokenRange{}, fmt.Errorf("-token-range %q: want START:END, two tokens with START <= END", v)
	}
	return cassandrastore.TokenRange{Start: start, End: end}, nil
}

// run checks (and repairs) as the flags in args say, writes the report to
// out and logs to errOut, and returns the exit status.
func run(ctx context.Context, args []string, out, errOut io.Writer) (int, error) {
	c, err := parseFlags(args, errOut)
	if errors.Is(err, flag.ErrHelp) {
		return 0, nil
	}
	if err != nil {
		return exitError, err
	}
	scope, err := c.scope()
	if err != nil {
		return exitError, err
	}
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(c.logLevel)); err != nil {
		return exitError, fmt.Errorf("log level %q: %w", c.logLevel, err)
	}
	log := slog.New(slog.NewTextHandler(errOut, &slog.HandlerOptions{Level: lvl}))

	// Credentials and TLS from the environment or files, never flags;
	// nothing set means the local stack's plain listeners.
	sec, err := secure.FromEnv()
	if err != nil {
		return exitError, err
	}
	pool, err := c.srv.OpenPostgres(ctx, sec.Postgres) // pinged
	if err != nil {
		return exitError, err
	}
	defer pool.Close()
	session, err := c.srv.OpenCassandra(ctx, sec.Cassandra)
	if err != nil {
		return exitError, err
	}
	defer session.Close()
	src, err := outbox.NewStore(pool, outbox.WithSchema(c.pgSchema))
	if err != nil {
		return exitError, err
	}
	table, err := cassandrastore.New(session, cassandrastore.WithKeyspace(c.keyspace), cassandrastore.WithTable(c.table), cassandrastore.WithLogger(log))
	if err != nil {
		return exitError, err
	}
	rec, err := reconcile.New(src, table, reconcile.WithRanges(c.ranges), reconcile.WithMaxFindings(c.maxFindings), reconcile.WithLogger(log))
	if err != nil {
		return exitError, err
	}

	rep, err := rec.Check(ctx, scope)
	if err != nil {
		return exitError, err
	}
	restaged, repairErr := 0, error(nil)
	if c.repair && rep.Differences() > 0 {
		restaged, repairErr = rec.Repair(ctx, rep, runledger.NewRunID("reconcile"))
		if repairErr != nil && !errors.Is(repairErr, reconcile.ErrTruncated) {
			return exitError, repairErr
		}
	}
	if err := print(out, c, rep, restaged); err != nil {
		return exitError, err
	}
	if rep.Differences() == 0 {
		return 0, nil
	}
	// Repaired, when every difference was re-staged: none was left.
	if c.repair && repairErr == nil && repaired(rep) == rep.Differences() {
		return 0, nil
	}
	return exitDifferences, nil
}

// repaired counts the findings of rep that a repair re-stages.
func repaired(rep *reconcile.Report) int64 {
	var n int64
	for _, f := range rep.Findings {
		if f.Repairable() {
			n++
		}
	}
	return n
}

// print writes the report, as text or JSON.
func print(w io.Writer, c config, rep *reconcile.Report, restaged int) error {
	if c.asJSON {
		v := struct {
			*reconcile.Report
			Restaged *int `json:"restaged,omitempty"`
		}{Report: rep}
		if c.repair {
			v.Restaged = &restaged
		}
		if v.Findings == nil {
			v.Findings = []reconcile.Finding{}
		}
		return json.NewEncoder(w).Encode(v)
	}
	fmt.Fprintf(w, "compared %d, missing %d, stale %d, unexpected %d\n", rep.Compared, rep.Missing, rep.Stale, rep.Unexpected)
	if len(rep.Findings) > 0 {
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "id\tkind\tversion\twrite time\t")
		for _, f := range rep.Findings {
			version := micros(f.Version)
			if f.Deleted {
				version += " (delete)"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t\n", f.ID, f.Kind, version, micros(f.WriteTime))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	if rep.Truncated {
		fmt.Fprintf(w, "showing %d of %d differences (-max-findings)\n", len(rep.Findings), rep.Differences())
	}
	if c.repair {
		fmt.Fprintf(w, "re-staged %d versions; they take effect once the relay and a consumer have carried them\n", restaged)
	}
	return nil
}

// micros formats a count of microseconds since the Unix epoch, "-" for 0.
func micros(us int64) string {
	if us == 0 {
		return "-"
	}
	return time.UnixMicro(us).UTC().Format("2006-01-02T15:04:05.000000Z")
}
