package userstream_test

import (
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"go.yaml.in/yaml/v3"
)

// The alert rules in examples/prometheus read metrics the examples serve:
// a metric renamed or dropped in an example's metrics.go fails here, where
// promtool's unit tests (make check-rules), which feed the rules series of
// their own, would still pass. Every name an expr reads must be registered
// by some example: userstream_* with Namespace "userstream", process_* by
// the process collector.
func TestAlertRulesReadServedMetrics(t *testing.T) {
	b, err := os.ReadFile("examples/prometheus/alerts.yml")
	if err != nil {
		t.Fatal(err)
	}
	var rules struct {
		Groups []struct {
			Rules []struct {
				Alert string `yaml:"alert"`
				Expr  string `yaml:"expr"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	if err := yaml.Unmarshal(b, &rules); err != nil {
		t.Fatal(err)
	}

	served := map[string]bool{}
	files, err := filepath.Glob("examples/*/metrics.go")
	if err != nil || len(files) == 0 {
		t.Fatalf("no examples/*/metrics.go: %v", err)
	}
	registered := regexp.MustCompile(`(?:Name:\s*|(?:counter|histogram|count)\()"([a-z0-9_]+)"`)
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range registered.FindAllSubmatch(src, -1) {
			served["userstream_"+string(m[1])] = true
		}
		if regexp.MustCompile(`collectors\.NewProcessCollector`).Match(src) {
			served["process_start_time_seconds"] = true
		}
	}

	metric := regexp.MustCompile(`\b(?:userstream|process)_[a-z0-9_]+\b`)
	n := 0
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			names := metric.FindAllString(r.Expr, -1)
			if len(names) == 0 {
				t.Errorf("alert %s reads no userstream metric: %q", r.Alert, r.Expr)
			}
			for _, name := range names {
				if !served[name] {
					t.Errorf("alert %s reads %s, which no examples/*/metrics.go registers", r.Alert, name)
				}
			}
			n++
		}
	}
	if n == 0 {
		t.Error("no alert rules read from examples/prometheus/alerts.yml")
	}
}
