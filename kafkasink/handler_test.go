package kafkasink_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/userstream/userstream/internal/testrows"
	"github.com/userstream/userstream/kafkasink"
	"github.com/userstream/userstream/transform"
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
			// nil exactly, not an empty slice: the examples' upsert
			// tells a retried failure (a store error) from rejected rows
			// by comparing with nil.
			got := kafkasink.RejectedRows(tc.err)
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("RejectedRows = %+v, want %+v", got, tc.want)
			}
		})
	}
}

// msgsOf returns messages of changes, at offsets 0, 1, ...
func msgsOf(changes ...transform.Change) []kafkasink.Message {
	msgs := make([]kafkasink.Message, len(changes))
	for i, c := range changes {
		msgs[i] = kafkasink.Message{Row: c.Row, Version: c.Version, Delete: c.Delete, Offset: int64(i)}
	}
	return msgs
}

// A ChangesHandler hands every message's change to the writer, in order,
// and maps the writer's rejections to the messages, as RowsHandler does.
func TestChangesHandler(t *testing.T) {
	rows := testrows.Rows(3)
	in := []transform.Change{
		{Row: rows[0], Version: 10},
		{Row: transform.Row{ID: rows[1].ID}, Delete: true, Version: 11},
		transform.Upsert(rows[2]),
	}
	msgs := msgsOf(in...)
	for i, m := range msgs {
		if m.Change() != in[i] {
			t.Fatalf("Message.Change = %+v, want %+v", m.Change(), in[i])
		}
	}
	var got []transform.Change
	h := kafkasink.ChangesHandler(func(_ context.Context, changes []transform.Change) error {
		got = changes
		return nil
	}, kafkasink.RejectedRows)
	if err := h(context.Background(), msgs); err != nil || !reflect.DeepEqual(got, in) {
		t.Fatalf("handler = %v, wrote %+v; want %+v", err, got, in)
	}

	bad := errors.New("refused")
	h = kafkasink.ChangesHandler(func(context.Context, []transform.Change) error {
		return &storeError{map[int]error{1: bad}}
	}, kafkasink.RejectedRows)
	var rej *kafkasink.RejectError
	if err := h(context.Background(), msgs); !errors.As(err, &rej) || !reflect.DeepEqual(rej.Rejected, []kafkasink.Rejection{{Index: 1, Err: bad}}) {
		t.Fatalf("handler = %v, want message 1 rejected", err)
	}
	// A nil reject retries, and so does an ended context.
	outage := &storeError{map[int]error{0: bad}}
	h = kafkasink.ChangesHandler(func(context.Context, []transform.Change) error { return outage }, nil)
	if err := h(context.Background(), msgs); err != outage {
		t.Fatalf("handler without reject = %v, want the writer's error", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	h = kafkasink.ChangesHandler(func(context.Context, []transform.Change) error { return outage }, kafkasink.RejectedRows)
	if err := h(ctx, msgs); err != outage {
		t.Fatalf("handler after ctx ended = %v, want the writer's error", err)
	}
}

// A RowsHandler writes versioned rows as rows, and dead-letters deletes
// with ReasonUnsupported: never dropped, never written as empty rows. The
// writer's rejections are mapped past the deletes to their messages.
func TestRowsHandlerDeletes(t *testing.T) {
	rows := testrows.Rows(3)
	msgs := msgsOf(
		transform.Change{Row: transform.Row{ID: rows[0].ID}, Delete: true, Version: 5},
		transform.Change{Row: rows[0], Version: 6},
		transform.Change{Row: transform.Row{ID: rows[1].ID}, Delete: true, Version: 7},
		transform.Upsert(rows[2]),
	)
	var written []transform.Row
	h := kafkasink.RowsHandler(func(_ context.Context, rs []transform.Row) error {
		written = rs
		return nil
	}, kafkasink.RejectedRows)
	err := h(context.Background(), msgs)
	var rej *kafkasink.RejectError
	if !errors.As(err, &rej) || len(rej.Rejected) != 2 || rej.Rejected[0].Index != 0 || rej.Rejected[1].Index != 2 {
		t.Fatalf("handler = %v, want messages 0 and 2 (the deletes) rejected", err)
	}
	for _, r := range rej.Rejected {
		if r.Reason != kafkasink.ReasonUnsupported || !strings.Contains(r.Err.Error(), "ChangesHandler") {
			t.Errorf("rejection %+v, want reason %q naming ChangesHandler", r, kafkasink.ReasonUnsupported)
		}
	}
	if want := []transform.Row{rows[0], rows[2]}; !reflect.DeepEqual(written, want) {
		t.Fatalf("wrote %+v, want the two rows", written)
	}

	// The writer rejects its second row: message 3.
	bad := errors.New("refused")
	h = kafkasink.RowsHandler(func(context.Context, []transform.Row) error {
		return &storeError{map[int]error{1: bad}}
	}, kafkasink.RejectedRows)
	err = h(context.Background(), msgs)
	if !errors.As(err, &rej) {
		t.Fatalf("handler = %v, want rejections", err)
	}
	idx := map[int]string{}
	for _, r := range rej.Rejected {
		idx[r.Index] = r.Reason
	}
	if want := map[int]string{0: kafkasink.ReasonUnsupported, 2: kafkasink.ReasonUnsupported, 3: ""}; !reflect.DeepEqual(idx, want) {
		t.Fatalf("rejected %v, want %v", idx, want)
	}

	// An outage retries the whole batch, deletes included.
	outage := errors.New("store down")
	h = kafkasink.RowsHandler(func(context.Context, []transform.Row) error { return outage }, kafkasink.RejectedRows)
	if err := h(context.Background(), msgs); err != outage {
		t.Fatalf("handler during an outage = %v, want the writer's error", err)
	}

	// Deletes only: nothing written.
	h = kafkasink.RowsHandler(func(context.Context, []transform.Row) error {
		t.Error("writer called without rows")
		return nil
	}, nil)
	if err := h(context.Background(), msgs[2:3]); !errors.As(err, &rej) || len(rej.Rejected) != 1 || rej.Rejected[0].Index != 0 {
		t.Fatalf("handler of a delete = %v, want it rejected", err)
	}
}
