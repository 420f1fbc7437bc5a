package devstack

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"
)

// ToxiproxyVersion is the fault proxy the stack runs when asked
// (USERSTREAM_TOXIPROXY=1): Shopify's Toxiproxy, built from its Go module.
const ToxiproxyVersion = "v2.5.0"

// toxiproxyModule is the command built into DIR/bin/toxiproxy-server.
const toxiproxyModule = "github.com/Shopify/toxiproxy/v2/cmd/server"

// Ports of the proxies, on each server's own address: the server's port
// plus 10000. Kafka's proxy forwards to a listener of its own on
// KafkaNode.ProxiedPort, which advertises the proxy's address, so that a
// client bootstrapping through the proxy stays on it for every connection.
const (
	toxiproxyAPIPort = 8474
	proxyPortOffset  = 10000
)

// ToxiproxyServer is the fault proxy: its API, and a proxy in front of each
// server.
type ToxiproxyServer struct {
	Host string
	Port int // the API
	Dir  string
}

// URL is Toxiproxy's HTTP API, for its Go client
// (github.com/Shopify/toxiproxy/v2/client).
func (t ToxiproxyServer) URL() string { return "http://" + hp(t.Host, t.Port) }

// Proxy is one proxy of Toxiproxy: its name in the API, the address
// clients connect to, and the server's address behind it.
type Proxy struct {
	Name     string `json:"name"`
	Listen   string `json:"listen"`
	Upstream string `json:"upstream"`
	Enabled  bool   `json:"enabled"`
}

// Proxies returns the proxies Toxiproxy runs: kafka (kafka-N on a
// cluster, one per broker), cassandra (cassandra-N), postgres, and
// registry when the registry is part of the stack. Each listens on its
// server's address, on the server's port plus 10000.
func (s *Stack) Proxies() []Proxy {
	var ps []Proxy
	name := func(svc Service, i int) string {
		if s.cfg.Nodes > 1 {
			return fmt.Sprintf("%s-%d", svc, i+1)
		}
		return string(svc)
	}
	for i, n := range s.kafka {
		ps = append(ps, Proxy{Name: name(Kafka, i), Listen: n.ProxyAddr(), Upstream: n.ProxiedAddr(), Enabled: true})
	}
	for i, n := range s.cassandra {
		ps = append(ps, Proxy{Name: name(Cassandra, i), Listen: hp(n.Host, n.NativePort+proxyPortOffset), Upstream: n.Addr(), Enabled: true})
	}
	ps = append(ps, Proxy{Name: string(Postgres), Listen: hp(s.pg.Host, s.pg.Port+proxyPortOffset), Upstream: hp(s.pg.Host, s.pg.Port), Enabled: true})
	if s.registryWanted() {
		ps = append(ps, Proxy{Name: string(Registry), Listen: hp(s.reg.Host, s.reg.Port+proxyPortOffset), Upstream: hp(s.reg.Host, s.reg.Port), Enabled: true})
	}
	return ps
}

// toxiproxyWanted: Toxiproxy is part of this stack (asked for, or
// running).
func (s *Stack) toxiproxyWanted() bool {
	return s.cfg.Toxiproxy || pidAlive(pidFile(s.toxi.Dir))
}

// toxiproxyEnv is what Env exports while Toxiproxy is part of the stack:
// its API and each server's address through its proxy.
func (s *Stack) toxiproxyEnv() []EnvVar {
	var brokers, hosts []string
	for _, n := range s.kafka {
		brokers = append(brokers, n.ProxyAddr())
	}
	for _, n := range s.cassandra {
		hosts = append(hosts, hp(n.Host, n.NativePort+proxyPortOffset))
	}
	pg := PostgresServer{Host: s.pg.Host, Port: s.pg.Port + proxyPortOffset}
	env := []EnvVar{
		{"USERSTREAM_TOXIPROXY_URL", s.toxi.URL()},
		{"USERSTREAM_TOXI_KAFKA_BROKERS", strings.Join(brokers, ",")},
		{"USERSTREAM_TOXI_CASSANDRA_HOSTS", strings.Join(hosts, ",")},
		{"USERSTREAM_TOXI_POSTGRES_DSN", pg.DSN()},
	}
	if s.registryWanted() {
		r := RegistryServer{Host: s.reg.Host, Port: s.reg.Port + proxyPortOffset}
		env = append(env, EnvVar{"USERSTREAM_TOXI_SCHEMA_REGISTRY_URL", r.URL()})
	}
	return env
}

// toxiproxyBuild builds Toxiproxy's server from its Go module into
// DIR/bin/toxiproxy-server, once per version (DIR/bin/toxiproxy-server.version
// says which): `go install` of the module at ToxiproxyVersion, resolved
// through the Go module proxy into the module cache, so a removed stack
// folder is rebuilt without network.
func (s *Stack) toxiproxyBuild() (string, error) {
	bin := filepath.Join(s.cfg.Dir, "bin", "toxiproxy-server")
	stamp := bin + ".version"
	if _, err := os.Stat(bin); err == nil && readWord(stamp, "") == ToxiproxyVersion {
		return bin, nil
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		return "", fmt.Errorf("devstack: go not found: Toxiproxy is built from its Go module (%s@%s)", toxiproxyModule, ToxiproxyVersion)
	}
	tmp, err := os.MkdirTemp(filepath.Join(s.cfg.Dir, "bin"), ".toxiproxy-build-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	s.logf("building Toxiproxy %s from its Go module", ToxiproxyVersion)
	cmd := exec.Command(goBin, "install", toxiproxyModule+"@"+ToxiproxyVersion)
	// Outside any module: `go install pkg@version` builds the module as
	// released, with its own go.mod, whatever module is around.
	cmd.Dir = tmp
	cmd.Env = append(os.Environ(), "GOBIN="+tmp, "GOFLAGS=-buildvcs=false")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("devstack: go install %s@%s: %w: %s", toxiproxyModule, ToxiproxyVersion, err, bytes.TrimSpace(out))
	}
	if err := os.Rename(filepath.Join(tmp, "server"), bin); err != nil {
		return "", err
	}
	return bin, os.WriteFile(stamp, []byte(ToxiproxyVersion+"\n"), 0o644)
}

func (s *Stack) startToxiproxy(ctx context.Context) error {
	t := s.toxi
	if pidAlive(pidFile(t.Dir)) {
		return nil
	}
	if portBusy(hp(t.Host, t.Port)) {
		return fmt.Errorf("%s is in use by another process (another Toxiproxy?); stop it", hp(t.Host, t.Port))
	}
	bin, err := s.toxiproxyBuild()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(t.Dir, 0o755); err != nil {
		return err
	}
	if err := s.spawn(t.Dir, filepath.Join(t.Dir, "toxiproxy.log"),
		[]string{bin, "-host", t.Host, "-port", fmt.Sprint(t.Port)}); err != nil {
		return err
	}
	s.markStarted(Toxiproxy)
	if len(s.kafka) > 0 && s.alive(Kafka) && !s.kafkaProxied() {
		s.logf("kafka runs without the listener its proxy forwards to (%s); restart it to add it: devstack stop kafka && devstack start kafka",
			s.kafka[0].ProxiedAddr())
	}
	return nil
}

// kafkaForProxy stops the brokers of this folder when Toxiproxy is asked
// for and they run without the PROXIED listener (started before it was),
// so that Up starts them again with it: without it the kafka proxy has
// nothing to forward to.
func (s *Stack) kafkaForProxy(ctx context.Context) error {
	if !s.cfg.Toxiproxy || !s.alive(Kafka) || s.kafkaProxied() {
		return nil
	}
	s.logf("kafka runs without the listener behind its proxy (%s): restarting it with it", s.kafka[0].ProxiedAddr())
	return s.stop(ctx, Kafka, syscall.SIGTERM)
}

// kafkaProxied: every broker runs with the listener behind its proxy.
func (s *Stack) kafkaProxied() bool {
	for _, n := range s.kafka {
		b, err := os.ReadFile(filepath.Join(n.Dir, "server.properties"))
		if err != nil || !hasLine(string(b), "listeners=", "PROXIED://") {
			return false
		}
	}
	return true
}

// toxiproxyReady: the API answers and holds every proxy of Proxies, each
// enabled with no toxic. It creates those missing (POST /populate, which
// leaves existing proxies as they are), so a registry started after
// Toxiproxy gets its proxy at the next `up` or `start toxiproxy`.
func (s *Stack) toxiproxyReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	body, err := json.Marshal(s.Proxies())
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.toxi.URL()+"/populate", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("toxiproxy: %w", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("toxiproxy: populate: %s: %s", resp.Status, bytes.TrimSpace(b))
	}
	return nil
}

// toxiproxyAnswers only looks: the API lists the proxies.
func (s *Stack) toxiproxyAnswers(ctx context.Context) ([]string, error) {
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.toxi.URL()+"/proxies", nil)
	if err != nil {
		return nil, err
	}
	cl := http.Client{Timeout: 5 * time.Second}
	resp, err := cl.Do(req)
	if err != nil {
		return nil, fmt.Errorf("toxiproxy: %w", err)
	}
	defer resp.Body.Close()
	var m map[string]json.RawMessage
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		return nil, fmt.Errorf("toxiproxy: proxies: %w", err)
	}
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	return names, nil
}
