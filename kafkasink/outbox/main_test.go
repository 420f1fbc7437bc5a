package outbox_test

import (
	"os"
	"testing"

	"github.com/userstream/userstream/internal/testenv"
)

// The Examples run against the local stack's PostgreSQL and Kafka, each in
// a schema and a topic of its own.
func TestMain(m *testing.M) {
	os.Exit(testenv.MainWithExamples(m, testenv.PostgresDSNEnv, testenv.KafkaBrokersEnv))
}
