// Package pgschema holds what the module's PostgreSQL packages
// (kafkasink/outbox and runledger) must agree on about a schema they share.
package pgschema

import "hash/fnv"

// LockKey is the transaction-scoped advisory lock that serializes
// migrations into one schema. kafkasink/outbox and runledger both take it,
// first in their migrating transaction, because the examples migrate both
// into one schema: it makes a second migration wait until the first has
// committed, then find the schema. Under locks of their own, two
// transactions both miss the schema and one fails with a unique violation
// on pg_namespace (CREATE SCHEMA IF NOT EXISTS included); and one that
// looked the schema up before waiting keeps PostgreSQL's cached "does not
// exist" after the other commits.
func LockKey(schema string) int64 {
	h := fnv.New64a()
	h.Write([]byte("github.com/userstream/userstream schema:" + schema))
	return int64(h.Sum64())
}
