package outbox

import (
	"strings"

	"github.com/jackc/pgx/v5"
)

// stageTable is the session-local table that COPY loads a page into.
const stageTable = "outbox_stage"

const stageTableDDL = `CREATE TEMPORARY TABLE IF NOT EXISTS ` + stageTable + ` (
	id      uuid  NOT NULL,
	payload json  NOT NULL
) ON COMMIT DELETE ROWS`

// queries holds the statements of one schema, built once.
type queries struct {
	stageInsert, stageFromTemp       string
	lockPosition, read, advance      string
	boundTopic                       string
	deletePublished, counts, pending string
	listen, versionTableDDL          string
}

// qualify replaces {outbox}, {position}, {version}, {schema} and
// {channel} in sql with quoted names. The schema name was validated,
// and is quoted anyway.
func qualify(schema, sql string) string {
	return strings.NewReplacer(
		"{outbox}", pgx.Identifier{schema, "outbox"}.Sanitize(),
		"{position}", pgx.Identifier{schema, "outbox_position"}.Sanitize(),
		"{version}", pgx.Identifier{schema, "schema_version"}.Sanitize(),
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
		stageInsert: q(`INSERT INTO {outbox} (id, payload, run_id, fetched_at)
SELECT u.id, u.payload::json, $3, now()
FROM unnest($1::uuid[], $2::text[]) AS u(id, payload)
ORDER BY u.id
ON CONFLICT (id) DO NOTHING`),
		stageFromTemp: q(`INSERT INTO {outbox} (id, payload, run_id, fetched_at)
SELECT id, payload, $1, now() FROM pg_temp.` + stageTable + `
ORDER BY id
ON CONFLICT (id) DO NOTHING`),
		// One relay publishes at a time: the one holding the position
		// row's lock. NOWAIT: the others learn it at once and stand by.
		lockPosition: q(`SELECT position, topic FROM {position} FOR UPDATE NOWAIT`),
		boundTopic:   q(`SELECT topic FROM {position}`),
		// Rows become visible in seq order (outbox_serialize), so nothing
		// can appear later below the position.
		read: q(`SELECT seq, id::text, payload::text, fetched_at FROM {outbox}
WHERE seq > $1
ORDER BY seq
LIMIT $2`),
		// The first advance binds the outbox to the relay's topic; the
		// claim checked that it is unbound or bound to that topic.
		advance: q(`UPDATE {position} SET position = $1, topic = coalesce(topic, $2), updated_at = statement_timestamp()`),
		// Published (at or below the position) and staged before the
		// retention.
		deletePublished: q(`DELETE FROM {outbox} WHERE seq IN (
	SELECT seq FROM {outbox}
	WHERE seq <= (SELECT position FROM {position})
	AND fetched_at < statement_timestamp() - $1::bigint * interval '1 microsecond'
	ORDER BY seq
	LIMIT $2)`),
		counts: q(`SELECT
	count(*) FILTER (WHERE o.seq > p.position),
	count(*) FILTER (WHERE o.seq <= p.position)
FROM {outbox} o CROSS JOIN {position} p`),
		// An index range over the unpublished rows only.
		pending:         q(`SELECT count(*) FROM {outbox} WHERE seq > (SELECT position FROM {position})`),
		listen:          "LISTEN " + pgx.Identifier{schema + "_outbox"}.Sanitize(),
		versionTableDDL: q(`CREATE TABLE {version} (version integer PRIMARY KEY, description text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`),
	}
}
