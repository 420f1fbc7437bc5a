package userstream_test

import (
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/gocql/gocql"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/scylladb/gocqlx/v2"
	"go.yaml.in/yaml/v3"

	"github.com/userstream/userstream/cassandrastore"
	"github.com/userstream/userstream/console"
	"github.com/userstream/userstream/randomuser"
)

// recordingRegisterer is a prometheus.Registerer that remembers every
// collector registered through it, so that their descriptions can be
// listed: a registry gathers only series that exist, and a vector with no
// child yet (a lag gauge before the first partition is assigned) has none.
type recordingRegisterer struct {
	reg *prometheus.Registry

	mu         sync.Mutex
	collectors []prometheus.Collector
}

func (r *recordingRegisterer) Register(c prometheus.Collector) error {
	err := r.reg.Register(c)
	if err == nil {
		r.mu.Lock()
		r.collectors = append(r.collectors, c)
		r.mu.Unlock()
	}
	return err
}

func (r *recordingRegisterer) MustRegister(cs ...prometheus.Collector) {
	for _, c := range cs {
		if err := r.Register(c); err != nil {
			panic(err)
		}
	}
}

func (r *recordingRegisterer) Unregister(c prometheus.Collector) bool { return r.reg.Unregister(c) }

// fqName reads a metric's name out of a Desc's String, the only place
// client_golang exposes it.
var fqName = regexp.MustCompile(`^Desc\{fqName: "([^"]+)"`)

// names returns the metric names the recorded collectors describe.
func (r *recordingRegisterer) names(t *testing.T) map[string]bool {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	names := map[string]bool{}
	for _, c := range r.collectors {
		ch := make(chan *prometheus.Desc)
		go func() {
			c.Describe(ch)
			close(ch)
		}()
		for d := range ch {
			m := fqName.FindStringSubmatch(d.String())
			if m == nil {
				t.Fatalf("cannot read the name of %v", d)
			}
			names[m[1]] = true
		}
	}
	return names
}

// sdkComponents builds every SDK component that registers metrics, with
// WithMetrics(reg), as an application would. Constructors do no I/O (each
// one's doc says so), so no server is needed.
func sdkComponents(t *testing.T, reg prometheus.Registerer) {
	t.Helper()
	if _, err := randomuser.New(randomuser.WithMetrics(reg)); err != nil {
		t.Fatalf("randomuser.New: %v", err)
	}
	// cassandrastore.New only checks that it was given a session; it sends
	// nothing through it until a method is called, and none is.
	if _, err := cassandrastore.New(gocqlx.Session{Session: &gocql.Session{}}, cassandrastore.WithMetrics(reg)); err != nil {
		t.Fatalf("cassandrastore.New: %v", err)
	}
	// The application registers the process collector (the examples do):
	// process_start_time_seconds comes from it.
	reg.MustRegister(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	kafkaAndPostgresComponents(t, reg)
}

// TestMetricsReadAreRegistered fails when the console or an alert rule
// reads a metric no SDK package registers: the names are those the real
// components describe on one registry, not a copy of them. (promtool's
// unit tests, make check-rules, feed the rules series of their own, so
// they would still pass.)
func TestMetricsReadAreRegistered(t *testing.T) {
	rec := &recordingRegisterer{reg: prometheus.NewRegistry()}
	sdkComponents(t, rec)
	registered := rec.names(t)
	if len(registered) == 0 {
		t.Fatal("the SDK components registered no metric")
	}
	check := func(reader, name string) {
		t.Helper()
		switch {
		case registered[name]:
		default:
			t.Errorf("%s reads %s, which no SDK package registers", reader, name)
		}
	}

	m := console.DefaultMetrics()
	for _, s := range slices.Concat(m.Stages, m.Errors) {
		check("console stage "+s.Name, s.Metric)
	}
	for what, name := range map[string]string{"lag": m.Lag, "latency": m.Latency, "last run": m.LastRun} {
		check("console "+what, name)
	}
	for _, f := range m.Freshness {
		check("console freshness "+f.Name, f.Metric)
	}

	for alert, names := range alertMetrics(t) {
		for _, name := range names {
			check("alert "+alert, name)
		}
	}
	// The rules' descriptions and their unit tests' series name metrics
	// too: a name there that nothing registers misleads whoever reads it.
	for _, f := range []string{"examples/prometheus/alerts.yml", "examples/prometheus/alerts_test.yml"} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		found := metricName.FindAllString(string(b), -1)
		slices.Sort(found)
		for _, name := range slices.Compact(found) {
			check(f, name)
		}
	}

	if t.Failed() {
		all := make([]string, 0, len(registered))
		for n := range registered {
			if strings.HasPrefix(n, "userstream_") {
				all = append(all, n)
			}
		}
		sort.Strings(all)
		t.Logf("registered: %s", strings.Join(all, " "))
	}
}

// metricName matches the names of userstream's and the process
// collector's metrics.
var metricName = regexp.MustCompile(`\b(?:userstream|process)_[a-z0-9_]+\b`)

// alertMetrics returns, by alert, the userstream_* and process_* names
// each rule of examples/prometheus/alerts.yml reads.
func alertMetrics(t *testing.T) map[string][]string {
	t.Helper()
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
	out := map[string][]string{}
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			names := metricName.FindAllString(r.Expr, -1)
			if len(names) == 0 {
				t.Errorf("alert %s reads no userstream metric: %q", r.Alert, r.Expr)
			}
			slices.Sort(names)
			out[r.Alert] = slices.Compact(names)
		}
	}
	if len(out) == 0 {
		t.Fatal("no alert rules read from examples/prometheus/alerts.yml")
	}
	return out
}
