package outbox

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/userstream/userstream/kafkasink"
	"github.com/userstream/userstream/transform"
)

func TestBackoffDoublesWithJitterUpToMax(t *testing.T) {
	r := &Relay{cfg: defaultRelayConfig()}
	r.cfg.minBackoff, r.cfg.maxBackoff = 100*time.Millisecond, time.Second
	for failures, ceil := range map[int]time.Duration{1: 100 * time.Millisecond, 2: 200 * time.Millisecond, 4: 800 * time.Millisecond, 5: time.Second, 50: time.Second} {
		for range 100 {
			if d := r.backoff(failures); d < ceil/2 || d > ceil {
				t.Fatalf("backoff(%d) = %v, want in [%v, %v]", failures, d, ceil/2, ceil)
			}
		}
	}
}

func TestSortDeliveries(t *testing.T) {
	rows := []transform.Row{{ID: "A"}, {ID: "B"}, {ID: "C"}}
	ids := []string{"a", "b", "c"}
	boom := errors.New("boom")
	for _, tc := range []struct {
		name        string
		dels        []kafkasink.Delivery
		err         error
		acked       string
		failed      string
		wantErr     bool
		wantErrIsBo bool
	}{
		{name: "all acked", dels: []kafkasink.Delivery{{ID: "A"}, {ID: "B"}, {ID: "C"}}, acked: "[a b c]", failed: "[]"},
		{name: "one failed", dels: []kafkasink.Delivery{{ID: "A"}, {ID: "B", Err: boom}, {ID: "C"}},
			err: &kafkasink.ProduceError{Failed: []kafkasink.Delivery{{ID: "B", Err: boom}}}, acked: "[a c]", failed: "[b]", wantErr: true, wantErrIsBo: true},
		{name: "short report", dels: []kafkasink.Delivery{{ID: "A"}}, acked: "[]", failed: "[a b c]", wantErr: true},
		{name: "other error", dels: []kafkasink.Delivery{{ID: "A"}, {ID: "B"}, {ID: "C"}}, err: boom, acked: "[]", failed: "[a b c]", wantErr: true, wantErrIsBo: true},
		{name: "reordered", dels: []kafkasink.Delivery{{ID: "B"}, {ID: "A"}, {ID: "C"}}, acked: "[c]", failed: "[a b]", wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			acked, failed, err := sortDeliveries(ids, rows, tc.dels, tc.err)
			var fids []string
			for _, f := range failed {
				fids = append(fids, f.id)
			}
			if got := fmt.Sprint(acked); got != tc.acked && !(tc.acked == "[]" && acked == nil) {
				t.Errorf("acked %s, want %s", got, tc.acked)
			}
			if got := fmt.Sprint(fids); got != tc.failed && !(tc.failed == "[]" && fids == nil) {
				t.Errorf("failed %s, want %s", got, tc.failed)
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
	if errors.Is(wrapped(codeInsufficientPrivilege), ErrNotMigrated) {
		t.Error("a permission error is ErrNotMigrated")
	}
	if !IsPermissionDenied(wrapped(codeInsufficientPrivilege)) || IsPermissionDenied(wrapped(codeUndefinedTable)) {
		t.Error("IsPermissionDenied is wrong")
	}
}

func TestQueriesQuoteTheSchema(t *testing.T) {
	q := newQueries("my_schema")
	for _, sql := range []string{q.claim, q.stageInsert, q.deletePublished, q.markPublished} {
		if want := `"my_schema"."outbox"`; !strings.Contains(sql, want) {
			t.Errorf("%q does not use %s", sql, want)
		}
	}
	if q.listen != `LISTEN "my_schema_outbox"` {
		t.Errorf("listen = %q", q.listen)
	}
}
