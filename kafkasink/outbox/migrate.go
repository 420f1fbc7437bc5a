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
