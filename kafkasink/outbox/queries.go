package outbox

import (
	"strings"

	"github.com/jackc/pgx/v5"
)

// stageTable is the session-local table that COPY loads a page into.
const stageTable = "outbox_stage"

const stageTableDDL = `CREATE TEMPORARY TABLE IF NOT EXISTS ` + stageTable + ` (
	id      uuid  NOT NULL,
	payload jsonb NOT NULL
) ON COMMIT DELETE ROWS`

// queries holds the statements of one schema, built once.
type queries struct {
	stageInsert, stageFromTemp                       string
	claim, markPublished, markFailed, markRejected   string
	deletePublished, counts, listen, versionTableDDL string
}

// qualify replaces {outbox}, {version} and {schema} in sql with quoted
// names. The schema name was validated, and is quoted anyway.
func qualify(schema, sql string) string {
	return strings.NewReplacer(
		"{outbox}", pgx.Identifier{schema, "outbox"}.Sanitize(),
		"{version}", pgx.Identifier{schema, "schema_version"}.Sanitize(),
		"{schema}", pgx.Identifier{schema}.Sanitize(),
		"{channel}", schema+"_outbox",
	).Replace(sql)
}

func newQueries(schema string) queries {
	q := func(sql string) string { return qualify(schema, sql) }
	// Both staging statements insert in id order. Two pages staged at once
	// that share ids then wait for each other's ids in the same order,
	// instead of deadlocking.
	return queries{
		stageInsert: q(`INSERT INTO {outbox} (id, payload, run_id, fetched_at)
SELECT u.id, u.payload::jsonb, $3, now()
FROM unnest($1::uuid[], $2::text[]) AS u(id, payload)
ORDER BY u.id
ON CONFLICT (id) DO NOTHING`),
		stageFromTemp: q(`INSERT INTO {outbox} (id, payload, run_id, fetched_at)
SELECT id, payload, $1, now() FROM pg_temp.` + stageTable + `
ORDER BY id
ON CONFLICT (id) DO NOTHING`),
		// SKIP LOCKED lets concurrent relays claim disjoint batches
		// instead of queueing behind each other.
		claim: q(`SELECT id::text, payload::text FROM {outbox}
WHERE published_at IS NULL AND rejected_at IS NULL
ORDER BY seq
LIMIT $1
FOR UPDATE SKIP LOCKED`),
		markPublished: q(`UPDATE {outbox}
SET published_at = statement_timestamp(), attempts = attempts + 1, last_error = NULL
WHERE id = ANY($1::uuid[])`),
		markFailed: q(`UPDATE {outbox} AS o
SET attempts = o.attempts + 1, last_error = f.err
FROM unnest($1::uuid[], $2::text[]) AS f(id, err)
WHERE o.id = f.id`),
		markRejected: q(`UPDATE {outbox} AS o
SET rejected_at = statement_timestamp(), last_error = f.err
FROM unnest($1::uuid[], $2::text[]) AS f(id, err)
WHERE o.id = f.id`),
		// SKIP LOCKED: a row a relay is marking right now is not in the
		// way of a cleanup running elsewhere.
		deletePublished: q(`DELETE FROM {outbox} WHERE id IN (
	SELECT id FROM {outbox}
	WHERE published_at < statement_timestamp() - $1::bigint * interval '1 microsecond'
	LIMIT $2
	FOR UPDATE SKIP LOCKED)`),
		counts: q(`SELECT
	count(*) FILTER (WHERE published_at IS NULL AND rejected_at IS NULL),
	count(*) FILTER (WHERE published_at IS NOT NULL),
	count(*) FILTER (WHERE rejected_at IS NOT NULL)
FROM {outbox}`),
		listen:          "LISTEN " + pgx.Identifier{schema + "_outbox"}.Sanitize(),
		versionTableDDL: q(`CREATE TABLE {version} (version integer PRIMARY KEY, description text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`),
	}
}
