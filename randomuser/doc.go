// Package randomuser is a client for the Random User Generator API
// (https://randomuser.me), pinned to API version 1.4.
//
// Fetch 10,000 reproducible users, retrying failures and pacing requests to
// the public API's limit:
//
//	c, err := randomuser.New(
//		randomuser.WithRateLimit(randomuser.PublicRateLimitUsers, randomuser.PublicRateLimitWindow),
//	)
//	if err != nil {
//		return err
//	}
//	for u, err := range c.Users(ctx, randomuser.Query{Seed: "demo", Nat: []string{"gb", "us"}}, 10_000) {
//		if err != nil {
//			return err
//		}
//		fmt.Println(u.Login.UUID, u.Name.First, u.Name.Last, u.Location.Postcode)
//	}
//
// # Main types
//
//   - [Client], built by [New] with options such as [WithBaseURL],
//     [WithHTTPClient], [WithMaxRetries], [WithRateLimit] and
//     [WithCredentials]. [Client.Users] pages through a seed, [Client.Fetch]
//     returns one page, [Client.Download] copies a raw CSV/JSON body.
//   - [Query] holds every parameter of the API; [Query.Validate] rejects
//     the values the API would silently replace.
//   - [User] and [Info] model a 1.4 response: [Postcode] accepts both the
//     numbers and the strings the API sends, [ID].Value may be nil,
//     coordinates stay strings, dates are [time.Time].
//   - [Decoder] reads a response one user at a time, for saved bodies.
//
// The package randomusertest provides an offline server compatible with the
// API, with fault injection, for tests, demos and benchmarks.
//
// # Retries
//
// Each request is retried up to 4 times ([WithMaxRetries]) with exponential
// backoff and jitter on connection errors, timeouts, 429 and 5xx (except
// 501), honouring Retry-After on 429 and 503. Other 4xx statuses are never
// retried. A 2xx body that breaks off, holds the API's {"error": "..."} or
// has an empty results array while info.results says otherwise (as during
// the 2026 outage) is requested again too; [Client.Users] then skips the
// users it already yielded, so nothing is duplicated.
//
// # Errors
//
// Failures are typed. A failed status or an error body is a
// [*ResponseError] (status, the API's message, Retry-After, attempts); a
// 2xx body that cannot be decoded is a [*DecodeError] (byte offset, user
// index, counts). Both match sentinels with [errors.Is]: [ErrRateLimited],
// [ErrUnavailable], [ErrEmptyResults], [ErrShortPage], [ErrTruncated],
// [ErrMalformed], [ErrTooLarge]. Invalid queries wrap [ErrInvalidQuery] and
// send nothing. [IsRetryable] tells whether trying again later may help.
// Context errors are returned wrapped, so errors.Is(err, context.Canceled)
// works. Nothing in this package panics on bad input.
//
// # Credentials
//
// The API sends every user's password, salt and hashes. They are skipped
// while decoding, so they never reach a [User], unless the client is built
// with [WithCredentials]; [Login]'s String and LogValue never print them.
//
// # Memory
//
// Responses are decoded as they arrive, one user at a time, so a 5,000-user
// page (about 6 MB) is never held both as bytes and as structs.
// [Client.Users] holds one user at a time; [Client.Fetch] holds one page of
// structs. The string fields of a [User] share one allocation (about 1 KB),
// so keeping any one of them keeps all of that user's text.
//
// # Metrics
//
// [WithMetrics] registers these series on a prometheus.Registerer and
// records them (without it, none are kept). Several clients given one
// registerer share the series: their counts add up.
//
//	name                            type       labels  buckets (seconds)          meaning
//	userstream_users_fetched_total  counter    none    -                          users decoded from API pages and handed to the caller
//	userstream_fetch_errors_total   counter    none    -                          page requests that failed after retries
//	userstream_fetch_page_seconds   histogram  none    0.001 doubling to 65.536   time to fetch and decode one page, retries included
//
// [Client.Fetch], [Client.Users] and [Client.Ping] record them, per page
// request; [Client.Download], which decodes nothing, does not. A user is
// counted once, even when a retry of its page decodes it again; a page that
// [Client.Fetch] gives up on counts no users (it returns none), while the
// users [Client.Users] yielded before an error are counted. A failure
// caused by the caller's context ending is not a fetch error. The page
// time excludes the time spent in the caller's loop body of
// [Client.Users], and only pages read to their end are timed (a loop that
// breaks early is not). The buckets are
// prometheus.ExponentialBuckets(0.001, 2, 17).
//
// # Concurrency and lifecycle
//
// A Client is safe for concurrent use and needs no Close; it starts no
// goroutines. Its client-side rate limit is shared by all its callers.
package randomuser
