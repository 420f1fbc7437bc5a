package runledger_test

import (
	"context"
	"errors"
	"net"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/userstream/userstream/internal/testenv"
	"github.com/userstream/userstream/runledger"
)

// flakyPostgres returns a pool that connects to the real PostgreSQL of
// dsn through a forwarder that resets its first drop connections at once,
// as a server that is shutting down or restarting does, and the count of
// connections the forwarder accepted.
func flakyPostgres(t *testing.T, dsn string, drop int32) (*pgxpool.Pool, *atomic.Int32) {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	target := net.JoinHostPort(cfg.ConnConfig.Host, strconv.Itoa(int(cfg.ConnConfig.Port)))
	addr, accepted := testenv.FlakyForwarder(t, target, drop)
	host, port, _ := net.SplitHostPort(addr)
	p, _ := strconv.Atoi(port)
	cfg.ConnConfig.Host, cfg.ConnConfig.Port = host, uint16(p)
	cfg.ConnConfig.Fallbacks = nil
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool, accepted
}

// A process that starts while PostgreSQL restarts records its run once
// the server answers again, instead of failing (a consumer started during
// the PostgreSQL fault scenario exited on "the database system is shutting
// down"); with WithRetry(0) the first failure is returned.
func TestStartRetriesLostConnection(t *testing.T) {
	dsn := testenv.PostgresDSN(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	schema := testenv.Name(t, "ledger")
	admin, err := pgxpool.New(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	t.Cleanup(func() {
		_, _ = admin.Exec(context.Background(), `DROP SCHEMA IF EXISTS `+pgx.Identifier{schema}.Sanitize()+` CASCADE`)
	})
	direct, err := runledger.New(admin, runledger.WithSchema(schema))
	if err != nil {
		t.Fatal(err)
	}
	if err := direct.Migrate(ctx); err != nil {
		t.Fatal(err)
	}

	t.Run("retried", func(t *testing.T) {
		pool, accepted := flakyPostgres(t, dsn, 5)
		l, err := runledger.New(pool, runledger.WithSchema(schema))
		if err != nil {
			t.Fatal(err)
		}
		id := runledger.NewRunID("consume")
		if err := l.Start(ctx, id, "consume"); err != nil {
			t.Fatalf("Start through a server that dropped its first 5 connections: %v", err)
		}
		if n := accepted.Load(); n < 6 {
			t.Fatalf("the forwarder accepted %d connections, want at least 6 (5 dropped, then one that worked)", n)
		}
		r, err := direct.Get(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if r.Status != runledger.StatusRunning || r.Kind != "consume" {
			t.Fatalf("run after Start = %+v, want kind consume, running", r)
		}
	})

	t.Run("no retry", func(t *testing.T) {
		pool, accepted := flakyPostgres(t, dsn, 1)
		l, err := runledger.New(pool, runledger.WithSchema(schema), runledger.WithRetry(0))
		if err != nil {
			t.Fatal(err)
		}
		id := runledger.NewRunID("consume")
		err = l.Start(ctx, id, "consume")
		if err == nil {
			t.Fatal("Start with WithRetry(0) through a dropped connection succeeded, want its error")
		}
		// One attempt of pgx may open two connections (sslmode=prefer:
		// TLS, then plain); the ledger made one attempt, or the
		// connection after the dropped one would have worked.
		t.Logf("the forwarder accepted %d connections", accepted.Load())
		if _, gerr := direct.Get(ctx, id); !errors.Is(gerr, runledger.ErrNotFound) {
			t.Fatalf("Get after the failed Start = %v, want ErrNotFound", gerr)
		}
		t.Logf("Start without retry: %v", err)
	})
}
