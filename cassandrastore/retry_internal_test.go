package cassandrastore

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/gocql/gocql"
)

type fakeQuery struct {
	attempts   int
	idempotent bool
	ctx        context.Context
}

func (q *fakeQuery) Attempts() int                     { return q.attempts }
func (q *fakeQuery) SetConsistency(gocql.Consistency)  {}
func (q *fakeQuery) GetConsistency() gocql.Consistency { return gocql.LocalQuorum }
func (q *fakeQuery) Context() context.Context          { return q.ctx }
func (q *fakeQuery) IsIdempotent() bool                { return q.idempotent }

func TestRetryPolicy(t *testing.T) {
	p := &retryPolicy{retries: 2, min: time.Millisecond, max: 4 * time.Millisecond, logger: discard}
	bg := context.Background()
	if p.Attempt(&fakeQuery{attempts: 1, ctx: bg}) {
		t.Error("retried a statement that is not idempotent")
	}
	if !p.Attempt(&fakeQuery{attempts: 1, idempotent: true, ctx: bg}) {
		t.Error("did not retry an idempotent statement")
	}
	if p.Attempt(&fakeQuery{attempts: 3, idempotent: true, ctx: bg}) {
		t.Error("retried past the limit")
	}
	ctx, cancel := context.WithCancel(bg)
	cancel()
	slow := &retryPolicy{retries: 2, min: time.Hour, max: time.Hour, logger: discard}
	if slow.Attempt(&fakeQuery{attempts: 1, idempotent: true, ctx: ctx}) {
		t.Error("backoff ignored a cancelled context")
	}
	for a := 1; a < 10; a++ {
		if d := p.backoff(a); d < 0 || d > p.max {
			t.Errorf("backoff(%d) = %v, outside [0, %v]", a, d, p.max)
		}
	}
	if p.GetRetryType(&gocql.RequestErrWriteTimeout{}) != gocql.RetryNextHost {
		t.Error("a write timeout is not retried")
	}
	if p.GetRetryType(overloadedFrame()) != gocql.RetryNextHost {
		t.Error("an overloaded coordinator is not retried")
	}
	if p.GetRetryType(gocql.ErrNotFound) != gocql.Rethrow {
		t.Error("a permanent error is retried")
	}
}

// codeError stands in for gocql's unexported error frame, which carries
// codes such as Overloaded that have no type of their own.
type codeError int

func (c codeError) Code() int       { return int(c) }
func (c codeError) Message() string { return "coordinator overloaded" }
func (c codeError) Error() string   { return c.Message() }

func overloadedFrame() error { return codeError(gocql.ErrCodeOverloaded) }

func TestConnectRetryable(t *testing.T) {
	for msg, want := range map[string]bool{
		"gocql: unable to create session: unable to discover protocol version: dial tcp 127.0.0.1:9042: connect: connection refused":                               true,
		"gocql: unable to create session: unable to discover protocol version: read tcp 127.0.0.1:1->127.0.0.1:2: read: connection reset by peer":                  true,
		"gocql: unable to create session: control: unable to connect to initial hosts: dial tcp 10.0.0.1:9042: i/o timeout":                                        true,
		"gocql: unable to create session: unable to discover protocol version: EOF":                                                                                true,
		"gocql: unable to create session: unable to discover protocol version: Provided username userstream and/or password are incorrect (authentication failed)": false,
		"gocql: unable to create session: unable to discover protocol version: x509: certificate signed by unknown authority":                                      false,
		"gocql: unable to create session: unable to discover protocol version: tls: first record does not look like a TLS handshake":                               false,
	} {
		if got := connectRetryable(errors.New(msg)); got != want {
			t.Errorf("connectRetryable(%q) = %v, want %v", msg, got, want)
		}
	}
	if connectRetryable(context.Canceled) {
		t.Error("a cancelled context is retryable")
	}
}
