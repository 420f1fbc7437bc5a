package outbox

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/userstream/userstream/internal/backoff"
	"github.com/userstream/userstream/kafkasink"
)

func TestBackoffDoublesWithJitterUpToMax(t *testing.T) {
	r := &Relay{cfg: defaultRelayConfig()}
	r.cfg.backoff = backoff.Backoff{Min: 100 * time.Millisecond, Max: time.Second}
	for failures, ceil := range map[int]time.Duration{1: 100 * time.Millisecond, 2: 200 * time.Millisecond, 4: 800 * time.Millisecond, 5: time.Second, 50: time.Second} {
		for range 100 {
			if d := r.backoff(failures); d < ceil/2 || d > ceil {
				t.Fatalf("backoff(%d) = %v, want in [%v, %v]", failures, d, ceil/2, ceil)
			}
		}
	}
}

func TestSortDeliveries(t *testing.T) {
	rows := []kafkasink.Encoded{{ID: "A"}, {ID: "B"}, {ID: "C"}}
	boom := errors.New("boom")
	for _, tc := range []struct {
		name        string
		dels        []kafkasink.Delivery
		err         error
		ok          string
		failed      int
		wantErr     bool
		wantErrIsBo bool
	}{
		{name: "all acked", dels: []kafkasink.Delivery{{ID: "A"}, {ID: "B"}, {ID: "C"}}, ok: "[true true true]"},
		{name: "one failed", dels: []kafkasink.Delivery{{ID: "A"}, {ID: "B", Err: boom}, {ID: "C"}},
			err: &kafkasink.ProduceError{Failed: []kafkasink.Delivery{{ID: "B", Err: boom}}}, ok: "[true false true]", failed: 1, wantErr: true, wantErrIsBo: true},
		{name: "short report", dels: []kafkasink.Delivery{{ID: "A"}}, ok: "[false false false]", failed: 3, wantErr: true},
		{name: "other error", dels: []kafkasink.Delivery{{ID: "A"}, {ID: "B"}, {ID: "C"}}, err: boom, ok: "[false false false]", failed: 3, wantErr: true, wantErrIsBo: true},
		{name: "reordered", dels: []kafkasink.Delivery{{ID: "B"}, {ID: "A"}, {ID: "C"}}, ok: "[false false true]", failed: 2, wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ok, failed, err := sortDeliveries(rows, tc.dels, tc.err)
			if got := fmt.Sprint(ok); got != tc.ok {
				t.Errorf("ok %s, want %s", got, tc.ok)
			}
			if failed != tc.failed {
				t.Errorf("failed %d, want %d", failed, tc.failed)
			}
			if (err != nil) != tc.wantErr || errors.Is(err, boom) != tc.wantErrIsBo {
				t.Errorf("err = %v", err)
			}
		})
	}
}

func TestErrorClassification(t *testing.T) {
	wrapped := func(code string) error {
		return fmt.Errorf("outer: %w", &Error{Op: "stage", Schema: "s", Err: &pgconn.PgError{Code: code, Message: "m"}})
	}
	if !errors.Is(wrapped(codeUndefinedTable), ErrNotMigrated) || !errors.Is(wrapped(codeInvalidSchemaName), ErrNotMigrated) {
		t.Error("a missing table or schema is not ErrNotMigrated")
	}
	if !errors.Is(wrapped(codeUndefinedColumn), ErrNotMigrated) || !errors.Is(wrapped(codeUndefinedFunction), ErrNotMigrated) {
		t.Error("a missing column or function (a schema older than the package) is not ErrNotMigrated")
	}
	if errors.Is(wrapped(codeInsufficientPrivilege), ErrNotMigrated) {
		t.Error("a permission error is ErrNotMigrated")
	}
	if !IsPermissionDenied(wrapped(codeInsufficientPrivilege)) || IsPermissionDenied(wrapped(codeUndefinedTable)) {
		t.Error("IsPermissionDenied is wrong")
	}
}

func TestQueriesQuoteTheSchema(t *testing.T) {
	q := newQueries("my_schema")
	for _, sql := range []string{q.read, q.stageInsert, q.deletePublished, q.counts} {
		if want := `"my_schema"."outbox"`; !strings.Contains(sql, want) {
			t.Errorf("%q does not use %s", sql, want)
		}
	}
	if q.listen != `LISTEN "my_schema_outbox"` {
		t.Errorf("listen = %q", q.listen)
	}
}
