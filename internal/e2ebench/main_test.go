package main

import (
	"strings"
	"testing"
)

func TestKindOf(t *testing.T) {
	for name, want := range map[string]string{
		"kafka": "kafka", "kafka-1": "kafka", "cassandra-3": "cassandra", "postgres": "postgres",
		"cassandra-secure": "cassandra-secure", "pipeline": "pipeline",
	} {
		if got := kindOf(name); got != want {
			t.Errorf("kindOf(%q) = %q, want %q", name, got, want)
		}
	}
}

// A kind of several processes (a cluster's) gets a total column before
// its processes; a kind of one process, one column; a process missing
// from a run, an empty cell.
func TestPrintTable(t *testing.T) {
	runs := []result{
		{name: "a", seconds: 2, serverCPU: map[string]float64{"pipeline": 1, "kafka-1": 1, "kafka-2": 2, "postgres": 0.5}},
		{name: "b", seconds: 3, serverCPU: map[string]float64{"pipeline": 2, "kafka-1": 3, "postgres": 1}},
	}
	var b strings.Builder
	printTable(&b, runs, func(r result) map[string]float64 { return r.serverCPU }, "%.1f", true)
	want := `| run | wall s | pipeline | kafka total | kafka-1 | kafka-2 | postgres |
| --- | ---: | ---: | ---: | ---: | ---: | ---: |
| a | 2.0 | 1.0 | 3.0 | 1.0 | 2.0 | 0.5 |
| b | 3.0 | 2.0 | 3.0 | 3.0 | | 1.0 |
`
	if b.String() != want {
		t.Errorf("got\n%s\nwant\n%s", b.String(), want)
	}
}
