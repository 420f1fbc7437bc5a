package connect_test

import (
	"os"
	"testing"

	"github.com/userstream/userstream/internal/testenv"
)

// The Examples need no server; the Open tests need the local stack and
// fail without it when USERSTREAM_REQUIRE_INTEGRATION=1 (testenv).
func TestMain(m *testing.M) { os.Exit(testenv.MainWithExamples(m)) }
