package devstack

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// newTestStack is a stack in a fresh folder on host; nothing is started.
func newTestStack(t *testing.T, cfg Config) *Stack {
	t.Helper()
	cfg.Dir = t.TempDir()
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestConfigFromEnvDefaults(t *testing.T) {
	for _, v := range []string{"USERSTREAM_STACK_HOST", "USERSTREAM_STACK_TIMEOUT", "USERSTREAM_CASSANDRA_AUTH",
		"USERSTREAM_CASSANDRA_COMMITLOG", "USERSTREAM_STACK_SECURE", "USERSTREAM_REGISTRY", "JAVA_HOME"} {
		t.Setenv(v, "")
	}
	dir := t.TempDir()
	t.Setenv("USERSTREAM_STACK_DIR", dir)
	s, err := FromEnv()
	if err != nil {
		t.Fatal(err)
	}
	c := s.Config()
	if c.Host != "127.0.0.1" || c.Timeout.Seconds() != 180 || c.CassandraCommitlog != "periodic" ||
		c.CassandraAuth || c.Secure || c.Registry || c.Java != "java" {
		t.Errorf("defaults = %+v", c)
	}
	if want, _ := filepath.EvalSymlinks(dir); c.Dir != want {
		t.Errorf("Dir = %s, want %s", c.Dir, want)
	}
}

func TestConfigFromEnvSettings(t *testing.T) {
	t.Setenv("USERSTREAM_STACK_DIR", t.TempDir())
	t.Setenv("USERSTREAM_STACK_HOST", "127.0.0.2")
	t.Setenv("USERSTREAM_STACK_TIMEOUT", "7")
	t.Setenv("USERSTREAM_CASSANDRA_AUTH", "1")
	t.Setenv("USERSTREAM_CASSANDRA_COMMITLOG", "group")
	t.Setenv("USERSTREAM_STACK_SECURE", "1")
	t.Setenv("USERSTREAM_REGISTRY", "1")
	t.Setenv("JAVA_HOME", "/opt/jdk")
	s, err := FromEnv()
	if err != nil {
		t.Fatal(err)
	}
	c := s.Config()
	if c.Host != "127.0.0.2" || c.Timeout.Seconds() != 7 || c.CassandraCommitlog != "group" ||
		!c.CassandraAuth || !c.Secure || !c.Registry || c.Java != "/opt/jdk/bin/java" {
		t.Errorf("settings = %+v", c)
	}
}

func TestConfigRejects(t *testing.T) {
	for _, tc := range []struct {
		name, value string
	}{
		{"USERSTREAM_CASSANDRA_COMMITLOG", "batch"},
		{"USERSTREAM_STACK_HOST", "10.0.0.1"},
		{"USERSTREAM_STACK_HOST", "::1"},
		{"USERSTREAM_STACK_TIMEOUT", "soon"},
		{"USERSTREAM_STACK_NODES", "0"},
		{"USERSTREAM_STACK_NODES", "three"},
	} {
		t.Run(tc.name+"="+tc.value, func(t *testing.T) {
			t.Setenv("USERSTREAM_STACK_DIR", t.TempDir())
			t.Setenv(tc.name, tc.value)
			_, err := FromEnv()
			var ce *ConfigError
			if !errors.As(err, &ce) || ce.Name != tc.name {
				t.Fatalf("FromEnv() = %v, want a *ConfigError for %s", err, tc.name)
			}
		})
	}
}

// TestEnvLines: the export lines are the ones the shell supervisor
// printed, so that eval "$(devstack env)" and the Makefile see no change.
func TestEnvLines(t *testing.T) {
	s := newTestStack(t, Config{Secure: true, Registry: true})
	var got []string
	for _, v := range s.Env() {
		got = append(got, v.ExportLine())
	}
	d := s.Dir()
	want := []string{
		"export USERSTREAM_KAFKA_BROKERS=127.0.0.1:9092",
		"export USERSTREAM_CASSANDRA_HOSTS=127.0.0.1:9042",
		"export USERSTREAM_POSTGRES_DSN='postgres://userstream:userstream@127.0.0.1:5432/userstream?sslmode=disable'",
		"export USERSTREAM_TEST_TLS_CA_FILE=" + d + "/tls/ca.crt",
		"export USERSTREAM_TEST_KAFKA_SASL_BROKERS=127.0.0.1:9094",
		"export USERSTREAM_TEST_KAFKA_SASL_TLS_BROKERS=127.0.0.1:9095",
		"export USERSTREAM_TEST_KAFKA_USERNAME=userstream",
		"export USERSTREAM_TEST_KAFKA_PASSWORD_FILE=" + d + "/secrets/kafka.password",
		"export USERSTREAM_TEST_POSTGRES_TLS_DSN='postgres://userstream_secure@127.0.0.1:5432/userstream'",
		"export USERSTREAM_TEST_POSTGRES_PASSWORD_FILE=" + d + "/secrets/postgres.password",
		"export USERSTREAM_TEST_CASSANDRA_TLS_HOSTS=127.0.0.1:9142",
		"export USERSTREAM_TEST_CASSANDRA_USERNAME=userstream",
		"export USERSTREAM_TEST_CASSANDRA_PASSWORD_FILE=" + d + "/secrets/cassandra.password",
		"export USERSTREAM_TEST_SCHEMA_REGISTRY_URL=http://127.0.0.1:8081/apis/ccompat/v7",
	}
	if !slices.Equal(got, want) {
		t.Errorf("env:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	// Neither secure mode nor the registry, and neither running: the
	// plain and always-on secured variables only.
	plain := newTestStack(t, Config{Host: "127.0.0.2"})
	env := plain.Env()
	if len(env) != 10 || env[0].Value != "127.0.0.2:9092" {
		t.Errorf("plain env on 127.0.0.2 = %v", env)
	}
}

func TestStatusLines(t *testing.T) {
	for _, tc := range []struct {
		st   ServiceStatus
		want string
	}{
		{ServiceStatus{Kafka, Up, "SASL on 127.0.0.1:9094, SASL+TLS on 127.0.0.1:9095"}, "kafka             up (SASL on 127.0.0.1:9094, SASL+TLS on 127.0.0.1:9095)"},
		{ServiceStatus{Cassandra, Up, ""}, "cassandra         up"},
		{ServiceStatus{CassandraSecure, Up, "TLS + password on 127.0.0.1:9142"}, "cassandra-secure  up (TLS + password on 127.0.0.1:9142)"},
		{ServiceStatus{Postgres, Starting, ""}, "postgres          starting (process alive, not answering yet)"},
		{ServiceStatus{Registry, Down, ""}, "registry          down"},
	} {
		if got := tc.st.String(); got != tc.want {
			t.Errorf("%+v: %q, want %q", tc.st, got, tc.want)
		}
	}
}

// TestStatusOfEmptyFolder: nothing runs, so every service is down, and
// Status writes nothing into the folder.
func TestStatusOfEmptyFolder(t *testing.T) {
	// 127.0.0.9: no server of any stack listens there.
	s := newTestStack(t, Config{Host: "127.0.0.9"})
	sts := s.Status(t.Context())
	if len(sts) != 3 {
		t.Fatalf("status = %v, want kafka, cassandra, postgres", sts)
	}
	for _, st := range sts {
		if st.State != Down {
			t.Errorf("%v, want down", st)
		}
	}
	if ents, _ := os.ReadDir(s.Dir()); len(ents) != 0 {
		t.Errorf("status wrote into the folder: %v", ents)
	}
}

func TestParseService(t *testing.T) {
	for _, svc := range AllServices {
		if got, err := ParseService(string(svc)); err != nil || got != svc {
			t.Errorf("ParseService(%q) = %v, %v", svc, got, err)
		}
	}
	_, err := ParseService("zookeeper")
	if err == nil || err.Error() != "unknown service 'zookeeper': kafka|cassandra|postgres|cassandra-secure|registry|toxiproxy" {
		t.Errorf("ParseService(zookeeper) error = %v", err)
	}
}

// TestNodeLists: a node list of one host is today's layout (DIR/kafka,
// DIR/cassandra); of three, a node per address with its own folder, the
// same client ports and distinct JMX ports.
func TestNodeLists(t *testing.T) {
	one := kafkaNodes("/d", []string{"127.0.0.1"})
	if len(one) != 1 || one[0].Dir != "/d/kafka" || one[0].Addr() != "127.0.0.1:9092" || one[0].ID != 1 {
		t.Errorf("one broker = %+v", one)
	}
	hosts := []string{"127.0.0.1", "127.0.0.2", "127.0.0.3"}
	ks := kafkaNodes("/d", hosts)
	cs := cassandraNodes("/d", hosts)
	jmx := map[int]bool{jmxPort("127.0.0.1", 1): true}
	for i := range hosts {
		if ks[i].Dir != filepath.Join("/d", "kafka-"+string(rune('1'+i))) || ks[i].Host != hosts[i] || ks[i].ID != i+1 {
			t.Errorf("broker %d = %+v", i, ks[i])
		}
		if cs[i].Addr() != hosts[i]+":9042" || cs[i].Dir != filepath.Join("/d", "cassandra-"+string(rune('1'+i))) {
			t.Errorf("cassandra node %d = %+v", i, cs[i])
		}
		if jmx[cs[i].JMXPort] {
			t.Errorf("cassandra node %d: JMX port %d taken", i, cs[i].JMXPort)
		}
		jmx[cs[i].JMXPort] = true
	}
}

// TestCluster: three nodes make one KRaft quorum of three with replicated
// internal topics and min.insync.replicas 2, and one Cassandra ring seeded
// by its first node, on consecutive addresses with smaller heaps.
func TestCluster(t *testing.T) {
	s := newTestStack(t, Config{Host: "127.0.0.11", Nodes: 3})
	if len(s.kafka) != 3 || len(s.cassandra) != 3 {
		t.Fatalf("%d brokers, %d Cassandra nodes, want 3 each", len(s.kafka), len(s.cassandra))
	}
	env := map[string]string{}
	for _, v := range s.Env() {
		env[v.Name] = v.Value
	}
	if got, want := env["USERSTREAM_KAFKA_BROKERS"], "127.0.0.11:9092,127.0.0.12:9092,127.0.0.13:9092"; got != want {
		t.Errorf("brokers %q, want %q", got, want)
	}
	if got, want := env["USERSTREAM_CASSANDRA_HOSTS"], "127.0.0.11:9042,127.0.0.12:9042,127.0.0.13:9042"; got != want {
		t.Errorf("cassandra hosts %q, want %q", got, want)
	}
	if !strings.Contains(env["USERSTREAM_POSTGRES_DSN"], "@127.0.0.11:5432/") {
		t.Errorf("postgres DSN %q, want it on the first address", env["USERSTREAM_POSTGRES_DSN"])
	}
	b, err := s.kafkaServerProperties(s.kafka[2], "pw", "KEY\n", "CERT\n")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{
		"node.id=3\n",
		"controller.quorum.voters=1@127.0.0.11:9093,2@127.0.0.12:9093,3@127.0.0.13:9093\n",
		"listeners=PLAINTEXT://127.0.0.13:9092,CONTROLLER://127.0.0.13:9093,SASL_PLAINTEXT://127.0.0.13:9094,SASL_SSL://127.0.0.13:9095\n",
		"log.dirs=" + s.Dir() + "/kafka-3/data\n",
		"default.replication.factor=3\n",
		"min.insync.replicas=2\n",
		"offsets.topic.replication.factor=3\n",
		"broker.session.timeout.ms=9000\n",
		"broker.heartbeat.interval.ms=2000\n",
	} {
		if !strings.Contains(string(b), line) {
			t.Errorf("server.properties of broker 3 lacks %q", line)
		}
	}
	for _, n := range s.kafka {
		if n.Heap != "512m" {
			t.Errorf("broker %d heap %s, want 512m", n.ID, n.Heap)
		}
	}
	for i, n := range s.cassandra {
		c := s.cassandraConf(n, "/lib", "/lib/jamm.jar")
		if c.Seeds != "127.0.0.11:7000" || c.RingDelayMS == 0 || n.Heap != "1g" {
			t.Errorf("cassandra node %d: seeds %q, ring delay %d, heap %s", i+1, c.Seeds, c.RingDelayMS, n.Heap)
		}
		args, err := renderArgs("cassandra-jvm.options.tmpl", c)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Contains(args, "-Dcassandra.ring_delay_ms=5000") || !slices.Contains(args, "-Xmx1g") {
			t.Errorf("cassandra node %d options: %q", i+1, args)
		}
	}
	if _, err := New(Config{Dir: t.TempDir(), Host: "127.0.0.253", Nodes: 3}); err == nil {
		t.Error("3 nodes from 127.0.0.253: no error, want one (the last would be 127.0.0.255)")
	}
	for _, tc := range []struct {
		name string
		svc  Service
		i    int
		ok   bool
	}{{"kafka-2", Kafka, 1, true}, {"cassandra-3", Cassandra, 2, true}, {"cassandra-0", "", 0, false}, {"postgres-1", "", 0, false}, {"kafka", "", 0, false}} {
		svc, i, ok := ParseNode(tc.name)
		if svc != tc.svc || i != tc.i || ok != tc.ok {
			t.Errorf("ParseNode(%q) = %q, %d, %v", tc.name, svc, i, ok)
		}
	}
	if err := s.checkNode(Kafka, 3); err == nil {
		t.Error("checkNode(kafka, 3) on 3 brokers: no error")
	}
}

func TestKafkaServerProperties(t *testing.T) {
	s := newTestStack(t, Config{Host: "127.0.0.2"})
	key := "-----BEGIN PRIVATE KEY-----\nAAA\n-----END PRIVATE KEY-----\n"
	b, err := s.kafkaServerProperties(s.kafka[0], "pw123", key, "CERT\n")
	if err != nil {
		t.Fatal(err)
	}
	props := string(b)
	for _, line := range []string{
		"process.roles=broker,controller\n",
		"node.id=1\n",
		"controller.quorum.voters=1@127.0.0.2:9093\n",
		"listeners=PLAINTEXT://127.0.0.2:9092,CONTROLLER://127.0.0.2:9093,SASL_PLAINTEXT://127.0.0.2:9094,SASL_SSL://127.0.0.2:9095\n",
		"advertised.listeners=PLAINTEXT://127.0.0.2:9092,SASL_PLAINTEXT://127.0.0.2:9094,SASL_SSL://127.0.0.2:9095\n",
		`listener.name.sasl_ssl.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required user_userstream="pw123";` + "\n",
		`ssl.keystore.key=-----BEGIN PRIVATE KEY-----\nAAA\n-----END PRIVATE KEY-----\n` + "\n",
		`ssl.keystore.certificate.chain=CERT\n` + "\n",
		"log.dirs=" + s.Dir() + "/kafka/data\n",
		"offsets.topic.replication.factor=1\n",
		"transaction.state.log.min.isr=1\n",
	} {
		if !strings.Contains(props, line) {
			t.Errorf("server.properties lacks %q:\n%s", line, props)
		}
	}
	if strings.HasPrefix(props, "\n") || strings.Contains(props, "{{") {
		t.Errorf("server.properties starts blank or has a template hole:\n%s", props)
	}
}

func TestCassandraConfig(t *testing.T) {
	for _, tc := range []struct {
		name      string
		cfg       Config
		secure    bool
		want, not []string
	}{
		{"plain periodic", Config{}, false,
			[]string{"cluster_name: userstream\n", "authenticator: AllowAllAuthenticator\n", "commitlog_sync: periodic\ncommitlog_sync_period: 10000ms\n",
				"listen_address: 127.0.0.1\n", "native_transport_port: 9042\n", `- seeds: "127.0.0.1:7000"`},
			[]string{"client_encryption_options", "commitlog_sync: group"}},
		{"plain group with auth", Config{CassandraCommitlog: "group", CassandraAuth: true}, false,
			[]string{"authenticator: PasswordAuthenticator\n", "authorizer: CassandraAuthorizer\n", "commitlog_sync: group\ncommitlog_sync_group_window: 2ms\n"},
			[]string{"commitlog_sync_period"}},
		{"secure", Config{CassandraCommitlog: "group"}, true,
			[]string{"cluster_name: userstream-secure\n", "authenticator: PasswordAuthenticator\n", "native_transport_port: 9142\n",
				"storage_port: 7010\n", "commitlog_sync: periodic\n", "client_encryption_options:\n  enabled: true\n  optional: false\n",
				"class_name: org.apache.cassandra.security.PEMBasedSslContextFactory\n"},
			nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newTestStack(t, tc.cfg)
			n := s.cassandra[0]
			if tc.secure {
				n = s.secure
			}
			c := s.cassandraConf(n, "/lib", "/lib/jamm-0.4.0.jar")
			b, err := render("cassandra.yaml.tmpl", c)
			if err != nil {
				t.Fatal(err)
			}
			y := string(b)
			for _, w := range tc.want {
				if !strings.Contains(y, w) {
					t.Errorf("cassandra.yaml lacks %q:\n%s", w, y)
				}
			}
			for _, w := range tc.not {
				if strings.Contains(y, w) {
					t.Errorf("cassandra.yaml has %q:\n%s", w, y)
				}
			}
			args, err := renderArgs("cassandra-jvm.options.tmpl", c)
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range []string{"-Xms" + n.Heap, "-javaagent:/lib/jamm-0.4.0.jar", "-Dcassandra.config=file://" + n.Dir + "/conf/cassandra.yaml",
				"-Dcassandra.jmx.local.port=" + strconv.Itoa(n.JMXPort), "--add-opens", "java.base/java.net=ALL-UNNAMED", n.Dir + "/conf:/lib/*"} {
				if !slices.Contains(args, w) {
					t.Errorf("JVM options lack %q: %q", w, args)
				}
			}
			for _, a := range args {
				if strings.HasPrefix(a, "#") || strings.ContainsAny(a, " \t") {
					t.Errorf("JVM option %q: a comment or a space", a)
				}
			}
		})
	}
}

func TestOtherTemplates(t *testing.T) {
	s := newTestStack(t, Config{Host: "127.0.0.2"})
	b, err := render("postgresql.conf.tmpl", s.pg)
	if err != nil {
		t.Fatal(err)
	}
	if want := "listen_addresses = '127.0.0.2'\nport = 5432\nunix_socket_directories = '" + s.pg.Dir + "/run'\n"; !strings.HasPrefix(string(b), want) {
		t.Errorf("postgresql.conf:\n%s\nwant it to start with\n%s", b, want)
	}
	b, err = render("postgres-secure.sql.tmpl", struct{ Password, Role, Dir string }{"pw", PostgresSecRole, "/p"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(b), "\\set pw 'pw'\n") || !strings.Contains(string(b), "ALTER SYSTEM SET ssl_key_file = '/p/tls/server.key';\n") {
		t.Errorf("postgres-secure.sql:\n%s", b)
	}
	args, err := renderArgs("registry-jvm.options.tmpl", s.reg)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(args, "-Dquarkus.http.host=127.0.0.2") || args[len(args)-1] != s.reg.Dir+"/app/registry.jar" || args[len(args)-2] != "-jar" {
		t.Errorf("registry options: %q", args)
	}
	// The schemas outlive a restart, in a file of the registry's folder.
	if want := "-D%prod.quarkus.datasource.jdbc.url=jdbc:h2:file:" + s.reg.Dir + "/data/registry_db;LOCK_TIMEOUT=10000"; !slices.Contains(args, want) {
		t.Errorf("registry options: %q, want %s", args, want)
	}
	args, err = renderArgs("kafka-jvm.options.tmpl", struct{ Dir, Lib, Heap string }{"/k", "/k/lib", "1g"})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"-Xms256m", "-Xmx1g", "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20", "-Djava.awt.headless=true",
		"-Dlog4j2.configurationFile=/k/log4j2.properties", "-cp", "/k/lib/*"}; !slices.Equal(args, want) {
		t.Errorf("kafka options: %q, want %q", args, want)
	}
}

func TestHelp(t *testing.T) {
	h := newTestStack(t, Config{}).Help()
	for _, w := range []string{
		"Usage: devstack up|down|status|logs [SERVICE]|env|start SERVICE|stop SERVICE|kill SERVICE\n",
		"Apache Kafka 4.3.1 (KRaft, no ZooKeeper)  127.0.0.1:9092  (controller 127.0.0.1:9093)\n",
		"(kafka|cassandra|postgres|cassandra-secure|registry|toxiproxy)",
		"USERSTREAM_CASSANDRA_COMMITLOG",
	} {
		if !strings.Contains(h, w) {
			t.Errorf("help lacks %q:\n%s", w, h)
		}
	}
	if strings.Contains(h, "<no value>") {
		t.Errorf("help has an unfilled value:\n%s", h)
	}
}

// TestRegistryStamp: the stamp is the shell supervisor's (the version and
// the first 16 hex digits of sha256 over pom.xml and src/ in path order),
// computed from the files on disk, so an existing build is kept.
func TestRegistryStamp(t *testing.T) {
	h := sha256.New()
	b, err := os.ReadFile("registry/pom.xml")
	if err != nil {
		t.Fatal(err)
	}
	h.Write(b)
	var files []string
	filepath.Walk("registry/src", func(p string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			files = append(files, p)
		}
		return err
	})
	sort.Strings(files)
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		h.Write(b)
	}
	want := "2.4.2.Final " + hex.EncodeToString(h.Sum(nil))[:16]
	if got, err := registryStamp(); err != nil || got != want {
		t.Errorf("registryStamp() = %q, %v; want %q", got, err, want)
	}
}

// TestSecureInit: the certificate covers the stack's host, 127.0.0.1, ::1
// and localhost; a second run keeps it and the passwords; a folder made
// for 127.0.0.1 gets a new certificate when asked for 127.0.0.2.
func TestSecureInit(t *testing.T) {
	s := newTestStack(t, Config{})
	if err := s.secureInit(); err != nil {
		t.Fatal(err)
	}
	cert := readCert(t, filepath.Join(s.Dir(), "tls", "server.crt"))
	if err := cert.VerifyHostname("127.0.0.1"); err != nil {
		t.Error(err)
	}
	if err := cert.VerifyHostname("127.0.0.2"); err == nil {
		t.Error("a stack on 127.0.0.1 has a certificate for 127.0.0.2")
	}
	pw, _ := os.ReadFile(s.PasswordFile("kafka"))
	if fi, err := os.Stat(s.PasswordFile("kafka")); err != nil || fi.Mode().Perm() != 0o600 || len(pw) != 25 {
		t.Errorf("kafka.password: %v, %v, %d bytes", fi.Mode(), err, len(pw))
	}

	again, err := New(Config{Dir: s.Dir()})
	if err != nil {
		t.Fatal(err)
	}
	if err := again.secureInit(); err != nil {
		t.Fatal(err)
	}
	if c := readCert(t, filepath.Join(s.Dir(), "tls", "server.crt")); !c.Equal(cert) {
		t.Error("a second run replaced the certificate")
	}
	if pw2, _ := os.ReadFile(s.PasswordFile("kafka")); string(pw2) != string(pw) {
		t.Error("a second run replaced the password")
	}

	other, err := New(Config{Dir: s.Dir(), Host: "127.0.0.2"})
	if err != nil {
		t.Fatal(err)
	}
	if err := other.secureInit(); err != nil {
		t.Fatal(err)
	}
	c := readCert(t, filepath.Join(s.Dir(), "tls", "server.crt"))
	for _, h := range []string{"127.0.0.2", "127.0.0.1", "::1", "localhost"} {
		if err := c.VerifyHostname(h); err != nil {
			t.Errorf("%s: %v", h, err)
		}
	}
}

func readCert(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		t.Fatalf("%s: no PEM", path)
	}
	c, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestToxiproxy: with USERSTREAM_TOXIPROXY=1 each broker gets the PROXIED
// listener, advertised at its proxy's address, a proxy stands in front of
// each server, and Env exports the proxied addresses; without it nothing
// of that is there.
func TestToxiproxy(t *testing.T) {
	s := newTestStack(t, Config{Host: "127.0.0.21", Toxiproxy: true})
	b, err := s.kafkaServerProperties(s.kafka[0], "pw", "KEY\n", "CERT\n")
	if err != nil {
		t.Fatal(err)
	}
	props := string(b)
	for _, w := range []string{
		",PROXIED://127.0.0.21:9096\n",
		"advertised.listeners=PLAINTEXT://127.0.0.21:9092,SASL_PLAINTEXT://127.0.0.21:9094,SASL_SSL://127.0.0.21:9095,PROXIED://127.0.0.21:19092\n",
		",PROXIED:PLAINTEXT\n",
	} {
		if !strings.Contains(props, w) {
			t.Errorf("server.properties lacks %q:\n%s", w, props)
		}
	}
	want := []Proxy{
		{"kafka", "127.0.0.21:19092", "127.0.0.21:9096", true},
		{"cassandra", "127.0.0.21:19042", "127.0.0.21:9042", true},
		{"postgres", "127.0.0.21:15432", "127.0.0.21:5432", true},
	}
	if got := s.Proxies(); !slices.Equal(got, want) {
		t.Errorf("Proxies() = %v, want %v", got, want)
	}
	env := map[string]string{}
	for _, v := range s.Env() {
		env[v.Name] = v.Value
	}
	for k, v := range map[string]string{
		"USERSTREAM_TOXIPROXY_URL":        "http://127.0.0.21:8474",
		"USERSTREAM_TOXI_KAFKA_BROKERS":   "127.0.0.21:19092",
		"USERSTREAM_TOXI_CASSANDRA_HOSTS": "127.0.0.21:19042",
		"USERSTREAM_TOXI_POSTGRES_DSN":    "postgres://userstream:userstream@127.0.0.21:15432/userstream?sslmode=disable",
	} {
		if env[k] != v {
			t.Errorf("Env %s = %q, want %q", k, env[k], v)
		}
	}

	plain := newTestStack(t, Config{Host: "127.0.0.21"})
	b, err = plain.kafkaServerProperties(plain.kafka[0], "pw", "KEY\n", "CERT\n")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), "PROXIED") {
		t.Errorf("server.properties without Toxiproxy has a PROXIED listener:\n%s", b)
	}
	for _, v := range plain.Env() {
		if strings.Contains(v.Name, "TOXI") {
			t.Errorf("Env without Toxiproxy exports %s", v.Name)
		}
	}
}
