package devstack

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Versions of the servers the stack runs.
const (
	KafkaVersion     = "4.3.1"
	CassandraVersion = "5.0.6"
	ApicurioVersion  = "2.4.2.Final"
)

// DefaultHost is the loopback address every server listens on unless
// USERSTREAM_STACK_HOST (Config.Host) names another. It is the only place the
// address is written down: every node and listener derives from it.
const DefaultHost = "127.0.0.1"

// Fixed users of the secured listeners; their passwords are generated.
const (
	KafkaUser        = "userstream"
	CassandraUser    = "userstream"
	PostgresRole     = "userstream"
	PostgresSecRole  = "userstream_secure"
	postgresDatabase = "userstream"
)

// Service is one server of the stack, by the name the command line uses.
type Service string

// The services. Kafka and Cassandra are lists of nodes (one each today);
// the others are single servers.
const (
	Kafka           Service = "kafka"
	Cassandra       Service = "cassandra"
	Postgres        Service = "postgres"
	CassandraSecure Service = "cassandra-secure"
	Registry        Service = "registry"
	Toxiproxy       Service = "toxiproxy"
)

// AllServices lists every service in the order `down` stops them.
var AllServices = []Service{Kafka, Cassandra, CassandraSecure, Postgres, Registry, Toxiproxy}

// ParseService returns the service named s, or an error naming the valid
// ones.
func ParseService(s string) (Service, error) {
	for _, svc := range AllServices {
		if string(svc) == s {
			return svc, nil
		}
	}
	return "", fmt.Errorf("unknown service '%s': %s", s, serviceList())
}

// ParseNode reads the name of one node of a cluster, "kafka-2" or
// "cassandra-3" (from 1), as its service and index (from 0).
func ParseNode(name string) (Service, int, bool) {
	for _, svc := range []Service{Kafka, Cassandra} {
		if v, ok := strings.CutPrefix(name, string(svc)+"-"); ok {
			if n, err := strconv.Atoi(v); err == nil && n >= 1 {
				return svc, n - 1, true
			}
		}
	}
	return "", 0, false
}

func serviceList() string {
	names := make([]string, len(AllServices))
	for i, s := range []Service{Kafka, Cassandra, Postgres, CassandraSecure, Registry, Toxiproxy} {
		names[i] = string(s)
	}
	return strings.Join(names, "|")
}

// Config is what a Stack runs. FromEnv fills it from the USERSTREAM_*
// settings; the zero value of every field but Dir means its default.
type Config struct {
	// Dir holds all data, logs, classpaths and pid files
	// (USERSTREAM_STACK_DIR; default .devstack at the repository root).
	Dir string
	// Host is the loopback address every server listens on
	// (USERSTREAM_STACK_HOST; default DefaultHost). A second stack on
	// another 127.0.0.x address runs beside the first with the same ports.
	Host string
	// Timeout bounds the wait for each server to answer
	// (USERSTREAM_STACK_TIMEOUT in seconds; default 180 s).
	Timeout time.Duration
	// CassandraAuth starts the plain Cassandra node with
	// PasswordAuthenticator, superuser cassandra/cassandra
	// (USERSTREAM_CASSANDRA_AUTH=1; default off).
	CassandraAuth bool
	// CassandraCommitlog is "periodic" (default, Cassandra's own: a write is
	// acknowledged at once and the log synced every 10 s, so a killed node
	// forgets up to 10 s of acknowledged writes) or "group" (a write is
	// acknowledged once its group is synced: nothing acknowledged is lost,
	// at a fifth to a seventh of the write rate here)
	// (USERSTREAM_CASSANDRA_COMMITLOG). The fault suite's Cassandra kill runs
	// group (RELIABILITY.md).
	CassandraCommitlog string
	// Secure also runs cassandra-secure (USERSTREAM_STACK_SECURE=1).
	Secure bool
	// Registry also runs the schema registry (USERSTREAM_REGISTRY=1); its
	// URL is exported whenever it runs.
	Registry bool
	// Toxiproxy also runs the fault proxy (USERSTREAM_TOXIPROXY=1): Toxiproxy
	// on Host's API port 8474, with a proxy in front of each server on the
	// server's port plus 10000 (Proxies), and a Kafka listener behind its
	// proxy that advertises the proxy's address. The fault suite's network
	// scenarios drive it; `make demo` leaves it off.
	Toxiproxy bool
	// Nodes is the number of Kafka brokers and of Cassandra nodes
	// (USERSTREAM_STACK_NODES; default 1). More than one makes a cluster:
	// node i (from 1) listens on Host plus i-1 (127.0.0.11, .12, .13 for
	// `make cluster-up`), with the same ports on each address; the brokers
	// form one KRaft quorum, the Cassandra nodes one ring, and topics
	// created without a replication factor get min(Nodes, 3) replicas with
	// min.insync.replicas one less. PostgreSQL, the secured Cassandra and
	// the registry stay single servers on Host.
	Nodes int
	// Java is the java command (default $JAVA_HOME/bin/java, or java).
	Java string
}

// ConfigError is a setting that cannot be used.
type ConfigError struct {
	Name, Value, Want string
}

func (e *ConfigError) Error() string {
	return fmt.Sprintf("%s=%s: want %s", e.Name, e.Value, e.Want)
}

// ConfigFromEnv reads the USERSTREAM_* settings. An unset
// USERSTREAM_STACK_DIR means .devstack at the root of the module found
// above the working directory.
func ConfigFromEnv() (Config, error) {
	c := Config{
		Dir:                os.Getenv("USERSTREAM_STACK_DIR"),
		Host:               os.Getenv("USERSTREAM_STACK_HOST"),
		CassandraCommitlog: os.Getenv("USERSTREAM_CASSANDRA_COMMITLOG"),
		CassandraAuth:      os.Getenv("USERSTREAM_CASSANDRA_AUTH") == "1",
		Secure:             os.Getenv("USERSTREAM_STACK_SECURE") == "1",
		Registry:           os.Getenv("USERSTREAM_REGISTRY") == "1",
		Toxiproxy:          os.Getenv("USERSTREAM_TOXIPROXY") == "1",
	}
	if v := os.Getenv("USERSTREAM_STACK_NODES"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxNodes {
			return c, &ConfigError{"USERSTREAM_STACK_NODES", v, fmt.Sprintf("a number of nodes from 1 to %d", maxNodes)}
		}
		c.Nodes = n
	}
	if v := os.Getenv("USERSTREAM_STACK_TIMEOUT"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			return c, &ConfigError{"USERSTREAM_STACK_TIMEOUT", v, "a number of seconds"}
		}
		c.Timeout = time.Duration(n) * time.Second
	}
	if c.Dir == "" {
		root, err := moduleRoot()
		if err != nil {
			return c, err
		}
		c.Dir = filepath.Join(root, ".devstack")
	}
	if jh := os.Getenv("JAVA_HOME"); jh != "" {
		c.Java = filepath.Join(jh, "bin", "java")
	}
	return c, nil
}

// moduleRoot finds the userstream module's root above the working
// directory (the adopter example's own module is skipped).
func moduleRoot() (string, error) {
	d, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		b, err := os.ReadFile(filepath.Join(d, "go.mod"))
		if err == nil && bytes.Contains(b, []byte("module github.com/userstream/userstream\n")) {
			return d, nil
		}
		parent := filepath.Dir(d)
		if parent == d {
			return "", errors.New("USERSTREAM_STACK_DIR is unset and no userstream module is above the working directory")
		}
		d = parent
	}
}

// FromEnv returns the stack the USERSTREAM_* settings describe.
func FromEnv() (*Stack, error) {
	c, err := ConfigFromEnv()
	if err != nil {
		return nil, err
	}
	return New(c)
}

// Stack is the local server stack kept in one state folder. Its methods
// start, stop and look at the servers; the servers are detached processes
// that outlive the Stack (and the program), found again through their pid
// files.
//
// A Stack is not safe for concurrent use.
type Stack struct {
	// Log receives progress lines ("devstack: kafka ready after 3s"); nil
	// means os.Stderr.
	Log io.Writer

	cfg       Config
	kafka     []KafkaNode
	cassandra []CassandraNode // the plain ring
	secure    CassandraNode   // cassandra-secure: its own cluster of one
	pg        PostgresServer
	reg       RegistryServer
	toxi      ToxiproxyServer

	started   []Service
	initDone  bool // certificates and passwords made in this Stack
	scramSet  bool
	rolesSet  bool
	childMu   sync.Mutex
	childDone map[int]bool // pids of children started here that exited
}

// KafkaNode is one broker (KRaft: broker and controller in one process).
type KafkaNode struct {
	ID   int
	Host string
	// Port is the PLAINTEXT listener; the controller, SASL_PLAINTEXT and
	// SASL_SSL listeners are on ControllerPort, SASLPort and SASLTLSPort.
	// With Toxiproxy, a second PLAINTEXT listener (PROXIED) is on
	// ProxiedPort and advertises the proxy's address (ProxyAddr).
	Port, ControllerPort, SASLPort, SASLTLSPort, ProxiedPort int
	Heap                                                     string // -Xmx (1g; 512m in a cluster)
	Dir                                                      string // config, data, pid and log
}

func hp(host string, port int) string { return net.JoinHostPort(host, strconv.Itoa(port)) }

// Addr is the PLAINTEXT listener's address.
func (n KafkaNode) Addr() string { return hp(n.Host, n.Port) }

// ProxiedAddr is the listener Toxiproxy's kafka proxy forwards to.
func (n KafkaNode) ProxiedAddr() string { return hp(n.Host, n.ProxiedPort) }

// ProxyAddr is the address of Toxiproxy's proxy in front of the broker:
// the PLAINTEXT port plus 10000, what the PROXIED listener advertises.
func (n KafkaNode) ProxyAddr() string { return hp(n.Host, n.Port+proxyPortOffset) }

// ControllerAddr is the KRaft controller listener's address.
func (n KafkaNode) ControllerAddr() string { return hp(n.Host, n.ControllerPort) }

// SASLAddr is the SASL_PLAINTEXT listener's address.
func (n KafkaNode) SASLAddr() string { return hp(n.Host, n.SASLPort) }

// SASLTLSAddr is the SASL_SSL listener's address.
func (n KafkaNode) SASLTLSAddr() string { return hp(n.Host, n.SASLTLSPort) }

// CassandraNode is one Cassandra process.
type CassandraNode struct {
	Service     Service // the service it belongs to
	Cluster     string
	Host        string
	NativePort  int
	StoragePort int
	// JMXPort is the local JMX port (nodetool); 0 turns JMX off. Cassandra
	// binds local JMX to the loopback address whatever Host is, so every
	// node of the machine needs its own.
	JMXPort int
	Heap    string // -Xms and -Xmx
	TLS     bool   // client-to-node TLS required, PasswordAuthenticator
	Dir     string
}

// Addr is the native (CQL) address.
func (n CassandraNode) Addr() string { return hp(n.Host, n.NativePort) }

// PostgresServer is the PostgreSQL cluster.
type PostgresServer struct {
	Host string
	Port int
	Dir  string
}

// DSN is the plain role's connection string.
func (p PostgresServer) DSN() string {
	return fmt.Sprintf("postgres://%s:%s@%s/%s?sslmode=disable", PostgresRole, PostgresRole, hp(p.Host, p.Port), postgresDatabase)
}

// SecureDSN is the TLS-only role's connection string, without password or
// TLS settings: the password is in a file, and verify-full checks the host
// against the certificate.
func (p PostgresServer) SecureDSN() string {
	return fmt.Sprintf("postgres://%s@%s/%s", PostgresSecRole, hp(p.Host, p.Port), postgresDatabase)
}

// RegistryServer is the schema registry.
type RegistryServer struct {
	Host string
	Port int
	Dir  string
}

// URL is the registry's Confluent-compatible API.
func (r RegistryServer) URL() string { return "http://" + hp(r.Host, r.Port) + "/apis/ccompat/v7" }

// New returns the stack cfg describes, creating its folder.
func New(cfg Config) (*Stack, error) {
	if cfg.Dir == "" {
		return nil, errors.New("devstack: Config.Dir is empty")
	}
	if cfg.Host == "" {
		cfg.Host = DefaultHost
	}
	if ip := net.ParseIP(cfg.Host); ip == nil || !ip.IsLoopback() || ip.To4() == nil {
		return nil, &ConfigError{"USERSTREAM_STACK_HOST", cfg.Host, "an IPv4 loopback address (127.0.0.x)"}
	}
	if cfg.Nodes == 0 {
		cfg.Nodes = 1
	}
	if cfg.Nodes < 1 || cfg.Nodes > maxNodes {
		return nil, &ConfigError{"USERSTREAM_STACK_NODES", strconv.Itoa(cfg.Nodes), fmt.Sprintf("a number of nodes from 1 to %d", maxNodes)}
	}
	hosts, err := nodeHosts(cfg.Host, cfg.Nodes)
	if err != nil {
		return nil, err
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 180 * time.Second
	}
	switch cfg.CassandraCommitlog {
	case "":
		cfg.CassandraCommitlog = "periodic"
	case "periodic", "group":
	default:
		return nil, &ConfigError{"USERSTREAM_CASSANDRA_COMMITLOG", cfg.CassandraCommitlog, "periodic or group"}
	}
	if cfg.Java == "" {
		cfg.Java = "java"
	}
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return nil, err
	}
	dir, err := filepath.Abs(cfg.Dir)
	if err != nil {
		return nil, err
	}
	if d, err := filepath.EvalSymlinks(dir); err == nil {
		dir = d
	}
	cfg.Dir = dir
	s := &Stack{cfg: cfg, childDone: map[int]bool{}}
	s.kafka = kafkaNodes(dir, hosts)
	s.cassandra = cassandraNodes(dir, hosts)
	s.secure = CassandraNode{
		Service: CassandraSecure, Cluster: "userstream-secure", Host: cfg.Host,
		NativePort: 9142, StoragePort: 7010, JMXPort: jmxPort(cfg.Host, 1), Heap: "1g", TLS: true,
		Dir: filepath.Join(dir, string(CassandraSecure)),
	}
	s.pg = PostgresServer{Host: cfg.Host, Port: 5432, Dir: filepath.Join(dir, "postgres")}
	s.reg = RegistryServer{Host: cfg.Host, Port: 8081, Dir: filepath.Join(dir, "registry")}
	s.toxi = ToxiproxyServer{Host: cfg.Host, Port: toxiproxyAPIPort, Dir: filepath.Join(dir, "toxiproxy")}
	return s, nil
}

// maxNodes bounds a cluster: 2 cores and 24 GiB hold three nodes of each
// kind; more are allowed for a bigger machine.
const maxNodes = 9

// nodeHosts returns the addresses of n nodes: host and the n-1 addresses
// after it.
func nodeHosts(host string, n int) ([]string, error) {
	ip := net.ParseIP(host).To4()
	if ip == nil || int(ip[3])+n-1 > 254 {
		return nil, &ConfigError{"USERSTREAM_STACK_HOST", host, fmt.Sprintf("an IPv4 loopback address with %d more after it", n-1)}
	}
	hosts := make([]string, n)
	for i := range hosts {
		hosts[i] = net.IPv4(ip[0], ip[1], ip[2], ip[3]+byte(i)).String()
	}
	return hosts, nil
}

// kafkaNodes returns a broker per host. One host is today's stack: its
// folder is DIR/kafka. Several make a cluster whose node i (from 1) lives in
// DIR/kafka-i; every node has the same ports on its own address.
func kafkaNodes(dir string, hosts []string) []KafkaNode {
	nodes := make([]KafkaNode, len(hosts))
	for i, h := range hosts {
		nodes[i] = KafkaNode{ID: i + 1, Host: h, Port: 9092, ControllerPort: 9093, SASLPort: 9094, SASLTLSPort: 9095, ProxiedPort: 9096,
			Heap: "1g", Dir: nodeDir(dir, "kafka", i, len(hosts))}
		if len(hosts) > 1 {
			nodes[i].Heap = "512m" // three fit beside three Cassandra nodes in 24 GiB
		}
	}
	return nodes
}

// cassandraNodes returns a plain Cassandra node per host, as kafkaNodes.
func cassandraNodes(dir string, hosts []string) []CassandraNode {
	nodes := make([]CassandraNode, len(hosts))
	for i, h := range hosts {
		nodes[i] = CassandraNode{Service: Cassandra, Cluster: "userstream", Host: h, NativePort: 9042, StoragePort: 7000,
			JMXPort: jmxPort(h, 0), Heap: "2g", Dir: nodeDir(dir, "cassandra", i, len(hosts))}
		if len(hosts) > 1 {
			nodes[i].Heap = "1g" // three fit beside three brokers in 24 GiB
		}
	}
	return nodes
}

func nodeDir(dir, name string, i, n int) string {
	if n == 1 {
		return filepath.Join(dir, name)
	}
	return filepath.Join(dir, fmt.Sprintf("%s-%d", name, i+1))
}

// jmxPort gives each Cassandra node of the machine its own local JMX port:
// 7199 for the plain node on 127.0.0.1, 7200 for the secured one, and 100
// more per address above it (7299, 7300 on 127.0.0.2).
func jmxPort(host string, secure int) int {
	ip := net.ParseIP(host).To4()
	return 7199 + 100*(int(ip[3])-1) + secure
}

// Config returns the stack's settings, defaults filled in.
func (s *Stack) Config() Config { return s.cfg }

// Dir is the state folder.
func (s *Stack) Dir() string { return s.cfg.Dir }

// KafkaNodes returns the brokers.
func (s *Stack) KafkaNodes() []KafkaNode { return s.kafka }

// CassandraNodes returns the plain Cassandra nodes.
func (s *Stack) CassandraNodes() []CassandraNode { return s.cassandra }

// CassandraSecureNode returns the secured Cassandra node.
func (s *Stack) CassandraSecureNode() CassandraNode { return s.secure }

// Postgres returns the PostgreSQL server.
func (s *Stack) Postgres() PostgresServer { return s.pg }

// Registry returns the schema registry.
func (s *Stack) Registry() RegistryServer { return s.reg }

// Toxiproxy returns the fault proxy.
func (s *Stack) Toxiproxy() ToxiproxyServer { return s.toxi }

func (s *Stack) kafkaAddrs(f func(KafkaNode) string) string {
	a := make([]string, len(s.kafka))
	for i, n := range s.kafka {
		a[i] = f(n)
	}
	return strings.Join(a, ",")
}

func (s *Stack) cassandraAddrs() string {
	a := make([]string, len(s.cassandra))
	for i, n := range s.cassandra {
		a[i] = n.Addr()
	}
	return strings.Join(a, ",")
}

func (s *Stack) tlsDir() string     { return filepath.Join(s.cfg.Dir, "tls") }
func (s *Stack) secretsDir() string { return filepath.Join(s.cfg.Dir, "secrets") }

// CAFile is the certificate clients of the secured listeners trust.
func (s *Stack) CAFile() string { return filepath.Join(s.tlsDir(), "ca.crt") }

// PasswordFile is the generated password of name (kafka, cassandra,
// cassandra-admin, postgres).
func (s *Stack) PasswordFile(name string) string {
	return filepath.Join(s.secretsDir(), name+".password")
}

func (s *Stack) logf(format string, args ...any) {
	w := s.Log
	if w == nil {
		w = os.Stderr
	}
	fmt.Fprintf(w, "devstack: "+format+"\n", args...)
}

// EnvVar is one variable of the environment tests and examples read.
type EnvVar struct {
	Name, Value string
}

// Env returns the variables that point tests and examples at the stack:
// the plain servers, the secured ones (USERSTREAM_TEST_* names, so that
// nothing configures the pipeline's own clients by accident), the secured
// Cassandra in secure mode or while it runs, the fault proxy's API and the
// servers' proxied addresses (USERSTREAM_TOXIPROXY_URL, USERSTREAM_TOXI_*)
// when it is asked for or runs, and the registry's URL only
// (asked for, or running) under a name for the tests only
// (USERSTREAM_TEST_SCHEMA_REGISTRY_URL): the examples read
// USERSTREAM_SCHEMA_REGISTRY_URL as their -schema-registry default, and a
// registry running beside the tests must not switch the examples they run
// (or the fault suite) to registry mode.
func (s *Stack) Env() []EnvVar {
	env := []EnvVar{
		{"USERSTREAM_KAFKA_BROKERS", s.kafkaAddrs(KafkaNode.Addr)},
		{"USERSTREAM_CASSANDRA_HOSTS", s.cassandraAddrs()},
		{"USERSTREAM_POSTGRES_DSN", s.pg.DSN()},
		{"USERSTREAM_TEST_TLS_CA_FILE", s.CAFile()},
		{"USERSTREAM_TEST_KAFKA_SASL_BROKERS", s.kafkaAddrs(KafkaNode.SASLAddr)},
		{"USERSTREAM_TEST_KAFKA_SASL_TLS_BROKERS", s.kafkaAddrs(KafkaNode.SASLTLSAddr)},
		{"USERSTREAM_TEST_KAFKA_USERNAME", KafkaUser},
		{"USERSTREAM_TEST_KAFKA_PASSWORD_FILE", s.PasswordFile("kafka")},
		{"USERSTREAM_TEST_POSTGRES_TLS_DSN", s.pg.SecureDSN()},
		{"USERSTREAM_TEST_POSTGRES_PASSWORD_FILE", s.PasswordFile("postgres")},
	}
	if s.secureWanted() {
		env = append(env,
			EnvVar{"USERSTREAM_TEST_CASSANDRA_TLS_HOSTS", s.secure.Addr()},
			EnvVar{"USERSTREAM_TEST_CASSANDRA_USERNAME", CassandraUser},
			EnvVar{"USERSTREAM_TEST_CASSANDRA_PASSWORD_FILE", s.PasswordFile("cassandra")})
	}
	if s.registryWanted() {
		env = append(env, EnvVar{"USERSTREAM_TEST_SCHEMA_REGISTRY_URL", s.reg.URL()})
	}
	if s.toxiproxyWanted() {
		env = append(env, s.toxiproxyEnv()...)
	}
	return env
}

// ExportLine is v as a POSIX shell export line; connection strings are
// quoted (they hold ? and &).
func (v EnvVar) ExportLine() string {
	if strings.HasPrefix(v.Value, "postgres://") {
		return "export " + v.Name + "='" + v.Value + "'"
	}
	return "export " + v.Name + "=" + v.Value
}

// secureWanted: cassandra-secure is part of this stack (secure mode, or
// running).
func (s *Stack) secureWanted() bool {
	return s.cfg.Secure || pidAlive(pidFile(s.secure.Dir))
}

// registryWanted: the registry is part of this stack (asked for, or
// running).
func (s *Stack) registryWanted() bool {
	return s.cfg.Registry || pidAlive(pidFile(s.reg.Dir))
}

// Services returns the services this stack manages: the three plain ones,
// cassandra-secure in secure mode or while it runs, the registry and
// Toxiproxy each when asked for or while it runs.
func (s *Stack) Services() []Service {
	svcs := []Service{Kafka, Cassandra, Postgres}
	if s.secureWanted() {
		svcs = append(svcs, CassandraSecure)
	}
	if s.registryWanted() {
		svcs = append(svcs, Registry)
	}
	if s.toxiproxyWanted() {
		svcs = append(svcs, Toxiproxy)
	}
	return svcs
}
