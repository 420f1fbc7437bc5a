// Package randomusertest is an offline server compatible with the Random
// User API 1.4, for tests, demos and benchmarks on machines without
// internet access.
//
//	srv, err := randomusertest.NewServer(randomusertest.WithFaultRate(0.1, randomusertest.Status(503)))
//	if err != nil {
//		return err
//	}
//	defer srv.Close()
//	srv.Inject(randomusertest.TooManyRequests(time.Second), randomusertest.Truncate(0.5))
//	c, err := randomuser.New(randomuser.WithBaseURL(srv.BaseURL()))
//
// [NewServer] runs a [Handler] on an httptest server; [NewHandler] returns
// the http.Handler itself, to mount on any server (the standalone binary
// examples/randomuserserver does that).
//
// # Compatibility
//
// The handler serves /api, /api/, /api/1.4 and /api/1.4/ with the API's
// parameters and its way of normalizing them (results outside 1-5000
// becomes 1, one unknown nat means all nats, gender is ignored when a seed
// is set, the last repeated parameter wins, 18-character seeds force a
// nationality, lego). Responses have the 1.4 shape and key order, with
// realistic names, streets, cities, states, postcodes (numbers, or strings
// for CA, GB and NO), phone and cell formats and national ids for all 21
// nationalities, including the API's quirks (letters in CA and UA phone
// numbers, the broken FI id "NaNNA…undefined"). Formats are JSON, pretty
// JSON, JSONP and CSV; yaml and xml answer 501.
//
// Differences from the real API: the name lists are shorter and our own;
// users come from a different generator, so a seed gives other users than
// on randomuser.me; inc and exc do not change the other fields' values;
// ages are computed against a fixed date ([WithAgeReference]) so output is
// byte-identical across runs; an invalid 18-character seed gets a 500
// instead of no answer.
//
// # Determinism
//
// The same query always gives byte-identical bodies (except that a query
// without seed gets a random one, as in the API). Every user has its own
// random stream derived from (seed, page, index), so a smaller page is a
// prefix of a larger one, and login.uuid is unique across all pages of a
// seed (it is built from a bijection of page and index).
//
// # Days and changing users
//
// The real API has no notion of a user changing; this server has one, for
// tests and demos of a pipeline that carries updates. [WithChangeShare]
// gives the share of users that change on each day, [WithDay] the day served
// first and [Handler.SetDay] switches days on a running handler. Day 0 (the
// default) is the output described above, byte for byte; so is every day
// while the share is 0 (the default).
//
// On each day k >= 1, each user (a seed, page and index) changes with
// probability share, decided by a hash of (seed, page, index, k): the same
// users change on every run, and the days are independent. A user's revision
// on day d is the number of days 1 to d on which it changed; a user that did
// not change on day d is served exactly as on day d-1. A user at revision
// r > 0 keeps its identity (gender, name, login with uuid and username, dob,
// registered, id, nat) and gets values derived from (seed, page, index, r)
// for email (its local part ends in r: "manon.bertrand1@example.com"),
// phone, cell, location (street, city, state, postcode, coordinates,
// timezone; the country stays) and picture. So its row in the pipeline keeps
// its id and differs in email, phone, address, post_code and picture.
// [Handler.Revision] and [Handler.Changed] tell a test which users changed
// without fetching them.
//
// # Faults
//
// [Handler.Inject] queues faults for the next requests in order;
// [WithFaultRate] adds random ones; [WithLatency] and [WithRateLimit] apply
// to every request. Faults: [Status] (non-JSON 5xx pages), [ErrorBody] (the
// API's {"error": "..."}), [TooManyRequests] (429 with Retry-After),
// [Unavailable] (503 with Retry-After), [Truncate] (a body that breaks
// off), [EmptyResults] (the 2026 outage body), [Malformed] (HTML instead of
// JSON) and [Delay].
//
// # Performance
//
// Users are written straight into a pooled buffer from precomputed tables;
// large pages are generated on several cores. A 5,000-user page takes a few
// milliseconds and a handful of allocations.
//
// Handler and Server are safe for concurrent use. Close a Server when done.
package randomusertest
