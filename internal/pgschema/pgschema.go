// Package pgschema serializes the migrations of packages that share a
// PostgreSQL schema: the outbox and the run ledger share one in the
// examples, and processes that start together migrate both at once.
package pgschema

import (
	"context"
	"hash/fnv"

	"github.com/jackc/pgx/v5"
)

// Lock takes a transaction-scoped advisory lock of schema's name, the same
// for every package that calls it, so migrations into one schema take
// turns until each one's transaction ends. Call it first in the migrating
// transaction, before any look at the catalog: two transactions creating
// one schema at once (CREATE SCHEMA IF NOT EXISTS included) both miss it,
// and one fails with a unique violation on pg_namespace; and a transaction
// that looked the schema up before waiting keeps its cached "does not
// exist" after the other commits.
func Lock(ctx context.Context, tx pgx.Tx, schema string) error {
	h := fnv.New64a()
	h.Write([]byte("github.com/userstream/userstream schema:" + schema))
	_, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(h.Sum64()))
	return err
}
