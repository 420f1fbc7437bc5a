package cassandrastore_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/userstream/userstream/cassandrastore"
	"github.com/userstream/userstream/internal/testenv"
)

// A process that starts while Cassandra's connections are cut connects
// once they are not, instead of exiting: a consumer of the connection-reset
// fault scenario exited on "unable to discover protocol version: ...
// connection reset by peer" when a reset met its start. The forwarder in
// front of the real node resets its first connections; with
// WithConnectRetry(0) the first failure is returned.
func TestNewSessionRetriesResetConnect(t *testing.T) {
	hosts := testenv.CassandraHosts(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	const drop = 4
	addr, accepted := testenv.FlakyForwarder(t, hosts[0], drop)
	var logs testenv.Buffer
	session, err := cassandrastore.NewSession(ctx, []string{addr}, cassandrastore.WithConnectRetry(time.Minute),
		cassandrastore.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	if err != nil {
		t.Fatalf("NewSession through a forwarder resetting its first %d connections: %v", drop, err)
	}
	defer session.Close()
	var v string
	if err := session.Query("SELECT release_version FROM system.local", nil).WithContext(ctx).Scan(&v); err != nil {
		t.Fatalf("query on the session: %v", err)
	}
	if n := accepted.Load(); n <= drop {
		t.Errorf("the forwarder accepted %d connections, want more than the %d it reset", n, drop)
	}
	if !strings.Contains(logs.String(), "connecting failed; retrying") {
		t.Errorf("no retry logged at Warn:\n%s", logs.String())
	}

	addr, accepted = testenv.FlakyForwarder(t, hosts[0], drop)
	_, err = cassandrastore.NewSession(ctx, []string{addr}, cassandrastore.WithConnectRetry(0))
	if err == nil {
		t.Fatal("NewSession with WithConnectRetry(0) through a reset connection succeeded")
	}
	if n := accepted.Load(); n > drop {
		t.Errorf("WithConnectRetry(0): the forwarder accepted %d connections, want at most the %d it reset (one attempt)", n, drop)
	}
	t.Logf("without retry: %v", err)
}
