package outbox

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/userstream/userstream/internal/pgschema"
)

// migration is one step of the schema. Steps are applied in order and never
// edited once released: a change is a new step.
type migration struct {
	description string
	sql         string // with {outbox}, {schema} and {channel} placeholders
}

var migrations = [...]migration{
	{
		description: "outbox table, pending and published indexes, notify trigger",
		sql: `
CREATE TABLE {outbox} (
	id           uuid        PRIMARY KEY,
	seq          bigint      GENERATED ALWAYS AS IDENTITY,
	payload      jsonb       NOT NULL,
	run_id       text        NOT NULL,
	fetched_at   timestamptz NOT NULL,
	published_at timestamptz,
	attempts     integer     NOT NULL DEFAULT 0,
	last_error   text,
	rejected_at  timestamptz
);
COMMENT ON TABLE {outbox} IS 'Staged users and their publish state: the transactional outbox to Kafka (github.com/userstream/userstream/kafkasink/outbox).';
COMMENT ON COLUMN {outbox}.seq IS 'Stage order; relays claim the oldest first.';
COMMENT ON COLUMN {outbox}.attempts IS 'Produce attempts, failed or acknowledged.';
COMMENT ON COLUMN {outbox}.rejected_at IS 'Set when the payload is not a valid row; such rows are never claimed again.';

-- The relays' claim: the oldest unpublished rows, in seq order.
CREATE INDEX outbox_pending ON {outbox} (seq) WHERE published_at IS NULL AND rejected_at IS NULL;
-- Retention cleanup.
CREATE INDEX outbox_published ON {outbox} (published_at) WHERE published_at IS NOT NULL;

-- A statement trigger wakes the relays for any insert, also one made by
-- hand or by another program; a NOTIFY in a transaction is delivered only
-- when it commits, when the rows are visible.
CREATE FUNCTION {schema}.outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	PERFORM pg_notify(TG_ARGV[0], '');
	RETURN NULL;
END
$$;
CREATE TRIGGER outbox_notify AFTER INSERT ON {outbox}
	FOR EACH STATEMENT EXECUTE FUNCTION {schema}.outbox_notify('{channel}');
`,
	},
	{
		description: "append-only outbox: relay position, payload as json, inserts serialized",
		// Version 1 marked each row published with an UPDATE: a second
		// tuple, and index entries, per row. Now a row is written once and
		// the relay keeps one position (the last seq published). A
		// position is only sound if rows become visible in seq order, so
		// a statement trigger makes inserting transactions take turns: a
		// transaction's seqs are drawn, and it commits, before the next
		// may draw any. Rows version 1 left unpublished (or rejected)
		// keep their turn: the position starts below the oldest of them,
		// and rows it had published above that point go out once more.
		//
		// The payload is json, not jsonb: the exact bytes Stage wrote are
		// the bytes the relay produces, with no parsing into jsonb and
		// printing back.
		sql: `
CREATE TABLE {position} (
	singleton  boolean     PRIMARY KEY DEFAULT true CHECK (singleton),
	position   bigint      NOT NULL,
	updated_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE {position} IS 'The seq of the last outbox row published to Kafka; the relay holding this row''s lock is the one publishing.';
INSERT INTO {position} (position) SELECT coalesce(
	(SELECT min(seq) - 1 FROM {outbox} WHERE published_at IS NULL),
	(SELECT max(seq) FROM {outbox}),
	0);

DROP INDEX {schema}.outbox_pending;
DROP INDEX {schema}.outbox_published;
CREATE UNIQUE INDEX outbox_seq ON {outbox} (seq);
ALTER TABLE {outbox}
	DROP COLUMN published_at,
	DROP COLUMN attempts,
	DROP COLUMN last_error,
	DROP COLUMN rejected_at,
	ALTER COLUMN payload TYPE json USING payload::json;
COMMENT ON COLUMN {outbox}.seq IS 'Stage order, which is also commit order (see outbox_serialize); rows up to outbox_position.position are published.';
COMMENT ON COLUMN {outbox}.payload IS 'The row''s wire JSON (transform.Marshal): the Kafka record''s value, byte for byte.';

-- The lock is the table's own (its oid), so every inserter takes the same
-- one, this package or not; it is held until the transaction ends.
CREATE FUNCTION {schema}.outbox_serialize() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	PERFORM pg_advisory_xact_lock(1970234213, TG_RELID::integer);
	RETURN NULL;
END
$$;
CREATE TRIGGER outbox_serialize BEFORE INSERT ON {outbox}
	FOR EACH STATEMENT EXECUTE FUNCTION {schema}.outbox_serialize();
`,
	},
	{
		description: "outbox bound to its topic",
		// NULL until the first relay round that publishes records its
		// producer's topic (the SQL comment below predates binding at the
		// first publish, and a released step is never edited); an outbox
		// migrated in place binds the same way, as a new one does. Migrate cannot record it: a store (and a staging
		// process) does not know the topic, and the topic is what the
		// relay publishes to, so the relay is what binds and checks it.
		sql: `
ALTER TABLE {position} ADD COLUMN topic text;
COMMENT ON COLUMN {position}.topic IS 'The Kafka topic this outbox publishes to, recorded by the first relay round; relays of another topic are refused.';
`,
	},
	{
		description: "versioned outbox",
		// An id may now have many rows, its versions: a changed user is a
		// new version, not a duplicate, and a deletion is a version with
		// no payload. seq, already unique, becomes the key; outbox_id
		// finds an id's latest version (the highest seq).
		//
		// A version is a count of microseconds: at least the time it was
		// staged, and strictly increasing in seq order, so consumers can
		// write at it and the newest version wins in any order of
		// arrival. outbox_versions reserves a block of them under the
		// same lock as outbox_serialize, so versions are drawn in the
		// order rows are inserted; the sequence keeps the last one drawn
		// across cleanups (which may delete the newest rows' elders, never
		// the newest) and clock steps back. Existing rows get versions in
		// seq order from their earliest fetch time, one microsecond apart;
		// the sequence then continues above them.
		sql: `
ALTER TABLE {outbox} DROP CONSTRAINT outbox_pkey;
ALTER TABLE {outbox} ADD PRIMARY KEY USING INDEX outbox_seq;
CREATE INDEX outbox_id ON {outbox} (id, seq);

CREATE SEQUENCE {schema}.outbox_version AS bigint;
COMMENT ON SEQUENCE {schema}.outbox_version IS 'The last version drawn (outbox_versions), in microseconds since the Unix epoch.';

ALTER TABLE {outbox}
	ADD COLUMN version bigint,
	ADD COLUMN deleted boolean NOT NULL DEFAULT false,
	ALTER COLUMN payload DROP NOT NULL,
	ADD CONSTRAINT outbox_deleted_payload CHECK (deleted = (payload IS NULL));
UPDATE {outbox} o SET version = b.version
FROM (SELECT seq,
	(SELECT floor(extract(epoch FROM min(fetched_at)) * 1000000)::bigint FROM {outbox})
		+ row_number() OVER (ORDER BY seq) AS version
	FROM {outbox}) b
WHERE o.seq = b.seq;
SELECT setval('{schema}.outbox_version', max(version)) FROM {outbox} HAVING max(version) IS NOT NULL;

-- Reserves n versions, the first returned: after every version drawn
-- before, and at least the current time in microseconds. It takes the
-- outbox_serialize lock first, so blocks are drawn in insert order, and a
-- statement after it sees every earlier inserter's commit.
CREATE FUNCTION {schema}.outbox_versions(n integer) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
	v    bigint;
	base bigint;
BEGIN
	PERFORM pg_advisory_xact_lock(1970234213, '{outbox}'::regclass::oid::integer);
	v := nextval('{schema}.outbox_version');
	base := greatest(v, floor(extract(epoch FROM clock_timestamp()) * 1000000)::bigint);
	PERFORM setval('{schema}.outbox_version', base + greatest(n, 1) - 1);
	RETURN base;
END
$$;
ALTER TABLE {outbox}
	ALTER COLUMN version SET DEFAULT {schema}.outbox_versions(1),
	ALTER COLUMN version SET NOT NULL;
COMMENT ON COLUMN {outbox}.version IS 'The version''s order: microseconds since the Unix epoch, at least the staging time, strictly increasing in seq order (outbox_versions); the row-version header of its record.';
COMMENT ON COLUMN {outbox}.deleted IS 'The version is the user''s deletion: published as a tombstone; payload is NULL.';
COMMENT ON COLUMN {outbox}.payload IS 'The row''s wire JSON (transform.Marshal): the Kafka record''s value, byte for byte; NULL for a deletion.';
`,
	},
	{
		description: "relay rounds: where each published row went in Kafka",
		// To say where a row is in Kafka without scanning the topic
		// (Store.History, package explain), each round that moves the
		// position records, in the same statement, the seq, partition
		// and offset of every row it published, as three arrays in one
		// row per round: one INSERT per round rather than an UPDATE per
		// row (the outbox stays append-only). The broker's offsets are
		// exact, whatever the partitioner or the order of the batches.
		// Cleanup deletes rounds after the relay's retention, as it does
		// replaced versions.
		sql: `
CREATE TABLE {rounds} (
	last_seq     bigint      PRIMARY KEY,
	first_seq    bigint      NOT NULL,
	topic        text        NOT NULL,
	published_at timestamptz NOT NULL DEFAULT statement_timestamp(),
	seqs         bigint[]    NOT NULL,
	partitions   integer[]   NOT NULL,
	offsets      bigint[]    NOT NULL,
	CHECK (cardinality(seqs) = cardinality(partitions) AND cardinality(seqs) = cardinality(offsets))
);
COMMENT ON TABLE {rounds} IS 'One row per relay round that published: the Kafka partition and offset of each outbox row (seqs[i] went to partitions[i] at offsets[i]).';
`,
	},
}

// SchemaVersion is the schema version this package migrates to.
const SchemaVersion = len(migrations)

// Migrate creates the store's schema and tables, or brings them up to
// [SchemaVersion], recording each step in <schema>.schema_version. It is
// idempotent and safe to run from several processes at once (they take
// turns on an advisory lock). An up-to-date schema needs no privileges
// beyond reading it, so relays may call Migrate at startup with a role that
// cannot create tables. A schema newer than this package fails with
// [ErrSchemaTooNew].
func (s *Store) Migrate(ctx context.Context) error {
	return s.wrap("migrate", s.migrate(ctx))
}

func (s *Store) migrate(ctx context.Context) error { return s.migrateTo(ctx, len(migrations)) }

// migrateTo brings the schema up to version target (tests start from older
// versions with it).
func (s *Store) migrateTo(ctx context.Context, target int) error {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()

	// One lock per schema, shared with the run ledger's migration, which
	// the examples run into the same schema.
	if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", pgschema.LockKey(s.schema)); err != nil {
		return err
	}
	var haveSchema, haveVersion bool
	err = tx.QueryRow(ctx, `SELECT
	EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1),
	to_regclass($2) IS NOT NULL`,
		s.schema, pgx.Identifier{s.schema, "schema_version"}.Sanitize()).Scan(&haveSchema, &haveVersion)
	if err != nil {
		return err
	}
	// CREATE ... IF NOT EXISTS checks the CREATE privilege even when the
	// object exists, so existing objects are not created again at all.
	if !haveSchema {
		if _, err := tx.Exec(ctx, qualify(s.schema, "CREATE SCHEMA {schema}")); err != nil {
			return err
		}
	}
	if !haveVersion {
		if _, err := tx.Exec(ctx, s.q.versionTableDDL); err != nil {
			return err
		}
	}
	var current int
	if err := tx.QueryRow(ctx, qualify(s.schema, "SELECT coalesce(max(version), 0) FROM {version}")).Scan(&current); err != nil {
		return err
	}
	if current > len(migrations) {
		return fmt.Errorf("%w: version %d, this package knows up to %d", ErrSchemaTooNew, current, len(migrations))
	}
	if current >= target {
		return nil // nothing to commit
	}
	for v := current + 1; v <= target; v++ {
		m := migrations[v-1]
		if _, err := tx.Exec(ctx, qualify(s.schema, m.sql)); err != nil {
			return fmt.Errorf("version %d (%s): %w", v, m.description, err)
		}
		if _, err := tx.Exec(ctx, qualify(s.schema, "INSERT INTO {version} (version, description) VALUES ($1, $2)"), v, m.description); err != nil {
			return err
		}
	}
	return tx.Commit(ctx)
}
