package outbox_test

import (
	"context"
	"errors"
	"log/slog"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/userstream/userstream/internal/testenv"
	"github.com/userstream/userstream/internal/testrows"
	"github.com/userstream/userstream/kafkasink/outbox"
)

const secret = "Sup3rSecretPassw0rd"

// wrongPasswordDSN returns the test DSN with its password replaced by
// secret.
func wrongPasswordDSN(t *testing.T) string {
	t.Helper()
	u, err := url.Parse(testenv.PostgresDSN(t))
	if err != nil {
		t.Fatalf("USERSTREAM_POSTGRES_DSN is not a URL: %v", err)
	}
	u.User = url.UserPassword(u.User.Username(), secret)
	return u.String()
}

func TestWrongPasswordIsNotPrinted(t *testing.T) {
	t.Parallel()
	pool, err := pgxpool.New(context.Background(), wrongPasswordDSN(t))
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	store, err := outbox.NewStore(pool, outbox.WithSchema(testenv.Name(t, "ob")))
	if err != nil {
		t.Fatal(err)
	}
	ctx := testContext(t, 10*time.Second)

	err = store.Migrate(ctx)
	var ce *pgconn.ConnectError
	var oe *outbox.Error
	if !errors.As(err, &ce) || !errors.As(err, &oe) || oe.Op != "migrate" {
		t.Fatalf("Migrate with a wrong password = %v, want an *outbox.Error of op migrate wrapping a *pgconn.ConnectError", err)
	}
	t.Logf("error: %v", err)
	if strings.Contains(err.Error(), secret) {
		t.Fatalf("error contains the password: %v", err)
	}
	if !strings.Contains(err.Error(), "password authentication failed") {
		t.Errorf("error %q does not say what is wrong", err)
	}

	// Neither do the relay's logs.
	var logs testenv.Buffer
	relay, err := outbox.NewRelay(store, &fakeProducer{}, outbox.WithBackoff(10*time.Millisecond, 50*time.Millisecond),
		outbox.WithLogger(slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))))
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- relay.Run(runCtx) }()
	waitFor(t, 5*time.Second, "failed rounds", func() bool { return relay.Stats().Errors >= 2 })
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), "password authentication failed") {
		t.Errorf("logs do not report the failure:\n%s", logs.String())
	}
	if strings.Contains(logs.String(), secret) {
		t.Fatalf("logs contain the password:\n%s", logs.String())
	}
}

func TestBadDSNIsNotPrinted(t *testing.T) {
	for _, dsn := range []string{
		"postgres://userstream:" + secret + "@127.0.0.1:notaport/userstream",
		"postgres://userstream:" + secret + "@127.0.0.1:5432/userstream?sslmode=bogus",
		"host=127.0.0.1 password=" + secret + " port=x",
	} {
		_, err := pgxpool.ParseConfig(dsn)
		if err == nil {
			t.Errorf("ParseConfig accepted a bad DSN")
			continue
		}
		if strings.Contains(err.Error(), secret) {
			t.Errorf("ParseConfig error contains the password: %v", err)
		}
	}
}

func TestUnreachableServerError(t *testing.T) {
	t.Parallel()
	// Nothing listens on port 1.
	pool, err := pgxpool.New(context.Background(), "postgres://userstream:"+secret+"@127.0.0.1:1/userstream?connect_timeout=2")
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	store, err := outbox.NewStore(pool)
	if err != nil {
		t.Fatal(err)
	}
	_, err = store.Stage(testContext(t, 10*time.Second), "run", testrows.Rows(1))
	var oe *outbox.Error
	if !errors.As(err, &oe) || oe.Op != "stage" {
		t.Fatalf("Stage = %v, want an *outbox.Error of op stage", err)
	}
	if strings.Contains(err.Error(), secret) {
		t.Fatalf("error contains the password: %v", err)
	}
	t.Logf("error: %v", err)
}
