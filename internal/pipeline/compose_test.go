package pipeline

import (
	"net"
	"net/url"
	"os"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

type composeFile struct {
	Services map[string]struct {
		Image       string            `yaml:"image"`
		Ports       []string          `yaml:"ports"`
		Environment map[string]string `yaml:"environment"`
		Command     []string          `yaml:"command"`
		DependsOn   map[string]any    `yaml:"depends_on"`
	} `yaml:"services"`
}

// compose.yaml is not run in CI (no Docker engine here), so this test keeps
// it honest: its servers publish the ports the code defaults to, and the
// examples' environment points at those servers with the code's names.
func TestComposeFileAgreesWithDefaults(t *testing.T) {
	raw, err := os.ReadFile("../../examples/compose.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var f composeFile
	if err := yaml.Unmarshal(raw, &f); err != nil {
		t.Fatalf("parse compose.yaml: %v", err)
	}
	port := func(addr string) string {
		_, p, err := net.SplitHostPort(addr)
		if err != nil {
			t.Fatalf("default address %q: %v", addr, err)
		}
		return p
	}
	dsn, err := url.Parse(DefaultPostgresDSN)
	if err != nil {
		t.Fatal(err)
	}
	servers := map[string]string{
		"kafka":     port(DefaultKafkaBrokers),
		"cassandra": port(DefaultCassandraHosts),
		"postgres":  dsn.Port(),
	}
	for name, p := range servers {
		s, ok := f.Services[name]
		if !ok {
			t.Errorf("compose.yaml has no %s service", name)
			continue
		}
		if !slices.Contains(s.Ports, p+":"+p) {
			t.Errorf("%s publishes %v, want %s:%s (the code's default port)", name, s.Ports, p, p)
		}
	}
	pg := f.Services["postgres"].Environment
	pass, _ := dsn.User.Password()
	if pg["POSTGRES_USER"] != dsn.User.Username() || pg["POSTGRES_PASSWORD"] != pass || pg["POSTGRES_DB"] != strings.TrimPrefix(dsn.Path, "/") {
		t.Errorf("postgres environment %v does not match the default DSN's user, password and database", pg)
	}
	if f.Services["kafka"].Environment["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] != "false" {
		t.Error("kafka must not create topics automatically: the pipeline creates its topics with their partitions")
	}
	if !strings.Contains(f.Services["cassandra"].Image, "cassandra:5.0") {
		t.Errorf("cassandra image %q, want the 5.0 line the local stack runs", f.Services["cassandra"].Image)
	}

	for _, name := range []string{"fullpipeline", "producer", "consumer"} {
		s, ok := f.Services[name]
		if !ok {
			t.Errorf("compose.yaml has no %s service", name)
			continue
		}
		if len(s.Command) == 0 || s.Command[0] != name {
			t.Errorf("%s runs %v, want the %s binary", name, s.Command, name)
		}
		if _, err := os.Stat("../../examples/" + name + "/main.go"); err != nil {
			t.Errorf("%s: no examples/%s/main.go to build", name, name)
		}
		env := s.Environment
		if _, p, _ := net.SplitHostPort(env[EnvKafkaBrokers]); env[EnvKafkaBrokers] == "" || p == "" {
			t.Errorf("%s: %s = %q, want a broker address", name, EnvKafkaBrokers, env[EnvKafkaBrokers])
		}
		if h, p, _ := net.SplitHostPort(env[EnvCassandraHosts]); h != "cassandra" || p != servers["cassandra"] {
			t.Errorf("%s: %s = %q, want cassandra:%s", name, EnvCassandraHosts, env[EnvCassandraHosts], servers["cassandra"])
		}
		u, err := url.Parse(env[EnvPostgresDSN])
		if err != nil || u.Hostname() != "postgres" || u.Port() != dsn.Port() || u.Path != dsn.Path || u.User.Username() != dsn.User.Username() {
			t.Errorf("%s: %s = %q, want the default DSN on host postgres", name, EnvPostgresDSN, env[EnvPostgresDSN])
		}
		for _, dep := range []string{"kafka", "cassandra", "postgres"} {
			if _, ok := s.DependsOn[dep]; !ok {
				t.Errorf("%s does not depend on %s", name, dep)
			}
		}
	}
	// The kafka service's internal listener is what the examples use.
	if adv := f.Services["kafka"].Environment["KAFKA_ADVERTISED_LISTENERS"]; !strings.Contains(adv, f.Services["consumer"].Environment[EnvKafkaBrokers]) {
		t.Errorf("examples use broker %q, which kafka does not advertise (%s)", f.Services["consumer"].Environment[EnvKafkaBrokers], adv)
	}
}
