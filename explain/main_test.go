package explain_test

import (
	"os"
	"testing"

	"github.com/userstream/userstream/internal/testenv"
)

// The Examples run against the local stack's PostgreSQL and Cassandra,
// each in a schema and a keyspace of its own.
func TestMain(m *testing.M) {
	os.Exit(testenv.MainWithExamples(m, testenv.PostgresDSNEnv, testenv.CassandraHostsEnv))
}
