package runledger_test

import (
	"os"
	"testing"

	"github.com/userstream/userstream/internal/testenv"
)

// The Examples run against the local stack's PostgreSQL, each in a schema
// of its own.
func TestMain(m *testing.M) {
	os.Exit(testenv.MainWithExamples(m, testenv.PostgresDSNEnv))
}
