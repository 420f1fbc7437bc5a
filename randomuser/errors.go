package randomuser

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"time"
)

// Errors that callers branch on with [errors.Is]. The client returns them
// wrapped in a [*ResponseError] or [*DecodeError] carrying the details.
var (
	// ErrInvalidQuery: a [Query] parameter is out of range or unknown.
	// Nothing was sent.
	ErrInvalidQuery = errors.New("randomuser: invalid query")
	// ErrRateLimited: the API answered 429 Too Many Requests.
	ErrRateLimited = errors.New("randomuser: rate limited")
	// ErrUnavailable: the API answered a 5xx status, or a body with an
	// "error" key ("Uh oh, something has gone wrong…").
	ErrUnavailable = errors.New("randomuser: service unavailable")
	// ErrEmptyResults: the response has an empty results array although
	// info.results says users were generated. The API did this for weeks
	// during the 2026 outage (Randomuser.me-Node #240, #241).
	ErrEmptyResults = errors.New("randomuser: empty results")
	// ErrShortPage: the results array has fewer users than info.results.
	ErrShortPage = errors.New("randomuser: fewer results than announced")
	// ErrTruncated: the body ended, or the connection broke, before the
	// JSON document was complete.
	ErrTruncated = errors.New("randomuser: truncated response")
	// ErrMalformed: the body is not a 1.4 JSON response (a syntax error, a
	// field of the wrong type, an HTML page from a proxy).
	ErrMalformed = errors.New("randomuser: malformed response")
	// ErrTooLarge: the body exceeded the limit set by [WithMaxBodyBytes].
	ErrTooLarge = errors.New("randomuser: response too large")
	// ErrNotReproducible: a page re-requested to resume after a broken
	// transfer returned different users, so the seed's users changed
	// between requests.
	ErrNotReproducible = errors.New("randomuser: page not reproducible")
)

// ResponseError is a response the API answered with an error: a non-2xx
// status, or a 2xx body holding an "error" key.
//
// It matches [ErrRateLimited] (429) or [ErrUnavailable] (5xx or an "error"
// body) with [errors.Is].
type ResponseError struct {
	Method     string
	URL        string
	StatusCode int
	// Message is the API's "error" string when the body was {"error": "..."};
	// empty for non-JSON bodies such as a proxy's 502 page.
	Message string
	// Body is the start of the response body (at most 1 KiB).
	Body []byte
	// RetryAfter is the server's Retry-After header, zero if absent.
	RetryAfter time.Duration
	// Attempts is the number of requests sent, including retries.
	Attempts int

	errorKey bool // the body had an "error" key, even if its message is empty
}

func (e *ResponseError) Error() string {
	s := "randomuser: API error"
	if e.Method != "" || e.StatusCode != 0 {
		s = fmt.Sprintf("randomuser: %s %s: %d %s", e.Method, e.URL, e.StatusCode, http.StatusText(e.StatusCode))
	}
	switch {
	case e.errorKey:
		s += ": " + strconv.Quote(e.Message)
	case len(e.Body) > 0:
		b := e.Body
		if len(b) > 120 {
			b = b[:120]
		}
		s += ": body " + strconv.Quote(string(b))
	}
	if e.RetryAfter > 0 {
		s += " (retry after " + e.RetryAfter.String() + ")"
	}
	if e.Attempts > 1 {
		s += " after " + strconv.Itoa(e.Attempts) + " attempts"
	}
	return s
}

// Unwrap returns the sentinel matching the status.
func (e *ResponseError) Unwrap() error {
	switch {
	case e.StatusCode == http.StatusTooManyRequests:
		return ErrRateLimited
	case e.StatusCode >= 500 || e.errorKey:
		return ErrUnavailable
	}
	return nil
}

// Retryable reports whether sending the request again may succeed: true for
// 429, for 5xx other than 501, and for an "error" body.
func (e *ResponseError) Retryable() bool {
	return e.StatusCode == http.StatusTooManyRequests ||
		(e.StatusCode >= 500 && e.StatusCode != http.StatusNotImplemented) ||
		e.errorKey
}

// LogValue implements [slog.LogValuer].
func (e *ResponseError) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("method", e.Method), slog.String("url", e.URL),
		slog.Int("status", e.StatusCode), slog.String("message", e.Message),
		slog.Duration("retry_after", e.RetryAfter), slog.Int("attempts", e.Attempts))
}

// DecodeError is a 2xx response body that could not be decoded completely.
//
// It matches one of [ErrTruncated], [ErrMalformed], [ErrEmptyResults],
// [ErrShortPage] or [ErrTooLarge] with [errors.Is], and the underlying cause
// (a [*encoding/json.SyntaxError], [io.ErrUnexpectedEOF], a network error)
// with [errors.Is] or [errors.As].
type DecodeError struct {
	// URL is the request's URL; empty when decoding without a [Client].
	URL        string
	StatusCode int
	// Offset is the byte offset in the body where the problem was found:
	// the (0-based) offending byte of a syntax error, the number of bytes
	// received for a truncated body, the field of the wrong type (or the
	// end of its user, when the field's own decoder failed).
	Offset int64
	// Index is the index in results of the user being decoded, or -1 if the
	// problem is outside results.
	Index int
	// Got is the number of users decoded; Want is info.results (0 if
	// unknown).
	Got, Want int
	// Kind is the sentinel: ErrTruncated, ErrMalformed, ErrEmptyResults,
	// ErrShortPage or ErrTooLarge.
	Kind error
	// Err is the underlying cause, if any.
	Err error
}

func (e *DecodeError) Error() string {
	s := e.Kind.Error()
	switch e.Kind {
	case ErrEmptyResults, ErrShortPage:
		s += fmt.Sprintf(": got %d users, info.results says %d", e.Got, e.Want)
	default:
		s += " at byte " + strconv.FormatInt(e.Offset, 10)
		if e.Index >= 0 {
			s += " (user " + strconv.Itoa(e.Index) + ")"
		}
	}
	if e.URL != "" {
		s += " from " + e.URL
		if e.StatusCode != 0 {
			s += " (status " + strconv.Itoa(e.StatusCode) + ")"
		}
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns the sentinel and the cause.
func (e *DecodeError) Unwrap() []error {
	if e.Err == nil {
		return []error{e.Kind}
	}
	return []error{e.Kind, e.Err}
}

// Retryable reports whether requesting the page again may succeed: true for
// truncated bodies and missing results, false for malformed or oversized
// bodies.
func (e *DecodeError) Retryable() bool {
	return e.Kind == ErrTruncated || e.Kind == ErrEmptyResults || e.Kind == ErrShortPage
}

// IsRetryable reports whether err is a failure that the same request may not
// hit again: an error with a Retryable() bool method that returns true, such
// as [*ResponseError] for 429/5xx or [*DecodeError] for a truncated body.
// The [Client] already retries these; IsRetryable is for callers deciding
// whether to try the whole operation again later.
func IsRetryable(err error) bool {
	var r interface{ Retryable() bool }
	return errors.As(err, &r) && r.Retryable()
}
