package cassandrastore_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/gocql/gocql"
	"github.com/scylladb/gocqlx/v2"

	"github.com/userstream/userstream/cassandrastore"
	"github.com/userstream/userstream/transform"
)

func TestValidName(t *testing.T) {
	for _, tc := range []struct {
		name string
		ok   bool
	}{
		{"spark_streams", true},
		{"created_users", true},
		{"Created_Users", true},
		{"a", true},
		{"t1_" + strings.Repeat("x", 45), true}, // 48 characters
		{"t1_" + strings.Repeat("x", 46), false},
		{"", false},
		{"1users", false},
		{"_users", false},
		{"users-created", false},
		{"users created", false},
		{"users;DROP KEYSPACE x", false},
		{"users'", false},
		{`"users"`, false},
		{"ks.table", false},
		{"usérs", false},
		{"select", false},
		{"TABLE", false},
		{"keyspace", false},
	} {
		err := cassandrastore.ValidName(tc.name)
		if (err == nil) != tc.ok {
			t.Errorf("ValidName(%q) = %v, want ok=%v", tc.name, err, tc.ok)
		}
		if err != nil && !errors.Is(err, cassandrastore.ErrInvalidName) {
			t.Errorf("ValidName(%q) = %v, not ErrInvalidName", tc.name, err)
		}
	}
}

// WithLogger configures both constructors.
var (
	_ cassandrastore.StoreOpt   = cassandrastore.WithLogger(nil)
	_ cassandrastore.SessionOpt = cassandrastore.WithLogger(nil)
)

func TestNewRejectsBadOptions(t *testing.T) {
	// A session value that is never used: New does no I/O.
	session := gocqlx.NewSession(new(gocql.Session))
	for _, tc := range []struct {
		opt     cassandrastore.StoreOpt
		invalid bool // wraps ErrInvalidName
	}{
		{cassandrastore.WithKeyspace("spark-streams"), true},
		{cassandrastore.WithTable("created_users; DROP TABLE x"), true},
		{cassandrastore.WithTable("from"), true},
		{cassandrastore.WithConcurrency(0), false},
		{cassandrastore.WithBatchSize(0), false},
		{cassandrastore.WithWriteStrategy(0), false},
		{cassandrastore.WithReplication(cassandrastore.SimpleStrategy(0)), false},
	} {
		_, err := cassandrastore.New(session, tc.opt)
		if err == nil {
			t.Errorf("New(%#v) succeeded", tc.opt)
			continue
		}
		if got := errors.Is(err, cassandrastore.ErrInvalidName); got != tc.invalid {
			t.Errorf("New(%#v) = %v; errors.Is(ErrInvalidName) = %v", tc.opt, err, got)
		}
	}
	if _, err := cassandrastore.New(gocqlx.Session{}); err == nil {
		t.Error("New with a nil session succeeded")
	}
	st, err := cassandrastore.New(session, cassandrastore.WithKeyspace("My_KS"), cassandrastore.WithTable("Users"))
	if err != nil {
		t.Fatal(err)
	}
	// Unquoted CQL names fold to lower case; the store must use the names
	// system_schema reports.
	if st.Keyspace() != "my_ks" || st.Table() != "users" {
		t.Errorf("names = %s.%s, want my_ks.users", st.Keyspace(), st.Table())
	}
	if want := "INSERT INTO my_ks.users (id,first_name,last_name,gender,address,post_code,email,username,registered_date,phone,picture,dob) VALUES (?,?,?,?,?,?,?,?,?,?,?,?) "; st.InsertStmt() != want {
		t.Errorf("insert = %q\nwant     %q", st.InsertStmt(), want)
	}
}

func TestReplicationCQL(t *testing.T) {
	for _, tc := range []struct {
		r    cassandrastore.Replication
		want string // "" when invalid
	}{
		{cassandrastore.SimpleStrategy(1), "{'class': 'SimpleStrategy', 'replication_factor': 1}"},
		{cassandrastore.SimpleStrategy(3), "{'class': 'SimpleStrategy', 'replication_factor': 3}"},
		{cassandrastore.NetworkTopologyStrategy(map[string]int{"dc2": 2, "us-east-1": 3}),
			"{'class': 'NetworkTopologyStrategy', 'dc2': 2, 'us-east-1': 3}"},
		{cassandrastore.SimpleStrategy(0), ""},
		{cassandrastore.NetworkTopologyStrategy(nil), ""},
		{cassandrastore.NetworkTopologyStrategy(map[string]int{"dc1": 0}), ""},
		{cassandrastore.NetworkTopologyStrategy(map[string]int{"dc1': 1}; DROP KEYSPACE x; --": 1}), ""},
		{cassandrastore.Replication{}, ""},
	} {
		got, err := cassandrastore.ReplicationCQL(tc.r)
		if tc.want == "" {
			if err == nil {
				t.Errorf("%#v: got %q, want an error", tc.r, got)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%#v: got %q, %v; want %q", tc.r, got, err, tc.want)
		}
	}
}

// TestRowValuesOrder checks the hand-written bulk binding against the db
// tags gocqlx's BindStruct uses, so a column added to transform.Row and to
// the insert cannot be bound to the wrong marker.
func TestRowValuesOrder(t *testing.T) {
	session := gocqlx.NewSession(new(gocql.Session))
	st, err := cassandrastore.New(session)
	if err != nil {
		t.Fatal(err)
	}
	stmt := st.InsertStmt()
	cols := strings.Split(stmt[strings.Index(stmt, "(")+1:strings.Index(stmt, ")")], ",")

	var r transform.Row
	rv := reflect.ValueOf(&r).Elem()
	for i := range rv.NumField() {
		rv.Field(i).SetString(fmt.Sprintf("field-%d", i))
	}
	vals := cassandrastore.RowValues(&r)
	if len(vals) != len(cols) {
		t.Fatalf("%d values for %d columns", len(vals), len(cols))
	}
	tagged := map[string]bool{}
	for i, c := range cols {
		f := gocqlx.DefaultMapper.FieldByName(rv, c)
		if !f.IsValid() {
			t.Fatalf("column %s has no field in transform.Row", c)
		}
		tagged[c] = true
		if vals[i] != f.Interface() {
			t.Errorf("value %d = %v, want field %s = %v", i, vals[i], c, f.Interface())
		}
	}
	for _, f := range reflect.VisibleFields(rv.Type()) {
		if tag := f.Tag.Get("db"); !tagged[tag] {
			t.Errorf("field %s (db:%q) is not written", f.Name, tag)
		}
	}
}

func TestErrorClassification(t *testing.T) {
	overloaded := overloadedErr()
	for _, tc := range []struct {
		name                            string
		err                             error
		timeout, unavailable, retryable bool
	}{
		{"nil", nil, false, false, false},
		{"write timeout", &gocql.RequestErrWriteTimeout{}, true, false, true},
		{"read timeout", &gocql.RequestErrReadTimeout{}, true, false, true},
		{"wrapped write timeout", fmt.Errorf("upsert: %w", &gocql.RequestErrWriteTimeout{}), true, false, true},
		{"client timeout", gocql.ErrTimeoutNoResponse, true, false, true},
		{"context deadline", context.DeadlineExceeded, true, false, true},
		{"net timeout", &net.OpError{Op: "read", Err: os.ErrDeadlineExceeded}, true, false, true},
		{"unavailable", &gocql.RequestErrUnavailable{Required: 2, Alive: 1}, false, true, true},
		{"no connections", gocql.ErrNoConnections, false, true, true},
		{"overloaded", overloaded, false, true, true},
		{"connection closed", gocql.ErrConnectionClosed, false, false, true},
		{"connection refused", &net.OpError{Op: "dial", Err: errors.New("connection refused")}, false, false, true},
		{"write failure", &gocql.RequestErrWriteFailure{}, false, false, false},
		{"not found", cassandrastore.ErrNotFound, false, false, false},
		{"invalid id", cassandrastore.ErrInvalidID, false, false, false},
		{"canceled", context.Canceled, false, false, false},
		{"session closed", gocql.ErrSessionClosed, false, false, false},
		{"other", errors.New("line 1:0 no viable alternative"), false, false, false},
		{"all rows timed out", &cassandrastore.WriteError{Rows: 3, Failed: []cassandrastore.RowError{
			{Index: 0, Err: &gocql.RequestErrWriteTimeout{}}, {Index: 2, Err: gocql.ErrTimeoutNoResponse},
		}}, true, false, true},
		{"timeout and unavailable rows", fmt.Errorf("sink: %w", &cassandrastore.WriteError{Rows: 3, Failed: []cassandrastore.RowError{
			{Index: 0, Err: &gocql.RequestErrWriteTimeout{}}, {Index: 1, Err: &gocql.RequestErrUnavailable{}},
		}}), false, false, true},
		{"one invalid row", &cassandrastore.WriteError{Rows: 3, Failed: []cassandrastore.RowError{
			{Index: 0, Err: &gocql.RequestErrWriteTimeout{}}, {Index: 1, Err: cassandrastore.ErrInvalidID},
		}}, false, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := cassandrastore.IsTimeout(tc.err); got != tc.timeout {
				t.Errorf("IsTimeout = %v, want %v", got, tc.timeout)
			}
			if got := cassandrastore.IsUnavailable(tc.err); got != tc.unavailable {
				t.Errorf("IsUnavailable = %v, want %v", got, tc.unavailable)
			}
			if got := cassandrastore.IsRetryable(tc.err); got != tc.retryable {
				t.Errorf("IsRetryable = %v, want %v", got, tc.retryable)
			}
		})
	}
}

func TestErrNotFoundWrapsGocql(t *testing.T) {
	err := fmt.Errorf("get: %w", cassandrastore.ErrNotFound)
	if !errors.Is(err, cassandrastore.ErrNotFound) || !errors.Is(err, gocql.ErrNotFound) {
		t.Errorf("%v does not match both ErrNotFound and gocql.ErrNotFound", err)
	}
}

func TestWriteErrorUnwrap(t *testing.T) {
	wt := &gocql.RequestErrWriteTimeout{WriteType: "SIMPLE"}
	err := error(&cassandrastore.WriteError{Rows: 5, Failed: []cassandrastore.RowError{
		{Index: 1, ID: "a", Err: cassandrastore.ErrInvalidID},
		{Index: 4, ID: "b", Err: wt},
	}})
	var got *gocql.RequestErrWriteTimeout
	if !errors.As(err, &got) || got != wt {
		t.Error("errors.As does not reach a row's error")
	}
	if !errors.Is(err, cassandrastore.ErrInvalidID) {
		t.Error("errors.Is does not reach a row's error")
	}
	var re cassandrastore.RowError
	if !errors.As(err, &re) || re.Index != 1 {
		t.Errorf("errors.As(RowError) = %+v, want the first failed row", re)
	}
	if msg := err.Error(); !strings.Contains(msg, "2 of 5 rows") || !strings.Contains(msg, `"a"`) {
		t.Errorf("message %q lacks the counts or the first id", msg)
	}
}

// codeError stands in for gocql's unexported error frame, which carries
// codes such as Overloaded that have no type of their own.
type codeError int

func (c codeError) Code() int       { return int(c) }
func (c codeError) Message() string { return "coordinator overloaded" }
func (c codeError) Error() string   { return c.Message() }

var _ gocql.RequestError = codeError(0)

func overloadedErr() error { return fmt.Errorf("exec: %w", codeError(gocql.ErrCodeOverloaded)) }

func TestParseConsistency(t *testing.T) {
	for in, want := range map[string]gocql.Consistency{
		"local_quorum": gocql.LocalQuorum, "LOCAL_QUORUM": gocql.LocalQuorum, " local-quorum ": gocql.LocalQuorum,
		"one": gocql.One, "quorum": gocql.Quorum, "all": gocql.All, "local_one": gocql.LocalOne,
		"each_quorum": gocql.EachQuorum, "two": gocql.Two, "three": gocql.Three,
	} {
		if got, err := cassandrastore.ParseConsistency(in); err != nil || got != want {
			t.Errorf("ParseConsistency(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "any", "ANY", "localquorum", "serial", "2"} {
		_, err := cassandrastore.ParseConsistency(in)
		if err == nil || !strings.Contains(err.Error(), "local_quorum") {
			t.Errorf("ParseConsistency(%q) = %v, want an error listing the levels", in, err)
		}
	}
}

func TestLocalNetworkTopologyStrategy(t *testing.T) {
	if _, err := cassandrastore.New(gocqlx.NewSession(new(gocql.Session)),
		cassandrastore.WithReplication(cassandrastore.LocalNetworkTopologyStrategy(0))); err == nil {
		t.Error("New accepted LocalNetworkTopologyStrategy(0)")
	}
	if _, err := cassandrastore.New(gocqlx.NewSession(new(gocql.Session)),
		cassandrastore.WithReplication(cassandrastore.LocalNetworkTopologyStrategy(3))); err != nil {
		t.Errorf("New(LocalNetworkTopologyStrategy(3)): %v", err)
	}
	if got, want := cassandrastore.LocalNetworkTopologyStrategy(3).String(), "{'class': 'NetworkTopologyStrategy', <local data center>: 3}"; got != want {
		t.Errorf("String = %q, want %q", got, want)
	}
}
