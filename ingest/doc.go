// Package ingest runs the first half of the pipeline: fetch users from the
// Random User API, map each to a [transform.Row] and stage them, a page at
// a time, in the PostgreSQL outbox, from where an outbox relay publishes
// them to Kafka.
//
//	loop, err := ingest.New(api, store, ingest.WithRate(2000), ingest.WithMetrics(reg))
//	res, err := loop.Run(ctx, runID, "userstream", 100_000)
//
// [Loop.Run] fetches the users of a seed page by page ([randomuser.Client.Users]
// retries what can be retried), stages each page in one [Stager.Stage] call
// and returns what it did in a [Result]: fetched, invalid, staged and
// duplicates. A user that fails validation is logged, counted and left
// out; the rest of its page is staged. A user staged before (the same seed
// run again) is a duplicate and is not published again, so runs of a seed
// are idempotent. A page hook ([WithPageHook]) sees every staged page, for
// a progress line or a record of the ids.
//
// A page whose Stage fails on a lost PostgreSQL connection (a restart, a
// failover, a connection killed or reset, the server out of connection
// slots) is staged again after a backoff, for up to [DefaultStageRetry]
// (see [WithStageRetry]); each retry is logged at Warn and counted in
// [Result].StageRetries. This is safe because a Stage call is one
// transaction and a row staged before is a duplicate: a page whose commit
// went through but whose answer was lost is counted as duplicates the
// second time, not staged twice. Other errors fail the run at once.
//
// The outbox is reached through [Stager], which *outbox.Store satisfies;
// a test of code built on a Loop can stage into a fake instead of
// PostgreSQL, and fetch from randomusertest's server instead of the API.
//
// [Schedule] repeats a run on a fixed period, like a scheduler's DAG
// (-every and -runs in the example commands).
//
// # Metrics
//
// With [WithMetrics], a Loop registers, once per registry (several loops
// given the same registry share the series):
//
//	| name                           | type    | labels | meaning                                                   |
//	| userstream_users_invalid_total | counter |        | fetched users that failed validation and were not staged |
//	| userstream_stage_retries_total | counter |        | Stage calls tried again after a lost PostgreSQL connection |
//
// The users fetched, staged and duplicated are counted by the randomuser
// client and the outbox store that do that work.
package ingest
