package kafkasink

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/userstream/userstream/internal/backoff"
	"github.com/userstream/userstream/transform"
)

// Registry mode ([WithSchemaRegistry]) writes and reads what every
// Confluent serde, Kafka Connect, ksqlDB or Spark with ABRiS expects: the
// value schema registered under the subject <topic>-value, and each value
// in the Confluent wire format, a magic byte 0, the schema's id in 4 bytes
// big-endian, then the payload (here the row's JSON, as in plain mode).
// It is in this package rather than in one of its own because it changes
// what the producer writes and how the consumer decides a record is
// poison; the registry client is franz-go's pkg/sr, a small HTTP client.

// ErrIncompatibleSchema is matched (errors.Is) by the *[IncompatibleSchemaError]
// that registration returns when the subject's compatibility rule refuses
// the schema.
var ErrIncompatibleSchema = errors.New("schema incompatible with the subject's compatibility rule")

// IncompatibleSchemaError reports a schema that the registry refused to
// register under Subject because its compatibility rule forbids the change
// (HTTP 409). Nothing was produced with it. Err is the registry's
// *sr.ResponseError; its message (Apicurio's) or Reasons (Confluent's
// verbose compatibility check) name the incompatible differences.
type IncompatibleSchemaError struct {
	Subject       string
	Compatibility sr.CompatibilityLevel // the rule set before registering; 0 if left as it was
	Reasons       []string              // the registry's reasons, when it gives them apart from Err
	Err           error
}

func (e *IncompatibleSchemaError) Error() string {
	rule := "the subject's rule"
	if e.Compatibility != 0 {
		rule = e.Compatibility.String()
	}
	msg := fmt.Sprintf("kafkasink: schema refused under subject %s by its compatibility rule (%s): %v", e.Subject, rule, e.Err)
	if len(e.Reasons) > 0 {
		msg += " (" + strings.Join(e.Reasons, "; ") + ")"
	}
	return msg
}

func (e *IncompatibleSchemaError) Unwrap() error        { return e.Err }
func (e *IncompatibleSchemaError) Is(target error) bool { return target == ErrIncompatibleSchema }

// ValueSubject returns the registry subject of topic's value schema,
// <topic>-value: Confluent's default TopicNameStrategy, which the other
// registry clients assume.
func ValueSubject(topic string) string { return topic + "-value" }

// registryDialect is the JSON Schema dialect of [RegistrySchema]. The
// committed file says draft 2020-12; Apicurio's compatibility checker
// (everit) and the older Confluent serdes read drafts 4 to 7 only, and
// refuse to compare a 2020-12 schema ("could not determine version"). The
// file uses no keyword whose meaning differs between draft-07 and 2020-12
// (type, required, properties, additionalProperties, pattern, maxLength,
// format), so the same constraints are declared in the older dialect.
const (
	fileDialect     = `"$schema": "https://json-schema.org/draft/2020-12/schema"`
	registryDialect = `"$schema": "http://json-schema.org/draft-07/schema#"`
)

// registrySchema is transform.PayloadSchema in the registry's dialect,
// computed once.
var registrySchema = sync.OnceValue(func() []byte {
	return bytes.Replace(transform.PayloadSchema, []byte(fileDialect), []byte(registryDialect), 1)
})

// RegistrySchema returns the value schema that registry mode registers:
// the committed JSON Schema of the row (transform.PayloadSchema, schema
// version [transform.SchemaVersion]) with its $schema set to draft-07, the
// newest dialect registries' JSON Schema checkers read (the constraints
// are the same). Its type is JSON.
func RegistrySchema() sr.Schema {
	return sr.Schema{Schema: string(registrySchema()), Type: sr.TypeJSON}
}

// RegisterSchema sets subject's compatibility rule to level (level 0 leaves
// the subject's rule as it is) and registers schema under it, returning the
// schema's id. A schema the subject already has keeps its id and adds no
// version. A schema the rule refuses is an *[IncompatibleSchemaError]
// (errors.Is(err, [ErrIncompatibleSchema])): the registry refused it (409)
// and says it is not compatible with the subject's latest version. Other
// errors are the registry's or the network's, wrapped; a 409 for a schema
// the rule accepts (Apicurio answers so when two registrations of the same
// content race) is retried.
//
// The producer calls it with [RegistrySchema] in registry mode; call it
// yourself to check a next version of the schema against the subject
// before any producer writes it.
func RegisterSchema(ctx context.Context, cl *sr.Client, subject string, schema sr.Schema, level sr.CompatibilityLevel) (int, error) {
	if level != 0 {
		if err := setCompatibility(ctx, cl, subject, level); err != nil {
			return 0, err
		}
	}
	for attempt := 1; ; attempt++ {
		id, err := cl.RegisterSchema(ctx, subject, schema, -1, -1)
		if err == nil {
			return id, nil
		}
		var re *sr.ResponseError
		if !errors.As(err, &re) || re.StatusCode != http.StatusConflict {
			return 0, fmt.Errorf("kafkasink: register schema under subject %s: %w", subject, err)
		}
		// A 409 is the rule's refusal, or (Apicurio) a registration
		// that lost a race with a concurrent one of the same content,
		// under this subject or another. Ask which: the schema may be
		// registered now, or compatible, and then registering again
		// succeeds.
		if ss, err := cl.LookupSchema(ctx, subject, schema); err == nil {
			return ss.ID, nil
		}
		check, cerr := cl.CheckCompatibility(sr.WithParams(ctx, sr.Verbose), subject, -1, schema)
		if cerr == nil && !check.Is {
			return 0, &IncompatibleSchemaError{Subject: subject, Compatibility: level, Reasons: check.Messages, Err: err}
		}
		if attempt == registerAttempts || ctx.Err() != nil {
			return 0, fmt.Errorf("kafkasink: register schema under subject %s: conflict %d times: %w", subject, attempt, err)
		}
		// The concurrent registration that won may not be visible yet:
		// tried again at once, all attempts can fall before it commits.
		if err := registerBackoff.Wait(ctx, attempt); err != nil {
			return 0, fmt.Errorf("kafkasink: register schema under subject %s: %w", subject, err)
		}
	}
}

// setCompatibility sets subject's compatibility rule to level. A failure
// is checked by reading the rule back: Apicurio refuses one of two
// concurrent first settings of a subject's rule ("already exists"), and
// the other has set it.
func setCompatibility(ctx context.Context, cl *sr.Client, subject string, level sr.CompatibilityLevel) error {
	for attempt := 1; ; attempt++ {
		err := cl.SetCompatibility(ctx, sr.SetCompatibility{Level: level}, subject)[0].Err
		if err == nil {
			return nil
		}
		if got := cl.Compatibility(ctx, subject)[0]; got.Err == nil && got.Level == level {
			return nil
		}
		if attempt == registerAttempts || ctx.Err() != nil {
			return fmt.Errorf("kafkasink: set compatibility %s on subject %s: %w", level, subject, err)
		}
		if err := registerBackoff.Wait(ctx, attempt); err != nil {
			return fmt.Errorf("kafkasink: set compatibility %s on subject %s: %w", level, subject, err)
		}
	}
}

// registerAttempts bounds the registrations RegisterSchema tries when the
// registry answers 409 to a schema its rule accepts, and the settings of a
// subject's rule that fail; registerBackoff spaces them (50 ms doubling,
// jittered: about 1.5 s in all), so that the concurrent registration or
// setting that won has committed by the next attempt.
const registerAttempts = 6

var registerBackoff = backoff.Backoff{Min: 50 * time.Millisecond, Max: time.Second}

// headerLen is the length of the Confluent wire-format header: magic byte
// and schema id.
const headerLen = 5

// registryProducer registers the producer's value schema once and keeps
// the 5-byte header that precedes every value.
type registryProducer struct {
	cl      *sr.Client
	subject string
	level   sr.CompatibilityLevel

	header atomic.Pointer[[]byte] // set once registered
	mu     sync.Mutex             // serialises registration
	refuse error                  // an *IncompatibleSchemaError: final, not retried
	id     int
}

// register returns the header of the producer's values, registering the
// schema on first use. A refusal is kept and returned from then on (the
// producer's schema does not change while it runs); any other failure is
// returned and registration is tried again on the next call.
func (r *registryProducer) register(ctx context.Context) ([]byte, error) {
	if h := r.header.Load(); h != nil {
		return *h, nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if h := r.header.Load(); h != nil {
		return *h, nil
	}
	if r.refuse != nil {
		return nil, r.refuse
	}
	id, err := RegisterSchema(ctx, r.cl, r.subject, RegistrySchema(), r.level)
	if err != nil {
		if errors.Is(err, ErrIncompatibleSchema) {
			r.refuse = err
		}
		return nil, err
	}
	h, err := new(sr.ConfluentHeader).AppendEncode(nil, id, nil)
	if err != nil {
		return nil, fmt.Errorf("kafkasink: schema id %d: %w", id, err)
	}
	r.id = id
	r.header.Store(&h)
	return h, nil
}

// RegisterSchema registers the producer's value schema ([RegistrySchema])
// under its topic's subject ([ValueSubject]), after setting the subject's
// compatibility rule ([WithSchemaCompatibility]), and returns the schema's
// id. The producer does this before its first record anyway; call it at
// start to fail fast, before anything is produced, on a registry that is
// down or a subject whose rule refuses the schema (an
// *[IncompatibleSchemaError]). It fails when the producer is not in
// registry mode ([WithSchemaRegistry]).
func (p *Producer) RegisterSchema(ctx context.Context) (int, error) {
	if p.reg == nil {
		return 0, errors.New("kafkasink: RegisterSchema: the producer has no schema registry (WithSchemaRegistry)")
	}
	if _, err := p.reg.register(ctx); err != nil {
		return 0, err
	}
	p.reg.mu.Lock()
	defer p.reg.mu.Unlock()
	return p.reg.id, nil
}

// registryConsumer resolves the schema ids of the records a consumer reads,
// caching the ones it found.
type registryConsumer struct {
	cl    *sr.Client
	known sync.Map // schema id (int) -> error: nil for a JSON schema, the reason it is poison otherwise
}

// resolve looks up the ids of recs' values that are not cached yet. A
// JSON schema is cached as good; a schema of another type is cached as
// poison. The ids the registry does not have (404) are returned, and not
// cached: an id unknown now is asked for again in the next batch, so a
// registry restored from a backup heals. Any other failure is returned as
// the error, for the caller to retry: a registry that is down must not send
// good records to the dead-letter topic.
func (r *registryConsumer) resolve(ctx context.Context, recs []*kgo.Record) (map[int]error, error) {
	var unknown map[int]error
	for _, rec := range recs {
		id, ok := wireID(rec.Value)
		if !ok {
			continue
		}
		if _, ok := r.known.Load(id); ok {
			continue
		}
		if _, ok := unknown[id]; ok {
			continue
		}
		s, err := r.cl.SchemaByID(ctx, id)
		var re *sr.ResponseError
		switch {
		case err == nil && s.Type != sr.TypeJSON:
			r.known.Store(id, fmt.Errorf("schema id %d is a %s schema, not JSON", id, s.Type))
		case err == nil:
			r.known.Store(id, nil)
		case errors.As(err, &re) && re.StatusCode == http.StatusNotFound:
			if unknown == nil {
				unknown = map[int]error{}
			}
			unknown[id] = fmt.Errorf("schema id %d is not in the registry: %w", id, err)
		default:
			return nil, fmt.Errorf("look up schema id %d: %w", id, err)
		}
	}
	return unknown, nil
}

// wireID returns the schema id of a value in the Confluent wire format.
func wireID(v []byte) (int, bool) {
	if len(v) < headerLen || v[0] != 0 {
		return 0, false
	}
	return int(binary.BigEndian.Uint32(v[1:headerLen])), true
}

// decode decodes the row of a record in registry mode: the Confluent wire
// format, or a plain JSON record written before the topic switched (its
// value starts with '{'), which plain mode reads. Every error is a
// *[PoisonError]. unknown holds the ids the registry did not have in this
// batch. A versioned tombstone never gets here: decodeChange reads it
// before the value, which it does not have.
func (r *registryConsumer) decode(rec *kgo.Record, unknown map[int]error) (transform.Row, error) {
	v := rec.Value
	switch {
	case len(v) > 0 && v[0] == '{':
		return decodePlain(rec)
	case len(v) == 0 || v[0] != 0:
		return transform.Row{}, &PoisonError{Reason: ReasonMagicByte,
			Err: fmt.Errorf("value starts with byte %s, want the magic byte 0 of the Confluent wire format (or '{' for a plain JSON record)", firstByte(v))}
	case len(v) < headerLen:
		return transform.Row{}, &PoisonError{Reason: ReasonMagicByte,
			Err: fmt.Errorf("value of %d bytes is shorter than the %d-byte wire-format header", len(v), headerLen)}
	}
	id, _ := wireID(v)
	if err, ok := unknown[id]; ok {
		return transform.Row{}, &PoisonError{Reason: ReasonSchemaID, Err: err}
	}
	if bad, ok := r.known.Load(id); !ok {
		// resolve was not called for this id: a bug, not poison.
		return transform.Row{}, &PoisonError{Reason: ReasonSchemaID, Err: fmt.Errorf("schema id %d was not looked up", id)}
	} else if bad != nil {
		return transform.Row{}, &PoisonError{Reason: ReasonSchemaID, Err: bad.(error)}
	}
	return decodeValue(v[headerLen:])
}

func firstByte(v []byte) string {
	if len(v) == 0 {
		return "none (empty value)"
	}
	return fmt.Sprintf("0x%02x", v[0])
}

// resolveBatch resolves the schema ids of recs, retrying registry failures
// as handler failures are retried, and returns the ids the registry does
// not have.
func (c *Consumer) resolveBatch(ctx, hctx context.Context, recs []*kgo.Record) (map[int]error, error) {
	var unknown map[int]error
	err := c.retry(ctx, hctx, "schema lookup", func() error {
		var err error
		unknown, err = c.reg.resolve(hctx, recs)
		return err
	})
	return unknown, err
}
