package outbox

import (
	"context"
	"fmt"
	"hash/fnv"

	"github.com/jackc/pgx/v5"
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

func (s *Store) migrate(ctx context.Context) error {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()

	if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", lockKey(s.schema)); err != nil {
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
	if current == len(migrations) {
		return nil // nothing to commit
	}
	for v := current + 1; v <= len(migrations); v++ {
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

// lockKey is the advisory lock that serializes migrations of one schema.
func lockKey(schema string) int64 {
	h := fnv.New64a()
	h.Write([]byte("github.com/userstream/userstream/kafkasink/outbox:" + schema))
	return int64(h.Sum64())
}
