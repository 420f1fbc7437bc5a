package testenv

import (
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"
)

// MainWithExamples runs m, the tests of a package whose Example functions
// need the servers named by the environment variables vars, and returns
// the exit code for os.Exit. Call it from TestMain:
//
//	func TestMain(m *testing.M) {
//		os.Exit(testenv.MainWithExamples(m, testenv.PostgresDSNEnv))
//	}
//
// Examples cannot skip themselves: they read the variables as a program
// would, and check their output. So when one of vars is unset, the Examples
// are left out (^Example is added to -test.skip) with a line saying why,
// and the tests run as usual (each skips or fails on its own). When
// USERSTREAM_REQUIRE_INTEGRATION=1, leaving the Examples out fails the
// package instead: exit code 1, with a FAIL line naming the variables.
func MainWithExamples(m *testing.M, vars ...string) int {
	if !flag.Parsed() {
		flag.Parse()
	}
	var missing []string
	for _, v := range vars {
		if strings.TrimSpace(os.Getenv(v)) == "" {
			missing = append(missing, v)
		}
	}
	if len(missing) == 0 {
		return m.Run()
	}
	why := strings.Join(missing, ", ") + " not set"
	if err := skipExamples(); err != nil {
		fmt.Fprintf(os.Stderr, "testenv: cannot leave the Examples out (%s): %v\n", why, err)
		return 1
	}
	if os.Getenv(RequireEnv) == "1" {
		code := m.Run()
		fmt.Fprintf(os.Stderr, "FAIL: the Examples need a server: %s, and %s=1 (run `make up` and export what it prints)\n", why, RequireEnv)
		return max(code, 1)
	}
	fmt.Fprintf(os.Stderr, "testenv: Examples skipped: %s (run `make up` and export what it prints)\n", why)
	return m.Run()
}

// skipExamples adds ^Example to the -test.skip pattern.
func skipExamples() error {
	f := flag.Lookup("test.skip")
	if f == nil {
		return fmt.Errorf("no -test.skip flag (Go 1.20 or later has one)")
	}
	pattern := "^Example"
	switch cur := f.Value.String(); {
	case cur == "":
	case strings.Contains(cur, "/"):
		// A pattern with levels (Test/sub) cannot be joined by |.
		return fmt.Errorf("-test.skip %q has a /: add ^Example to it yourself", cur)
	default:
		pattern = "(?:" + cur + ")|" + pattern
	}
	return flag.Set("test.skip", pattern)
}
