package main

import (
	"context"
	"encoding/json"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/userstream/userstream/cassandrastore"
	"github.com/userstream/userstream/connect"
	"github.com/userstream/userstream/internal/testenv"
	"github.com/userstream/userstream/internal/testrows"
	"github.com/userstream/userstream/kafkasink/outbox"
	"github.com/userstream/userstream/reconcile"
	"github.com/userstream/userstream/transform"
)

func TestParseRange(t *testing.T) {
	for v, ok := range map[string]bool{
		"-9223372036854775808:-1": true, "0:9223372036854775807": true, "5:5": true,
		"": false, "1": false, "2:1": false, "a:b": false, "1:9223372036854775808": false,
	} {
		if _, err := parseRange(v); (err == nil) != ok {
			t.Errorf("parseRange(%q): %v, want ok %v", v, err, ok)
		}
	}
}

// The command reports a user the table lacks with exit status 2, repairs it
// with -repair (exit 0: re-staged), and prints JSON with -json.
func TestReconcileCommand(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dsn := testenv.PostgresDSN(t)
	hosts := testenv.CassandraHosts(t)
	t.Setenv(connect.EnvPostgresDSN, dsn)
	t.Setenv(connect.EnvCassandraHosts, strings.Join(hosts, ","))
	name := testenv.Name(t, "reccmd")

	pool, err := pgxpool.New(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	t.Cleanup(func() {
		_, _ = pool.Exec(context.Background(), `DROP SCHEMA IF EXISTS `+pgx.Identifier{name}.Sanitize()+` CASCADE`)
	})
	src, err := outbox.NewStore(pool, outbox.WithSchema(name))
	if err != nil {
		t.Fatal(err)
	}
	if err := src.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	session, err := cassandrastore.NewSession(ctx, hosts)
	if err != nil {
		t.Fatal(err)
	}
	defer session.Close()
	t.Cleanup(func() { _ = session.ExecStmt("DROP KEYSPACE IF EXISTS " + name) })
	table, err := cassandrastore.New(session, cassandrastore.WithKeyspace(name))
	if err != nil {
		t.Fatal(err)
	}
	if err := table.Migrate(ctx); err != nil {
		t.Fatal(err)
	}

	rows := testrows.Rows(3)
	if _, err := src.Stage(ctx, "run-1", rows); err != nil {
		t.Fatal(err)
	}
	vs, err := src.Latest(ctx, []string{rows[0].ID, rows[1].ID}) // the third is lost
	if err != nil {
		t.Fatal(err)
	}
	var changes []transform.Change
	for _, v := range vs {
		row, err := transform.Unmarshal(v.Payload)
		if err != nil {
			t.Fatal(err)
		}
		changes = append(changes, transform.Change{Row: row, Version: v.Version})
	}
	if err := table.ApplyMany(ctx, changes); err != nil {
		t.Fatal(err)
	}

	flags := []string{"-pg-schema", name, "-keyspace", name}
	var out strings.Builder
	code, err := run(ctx, flags, &out, io.Discard)
	if err != nil || code != exitDifferences {
		t.Fatalf("run = %d, %v; want %d", code, err, exitDifferences)
	}
	if !strings.Contains(out.String(), "compared 3, missing 1, stale 0, unexpected 0") || !strings.Contains(out.String(), rows[2].ID) {
		t.Errorf("printed:\n%s", out.String())
	}

	out.Reset()
	code, err = run(ctx, append(flags, "-json", "-run", "run-1"), &out, io.Discard)
	if err != nil || code != exitDifferences {
		t.Fatalf("run -json = %d, %v; want %d", code, err, exitDifferences)
	}
	var rep reconcile.Report
	if err := json.Unmarshal([]byte(out.String()), &rep); err != nil {
		t.Fatalf("-json printed %q: %v", out.String(), err)
	}
	if rep.Missing != 1 || len(rep.Findings) != 1 || rep.Findings[0].ID != rows[2].ID || rep.Findings[0].Kind != reconcile.Missing {
		t.Errorf("-json: %+v", rep)
	}

	out.Reset()
	code, err = run(ctx, append(flags, "-repair"), &out, io.Discard)
	if err != nil || code != 0 {
		t.Fatalf("run -repair = %d, %v; want 0", code, err)
	}
	if !strings.Contains(out.String(), "re-staged 1 versions") {
		t.Errorf("-repair printed:\n%s", out.String())
	}
	if n, err := src.Pending(ctx); err != nil || n != 4 {
		t.Errorf("pending after the repair: %d, %v; want the 3 staged and the 1 re-staged", n, err)
	}
}
