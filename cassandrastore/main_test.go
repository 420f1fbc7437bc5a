package cassandrastore_test

import (
	"os"
	"testing"

	"github.com/userstream/userstream/internal/testenv"
)

// The Examples run against the local stack's Cassandra, each in a keyspace
// of its own.
func TestMain(m *testing.M) {
	os.Exit(testenv.MainWithExamples(m, testenv.CassandraHostsEnv))
}
