// Package memlimit sets the Go runtime's soft memory limit from a command
// line flag, with GOMEMLIMIT in the environment taking precedence, and
// parses sizes the way GOMEMLIMIT does (40MiB, 1GiB).
//
// Left to GOGC alone, the heap of a streaming process grows to twice its
// live heap between collections; a soft limit makes the collector run
// sooner near the limit, for about the same CPU (BENCHMARKS.md measures
// the pipeline's). A limit is soft: the runtime exceeds it rather than
// fail.
//
//	limit := int64(40 << 20)
//	fs.Var(memlimit.Size(&limit), "memory-limit", "soft limit of the Go memory, e.g. 40MiB; 0: none; GOMEMLIMIT wins")
//	fs.Parse(os.Args[1:])
//	memlimit.Apply(limit)
package memlimit

import (
	"fmt"
	"math"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
)

// Apply sets the runtime's soft memory limit to bytes, unless bytes is 0
// or less (no limit set) or GOMEMLIMIT is set in the environment (the
// runtime applied it at start, and the operator's setting wins). It
// reports whether it set the limit.
func Apply(bytes int64) bool {
	if bytes <= 0 || os.Getenv("GOMEMLIMIT") != "" {
		return false
	}
	debug.SetMemoryLimit(bytes)
	return true
}

// Size returns a flag.Value of a size in bytes stored in *p, written as a
// whole number with an optional suffix B, KiB, MiB, GiB or TiB (powers of
// 1024, as in GOMEMLIMIT): "40MiB", "1000", "0". Set rejects negative
// sizes, other suffixes (40MB) and sizes beyond an int64. The flag's
// default is *p when the flag is registered.
func Size(p *int64) *SizeValue { return &SizeValue{p: p} }

// SizeValue is the flag.Value of [Size].
type SizeValue struct{ p *int64 }

var units = []string{"KiB", "MiB", "GiB", "TiB"}

// String writes the size with the largest suffix that divides it: 40MiB.
func (v *SizeValue) String() string {
	if v == nil || v.p == nil {
		return ""
	}
	n := *v.p
	for _, u := range append([]string{"B"}, units[:3]...) {
		if n%1024 != 0 || n < 1024 {
			return strconv.FormatInt(n, 10) + u
		}
		n /= 1024
	}
	return strconv.FormatInt(n, 10) + "TiB"
}

// Set parses s into the size.
func (v *SizeValue) Set(s string) error {
	num, mult := strings.TrimSpace(s), int64(1)
	for i, u := range units {
		if rest, ok := strings.CutSuffix(num, u); ok {
			num, mult = rest, 1<<(10*(i+1))
			break
		}
	}
	n, err := strconv.ParseInt(strings.TrimSuffix(num, "B"), 10, 64)
	if err != nil || n < 0 || n > math.MaxInt64/mult {
		return fmt.Errorf("%q: want a size such as 40MiB, or 0", s)
	}
	*v.p = n * mult
	return nil
}
