package kafkasink_test

import (
	"errors"
	"fmt"
	"reflect"
	"testing"

	"github.com/userstream/userstream/kafkasink"
)

// storeError is a bulk-write error that knows which rows can never be
// written, as cassandrastore's *WriteError does.
type storeError struct{ rejected map[int]error }

func (e *storeError) Error() string               { return "store: some rows failed" }
func (e *storeError) RejectedRows() map[int]error { return e.rejected }

func TestRejectedRows(t *testing.T) {
	bad1, bad2 := errors.New("id is not a UUID"), errors.New("too long")
	cases := []struct {
		name string
		err  error
		want []kafkasink.Rejection
	}{
		{"rows named, in index order", &storeError{map[int]error{7: bad2, 3: bad1}},
			[]kafkasink.Rejection{{Index: 3, Err: bad1}, {Index: 7, Err: bad2}}},
		{"wrapped", fmt.Errorf("upsert: %w", &storeError{map[int]error{0: bad1}}),
			[]kafkasink.Rejection{{Index: 0, Err: bad1}}},
		{"a failure that may heal: retry", &storeError{nil}, nil},
		{"an error that knows no rows: retry", errors.New("connection refused"), nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// nil, not empty, when nothing is rejected: callers (the
			// examples' metrics) test for nil to count a failed write.
			if got := kafkasink.RejectedRows(tc.err); !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("RejectedRows = %+v, want %+v", got, tc.want)
			}
		})
	}
}
