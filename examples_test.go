package userstream_test

import (
	"errors"
	"go/ast"
	"go/parser"
	"go/token"
	"maps"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/userstream/userstream/connect"
)

const module = "github.com/userstream/userstream"

// The examples are where an adopter learns how the public packages fit
// together, and what they can copy into a service of their own. Go forbids
// importing a module's internal packages from outside it, so no example may
// import one directly: a copy could not build. The public packages they
// import may use internal packages (Go allows it, as pgx and franz-go do),
// so only the examples' own imports are checked. Their tests may use
// internal/testenv: `go list` without -test leaves them out.
func TestExamplesUseOnlyPublicPackages(t *testing.T) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is needed to list the examples' imports: %v", err)
	}
	cmd := exec.Command(goBin, "list", "-f", "{{.ImportPath}}{{range .Imports}} {{.}}{{end}}", "./examples/...")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, exitStderr(err))
	}
	isInternal := func(pkg string) bool { return pkg == module+"/internal" || strings.HasPrefix(pkg, module+"/internal/") }
	var mains []string
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		pkg, imports := f[0], f[1:]
		mains = append(mains, pkg)
		public := 0
		for _, imp := range imports {
			if isInternal(imp) {
				t.Errorf("%s imports %s, which an adopter copying it cannot import", pkg, imp)
			} else if strings.HasPrefix(imp, module+"/") {
				public++
			}
		}
		if public == 0 {
			t.Errorf("%s imports none of the module's packages: is the listing right? %q", pkg, imports)
		}
	}
	for _, want := range []string{"consumer", "fullpipeline", "producer", "runs"} {
		if !slices.Contains(mains, module+"/examples/"+want) {
			t.Errorf("go list ./examples/... did not list examples/%s: %q", want, mains)
		}
	}
}

func exitStderr(err error) string {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return string(ee.Stderr)
	}
	return ""
}

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
// it honest: its servers publish the ports the examples default to, and the
// examples' environment points at those servers with the names each example
// reads. The addresses and the variables are package connect's, which
// producer, consumer and fullpipeline use; examples with a copy of their
// own (runs) must agree with it, read from their source.
func TestComposeFileAgreesWithDefaults(t *testing.T) {
	raw, err := os.ReadFile("examples/compose.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var f composeFile
	if err := yaml.Unmarshal(raw, &f); err != nil {
		t.Fatalf("parse compose.yaml: %v", err)
	}
	full := map[string]string{
		"defaultKafkaBrokers": connect.DefaultKafkaBrokers, "defaultCassandraHosts": connect.DefaultCassandraHosts,
		"defaultPostgresDSN": connect.DefaultPostgresDSN, "envKafkaBrokers": connect.EnvKafkaBrokers,
		"envCassandraHosts": connect.EnvCassandraHosts, "envPostgresDSN": connect.EnvPostgresDSN,
	}
	port := func(addr string) string {
		_, p, err := net.SplitHostPort(addr)
		if err != nil {
			t.Fatalf("default address %q: %v", addr, err)
		}
		return p
	}
	dsn, err := url.Parse(full["defaultPostgresDSN"])
	if err != nil || dsn.Port() == "" {
		t.Fatalf("connect.DefaultPostgresDSN %q: %v", full["defaultPostgresDSN"], err)
	}
	servers := map[string]string{
		"kafka":     port(full["defaultKafkaBrokers"]),
		"cassandra": port(full["defaultCassandraHosts"]),
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

	// Every example defaults to the same servers.
	for _, name := range []string{"producer", "consumer", "fullpipeline", "runs"} {
		c := exampleConsts(t, name)
		for _, k := range []string{"defaultKafkaBrokers", "defaultCassandraHosts", "defaultPostgresDSN", "envKafkaBrokers", "envCassandraHosts", "envPostgresDSN"} {
			if v, ok := c[k]; ok && v != full[k] {
				t.Errorf("examples/%s: %s = %q, package connect's is %q", name, k, v, full[k])
			}
		}
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
		c := full // the variables of package connect
		if name == "producer" {
			c = maps.Clone(full)
			delete(c, "envCassandraHosts") // the producer has no Cassandra
		}
		env := s.Environment
		if _, p, _ := net.SplitHostPort(env[c["envKafkaBrokers"]]); c["envKafkaBrokers"] == "" || p == "" {
			t.Errorf("%s: %s = %q, want a broker address", name, c["envKafkaBrokers"], env[c["envKafkaBrokers"]])
		}
		if e := c["envCassandraHosts"]; e != "" {
			if h, p, _ := net.SplitHostPort(env[e]); h != "cassandra" || p != servers["cassandra"] {
				t.Errorf("%s: %s = %q, want cassandra:%s", name, e, env[e], servers["cassandra"])
			}
		}
		u, err := url.Parse(env[c["envPostgresDSN"]])
		if c["envPostgresDSN"] == "" || err != nil || u.Hostname() != "postgres" || u.Port() != dsn.Port() || u.Path != dsn.Path || u.User.Username() != dsn.User.Username() {
			t.Errorf("%s: %s = %q, want the default DSN on host postgres", name, c["envPostgresDSN"], env[c["envPostgresDSN"]])
		}
		for _, dep := range []string{"kafka", "cassandra", "postgres"} {
			if _, ok := s.DependsOn[dep]; !ok {
				t.Errorf("%s does not depend on %s", name, dep)
			}
		}
	}
	// The kafka service's internal listener is what the examples use.
	broker := f.Services["consumer"].Environment[full["envKafkaBrokers"]]
	if adv := f.Services["kafka"].Environment["KAFKA_ADVERTISED_LISTENERS"]; broker == "" || !strings.Contains(adv, broker) {
		t.Errorf("examples use broker %q, which kafka does not advertise (%s)", broker, adv)
	}
}

// exampleConsts returns the string constants declared at the top level of
// examples/<name>, outside its tests.
func exampleConsts(t *testing.T, name string) map[string]string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("examples", name, "*.go"))
	if err != nil || len(files) == 0 {
		t.Fatalf("examples/%s: no Go files (%v)", name, err)
	}
	consts := map[string]string{}
	fset := token.NewFileSet()
	for _, file := range files {
		if strings.HasSuffix(file, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, file, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range f.Decls {
			gd, ok := d.(*ast.GenDecl)
			if !ok || gd.Tok != token.CONST {
				continue
			}
			for _, spec := range gd.Specs {
				vs := spec.(*ast.ValueSpec)
				for i, id := range vs.Names {
					if i < len(vs.Values) {
						if lit, ok := vs.Values[i].(*ast.BasicLit); ok && lit.Kind == token.STRING {
							consts[id.Name], _ = strconv.Unquote(lit.Value)
						}
					}
				}
			}
		}
	}
	return consts
}
