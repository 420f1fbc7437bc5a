package memlimit_test

import (
	"flag"
	"fmt"
	"io"
	"runtime/debug"
	"testing"

	"github.com/userstream/userstream/memlimit"
)

func TestSize(t *testing.T) {
	for in, want := range map[string]int64{"0": 0, "40MiB": 40 << 20, "1GiB": 1 << 30, "512KiB": 512 << 10, "1000": 1000, "1000B": 1000, " 2TiB ": 2 << 40} {
		var n int64 = -1
		if err := memlimit.Size(&n).Set(in); err != nil || n != want {
			t.Errorf("Set(%q) = %d, %v; want %d", in, n, err, want)
		}
	}
	for _, in := range []string{"", "-1", "40MB", "lots", "99999999999TiB", "1.5GiB"} {
		var n int64 = 7
		if err := memlimit.Size(&n).Set(in); err == nil || n != 7 {
			t.Errorf("Set(%q) accepted as %d", in, n)
		}
	}
	for n, want := range map[int64]string{0: "0B", 1000: "1000B", 40 << 20: "40MiB", 1536: "1536B", 3 << 40: "3TiB", 5 << 50: "5120TiB"} {
		if got := memlimit.Size(&n).String(); got != want {
			t.Errorf("String(%d) = %q, want %q", n, got, want)
		}
	}
}

// GOMEMLIMIT in the environment wins; 0 sets nothing.
func TestApply(t *testing.T) {
	before := debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetMemoryLimit(before) })

	t.Setenv("GOMEMLIMIT", "")
	if memlimit.Apply(0) || debug.SetMemoryLimit(-1) != before {
		t.Error("Apply(0) set a limit")
	}
	if !memlimit.Apply(123<<20) || debug.SetMemoryLimit(-1) != 123<<20 {
		t.Errorf("Apply(123MiB): limit %d", debug.SetMemoryLimit(-1))
	}
	t.Setenv("GOMEMLIMIT", "1GiB")
	if memlimit.Apply(7<<20) || debug.SetMemoryLimit(-1) != 123<<20 {
		t.Error("Apply with GOMEMLIMIT set changed the limit")
	}
}

func ExampleSize() {
	limit := int64(40 << 20)
	fs := flag.NewFlagSet("cmd", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Var(memlimit.Size(&limit), "memory-limit", "soft limit of the Go memory, e.g. 40MiB; 0: none; GOMEMLIMIT wins")
	fmt.Println(fs.Lookup("memory-limit").DefValue)
	if err := fs.Parse([]string{"-memory-limit", "1GiB"}); err != nil {
		fmt.Println(err)
	}
	fmt.Println(limit)
	// Output:
	// 40MiB
	// 1073741824
}
