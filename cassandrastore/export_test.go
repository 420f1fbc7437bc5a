package cassandrastore

import (
	"github.com/userstream/userstream/transform"
)

// Internals the black-box tests and the benchmark need: the ceiling
// benchmark must send the very statement and values the store sends.

// InsertStmt returns the store's INSERT statement.
func (s *Store) InsertStmt() string { return s.insStmt }

// RowValues returns r's bound values in the order of InsertStmt's markers.
func RowValues(r *transform.Row) []any { return rowValues(r) }

// ValidName exposes the identifier check.
var ValidName = validName

// ReplicationCQL renders r as CREATE KEYSPACE's replication map.
func ReplicationCQL(r Replication) (string, error) { return r.cql() }
