package outbox

import (
	"strings"

	"github.com/jackc/pgx/v5"
)

// stageTable is the session-local table that COPY loads a page into.
const stageTable = "outbox_stage"

// The page's changes that remain after Stage's filtering in Go, in page
// order: ord numbers them (versions are the block's base plus ord), first
// marks the first change of an id in the page (the only one compared with
// the table), and a NULL payload is a deletion.
const stageTableDDL = `CREATE TEMPORARY TABLE IF NOT EXISTS ` + stageTable + ` (
	ord     integer NOT NULL,
	id      uuid    NOT NULL,
	payload json,
	first   boolean NOT NULL
) ON COMMIT DELETE ROWS`

// queries holds the statements of one schema, built once.
type queries struct {
	stageInsert, stageFromTemp       string
	versions, republish              string
	latest, eachLatest, eachLatestAt string
	lockPosition, read, advance      string
	advanceRecorded, history         string
	deleteRounds                     string
	boundTopic                       string
	deletePublished, counts, pending string
	oldestPending                    string
	listen, versionTableDDL          string
}

// stageChanges inserts the changes of {source} (ord, id, payload, first)
// that differ from their id's latest version, as versions $2 + ord, and
// counts them: staged, and of those, updates (the id had a version). A
// change that is not the first of its id in the page differs from the one
// before it (Stage dropped the equal ones), so only the first compares
// with the table. json has no equality: payloads compare as text, the
// bytes Stage wrote (transform.AppendJSON is deterministic).
const stageChanges = `WITH c AS MATERIALIZED (
	SELECT s.ord, s.id, s.payload, (NOT s.first OR l.deleted IS NOT NULL) AS had
	FROM {source}
	LEFT JOIN LATERAL (
		SELECT o.payload, o.deleted FROM {outbox} o
		WHERE o.id = s.id ORDER BY o.seq DESC LIMIT 1) l ON s.first
	WHERE NOT s.first
		OR l.deleted IS DISTINCT FROM (s.payload IS NULL)
		OR l.payload::text IS DISTINCT FROM s.payload::text
), ins AS (
	INSERT INTO {outbox} (id, payload, deleted, run_id, fetched_at, version)
	SELECT id, payload, payload IS NULL, $1, now(), $2::bigint + ord FROM c ORDER BY ord
)
SELECT count(*), count(*) FILTER (WHERE had) FROM c`

// latestOf is an id's latest version (highest seq), joined laterally to u.
const latestOf = `SELECT l.id::text, l.seq, l.version, l.deleted, l.payload::text, l.run_id, l.fetched_at`

// qualify replaces {outbox}, {position}, {version}, {rounds}, {schema} and
// {channel} in sql with quoted names. The schema name was validated,
// and is quoted anyway.
func qualify(schema, sql string) string {
	return strings.NewReplacer(
		"{outbox}", pgx.Identifier{schema, "outbox"}.Sanitize(),
		"{position}", pgx.Identifier{schema, "outbox_position"}.Sanitize(),
		"{version}", pgx.Identifier{schema, "schema_version"}.Sanitize(),
		"{rounds}", pgx.Identifier{schema, "outbox_rounds"}.Sanitize(),
		"{schema}", pgx.Identifier{schema}.Sanitize(),
		"{channel}", schema+"_outbox",
	).Replace(sql)
}

func newQueries(schema string) queries {
	q := func(sql string) string { return qualify(schema, sql) }
	return queries{
		// Both staging statements insert in id order, so two pages that
		// share ids would wait for each other's ids in the same order
		// rather than deadlock (the outbox_serialize trigger makes them
		// take turns anyway).
		// Both staging statements insert in page order (ord), which is
		// version order; outbox_versions took the outbox_serialize lock
		// before them, so they see every earlier stager's rows.
		stageInsert: q(strings.Replace(stageChanges, "{source}",
			`(SELECT ord, id, payload::json AS payload, first
		FROM unnest($3::integer[], $4::uuid[], $5::text[], $6::boolean[]) AS u(ord, id, payload, first)) s`, 1)),
		stageFromTemp: q(strings.Replace(stageChanges, "{source}", `pg_temp.`+stageTable+` s`, 1)),
		// Also turns JIT compilation off for the rest of the staging
		// transaction, in the same round trip: the INSERT's estimates
		// (a temporary table without statistics, a lookup per row) pass
		// jit_above_cost, and compiling took 15 ms of a 50 ms INSERT of
		// 5,000 rows, for nothing.
		versions: q(`SELECT {schema}.outbox_versions($1), set_config('jit', 'off', true)`),
		// The latest version of each id again, as versions $2 + ord.
		republish: q(`INSERT INTO {outbox} (id, payload, deleted, run_id, fetched_at, version)
SELECT l.id, l.payload, l.deleted, $1, now(), $2::bigint + u.ord - 1
FROM unnest($3::uuid[]) WITH ORDINALITY AS u(id, ord)
CROSS JOIN LATERAL (
	SELECT o.id, o.payload, o.deleted FROM {outbox} o
	WHERE o.id = u.id ORDER BY o.seq DESC LIMIT 1) l
ORDER BY u.ord`),
		latest: q(latestOf + `
FROM unnest($1::uuid[]) AS u(id)
CROSS JOIN LATERAL (
	SELECT * FROM {outbox} o WHERE o.id = u.id ORDER BY o.seq DESC LIMIT 1) l`),
		// Every id's latest version in id order, from outbox_id: a row
		// with no later version of its id, of an id that had a version
		// in run $2 (any run if $2 is ''). eachLatestAt starts after the
		// id $1, eachLatest at the start.
		eachLatest:   q(eachLatestSQL("")),
		eachLatestAt: q(eachLatestSQL("$3")),
		// One relay publishes at a time: the one holding the position
		// row's lock. NOWAIT: the others learn it at once and stand by.
		lockPosition: q(`SELECT position, topic FROM {position} FOR UPDATE NOWAIT`),
		boundTopic:   q(`SELECT topic FROM {position}`),
		// Rows become visible in seq order (outbox_serialize), so nothing
		// can appear later below the position.
		read: q(`SELECT seq, id::text, payload::text, fetched_at, version, deleted FROM {outbox}
WHERE seq > $1
ORDER BY seq
LIMIT $2`),
		// The first advance binds the outbox to the relay's topic; the
		// claim checked that it is unbound or bound to that topic.
		advance: q(`UPDATE {position} SET position = $1, topic = coalesce(topic, $2), updated_at = statement_timestamp()`),
		// advance, and the round's record of where its rows went, in
		// one statement (one round trip).
		advanceRecorded: q(`WITH a AS (
	UPDATE {position} SET position = $1, topic = coalesce(topic, $2), updated_at = statement_timestamp()
)
INSERT INTO {rounds} (last_seq, first_seq, topic, seqs, partitions, offsets)
VALUES ($1, $3, $2, $4::bigint[], $5::integer[], $6::bigint[])`),
		// Every version of an id in seq order, the position and bound
		// topic, and where the version went in Kafka: the round whose
		// seq range holds it (the primary key, one probe), and its
		// place in the round's arrays.
		history: q(`SELECT o.seq, o.version, o.deleted, o.payload::text, o.run_id, o.fetched_at,
	p.position, p.topic, r.topic, r.published_at, r.partitions[r.i], r.offsets[r.i]
FROM {outbox} o
CROSS JOIN {position} p
LEFT JOIN LATERAL (
	SELECT rr.topic, rr.published_at, rr.partitions, rr.offsets, array_position(rr.seqs, o.seq) AS i
	FROM {rounds} rr
	WHERE rr.last_seq >= o.seq AND rr.first_seq <= o.seq
	ORDER BY rr.last_seq LIMIT 1) r ON r.i IS NOT NULL
WHERE o.id = $1
ORDER BY o.seq`),
		// Rounds recorded before the retention (the table is small: a
		// row per round).
		deleteRounds: q(`DELETE FROM {rounds} WHERE published_at < statement_timestamp() - $1::bigint * interval '1 microsecond'`),
		// Published (at or below the position), staged before the
		// retention, and replaced by a newer version of its id: an id's
		// latest version is kept for good.
		deletePublished: q(`DELETE FROM {outbox} WHERE seq IN (
	SELECT o.seq FROM {outbox} o
	WHERE o.seq <= (SELECT position FROM {position})
	AND o.fetched_at < statement_timestamp() - $1::bigint * interval '1 microsecond'
	AND EXISTS (SELECT 1 FROM {outbox} n WHERE n.id = o.id AND n.seq > o.seq)
	ORDER BY o.seq
	LIMIT $2)`),
		counts: q(`SELECT
	count(*) FILTER (WHERE o.seq > p.position),
	count(*) FILTER (WHERE o.seq <= p.position)
FROM {outbox} o CROSS JOIN {position} p`),
		// An index range over the unpublished rows only.
		pending: q(`SELECT count(*) FROM {outbox} WHERE seq > (SELECT position FROM {position})`),
		// The first pending row in stage order, by the primary key: one
		// index probe whatever the backlog (min(fetched_at) would read
		// all of it).
		oldestPending:   q(`SELECT fetched_at FROM {outbox} WHERE seq > (SELECT position FROM {position}) ORDER BY seq LIMIT 1`),
		listen:          "LISTEN " + pgx.Identifier{schema + "_outbox"}.Sanitize(),
		versionTableDDL: q(`CREATE TABLE {version} (version integer PRIMARY KEY, description text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`),
	}
}

// eachLatestSQL is a page of eachLatest; after, if not "", is the
// parameter of the id the page starts after. It bounds the anti-join's side
// too: without it the planner merges the page with the index from its
// start, and a page far into a table of a million ids read the half before
// it (6.8 s a page, measured, against 31 ms).
func eachLatestSQL(after string) string {
	var from, newer string
	if after != "" {
		from = "AND l.id > " + after + "\n"
		newer = " AND n.id > " + after
	}
	return latestOf + `
FROM {outbox} l
WHERE NOT EXISTS (SELECT 1 FROM {outbox} n WHERE n.id = l.id AND n.seq > l.seq` + newer + `)
AND ($1 = '' OR EXISTS (SELECT 1 FROM {outbox} r WHERE r.id = l.id AND r.run_id = $1))
` + from + `ORDER BY l.id
LIMIT $2`
}
