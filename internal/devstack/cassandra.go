package devstack

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// cassandraConf is what cassandra.yaml.tmpl and cassandra-jvm.options.tmpl
// render.
type cassandraConf struct {
	Node                      CassandraNode
	Dir, Lib, Jamm            string
	Authenticator, Authorizer string
	Commitlog                 string // periodic or group (Config.CassandraCommitlog)
	Seeds                     string
	// RingDelayMS, when set, is how long a joining node waits for gossip
	// before it bootstraps (Cassandra's default 30 s is for real networks;
	// on loopback gossip settles in a second or two).
	RingDelayMS int
}

// cassandraYAML renders a node's cassandra.yaml. Seeds are the ring's
// first node (every node of a ring of one).
func (s *Stack) cassandraConf(n CassandraNode, lib, jamm string) cassandraConf {
	c := cassandraConf{Node: n, Dir: n.Dir, Lib: lib, Jamm: jamm, Commitlog: "periodic",
		Authenticator: "AllowAllAuthenticator", Authorizer: "AllowAllAuthorizer"}
	if n.TLS {
		c.Authenticator, c.Authorizer = "PasswordAuthenticator", "CassandraAuthorizer"
		c.Seeds = hp(n.Host, n.StoragePort)
		return c
	}
	if s.cfg.CassandraAuth {
		c.Authenticator, c.Authorizer = "PasswordAuthenticator", "CassandraAuthorizer"
	}
	c.Commitlog = s.cfg.CassandraCommitlog
	c.Seeds = hp(s.cassandra[0].Host, s.cassandra[0].StoragePort)
	if len(s.cassandra) > 1 {
		c.RingDelayMS = 5000
	}
	return c
}

func boolFlag(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

// startCassandra starts the plain nodes. In a ring they start one after
// another, each once the one before answers CQL: a node joining the ring
// takes its token ranges from the nodes already in it, and two joining at
// once are refused.
func (s *Stack) startCassandra(ctx context.Context) error {
	for i, n := range s.cassandra {
		if err := s.startCassandraNode(ctx, n); err != nil {
			return err
		}
		if len(s.cassandra) > 1 && i+1 < len(s.cassandra) {
			if err := s.awaitNode(ctx, Cassandra, i, func(context.Context) error { return s.cassandraNodeReady(n) }); err != nil {
				return err
			}
		}
	}
	return nil
}

// startCassandraNode starts a plain node, or checks that the running one
// has this stack's authenticator and commit log mode (switching needs a
// stop first: a restart under clients' feet is not this command's call).
func (s *Stack) startCassandraNode(ctx context.Context, n CassandraNode) error {
	auth, commitlog := boolFlag(s.cfg.CassandraAuth), s.cfg.CassandraCommitlog
	if pidAlive(pidFile(n.Dir)) {
		if have := readWord(filepath.Join(n.Dir, "auth"), ""); have != auth {
			return fmt.Errorf("Cassandra runs with USERSTREAM_CASSANDRA_AUTH=%s; run 'devstack stop cassandra' first to switch", have)
		}
		if have := readWord(filepath.Join(n.Dir, "commitlog"), "periodic"); have != commitlog {
			return fmt.Errorf("Cassandra runs with USERSTREAM_CASSANDRA_COMMITLOG=%s; run 'devstack stop cassandra' first to switch", have)
		}
		return nil
	}
	if portBusy(n.Addr()) {
		if s.cassandraNodeReady(n) == nil {
			s.logf("cassandra already answers on %s (started from another stack folder); using it", n.Addr())
			return nil
		}
		return fmt.Errorf("%s is in use by another process that is not Cassandra; stop it or point USERSTREAM_CASSANDRA_HOSTS at it", n.Addr())
	}
	if err := os.MkdirAll(n.Dir, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(n.Dir, "auth"), []byte(auth+"\n"), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(n.Dir, "commitlog"), []byte(commitlog+"\n"), 0o644); err != nil {
		return err
	}
	return s.launchCassandra(n)
}

func readWord(path, def string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return def
	}
	return strings.TrimSpace(string(b))
}

// startCassandraSecure starts the secured node: its own cluster and data,
// PasswordAuthenticator, and TLS required on its native port (a plaintext
// client is refused). The key and certificate are PEM, read by Cassandra's
// PEMBasedSslContextFactory; the key is not encrypted, so no password.
func (s *Stack) startCassandraSecure(ctx context.Context) error {
	n := s.secure
	if pidAlive(pidFile(n.Dir)) {
		return nil
	}
	if portBusy(n.Addr()) {
		if s.cassandraSecureAnswers(ctx) == nil {
			s.logf("cassandra-secure already answers on %s (started from another stack folder); using it", n.Addr())
			return nil
		}
		return fmt.Errorf("%s is in use by another process that is not the secured Cassandra", n.Addr())
	}
	if err := s.secureInit(); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Join(n.Dir, "conf"), 0o755); err != nil {
		return err
	}
	key, err := os.ReadFile(filepath.Join(s.tlsDir(), "server.key"))
	if err != nil {
		return err
	}
	cert, err := os.ReadFile(filepath.Join(s.tlsDir(), "server.crt"))
	if err != nil {
		return err
	}
	if err := writeFile(filepath.Join(n.Dir, "conf", "keystore.pem"), append(key, cert...), 0o600); err != nil {
		return err
	}
	return s.launchCassandra(n)
}

// launchCassandra writes a node's configuration and starts it.
func (s *Stack) launchCassandra(n CassandraNode) error {
	lib, err := s.classpath("cassandra", CassandraVersion)
	if err != nil {
		return err
	}
	jamm, _ := filepath.Glob(filepath.Join(lib, "jamm-*.jar"))
	if len(jamm) == 0 {
		return fmt.Errorf("no jamm-*.jar in %s: remove it to resolve Cassandra again", lib)
	}
	for _, d := range []string{"conf", "data"} {
		if err := os.MkdirAll(filepath.Join(n.Dir, d), 0o755); err != nil {
			return err
		}
	}
	c := s.cassandraConf(n, lib, jamm[0])
	for _, f := range []struct{ tmpl, name string }{
		{"cassandra.yaml.tmpl", "cassandra.yaml"},
		{"cassandra-logback.xml", "logback.xml"},
	} {
		b, err := render(f.tmpl, c)
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(n.Dir, "conf", f.name), b, 0o644); err != nil {
			return err
		}
	}
	opts, err := renderArgs("cassandra-jvm.options.tmpl", c)
	if err != nil {
		return err
	}
	argv := append([]string{s.cfg.Java}, opts...)
	argv = append(argv, "org.apache.cassandra.service.CassandraDaemon")
	if err := s.spawn(n.Dir, filepath.Join(n.Dir, "cassandra.log"), argv); err != nil {
		return err
	}
	s.markStarted(n.Service)
	return nil
}

// cassandraNodeReady: a plain node answers a CQL query (as the well-known
// superuser when USERSTREAM_CASSANDRA_AUTH=1).
func (s *Stack) cassandraNodeReady(n CassandraNode) error {
	if s.cfg.CassandraAuth {
		return probeCassandra(n.Addr(), "cassandra", "cassandra", "")
	}
	return probeCassandra(n.Addr(), "", "", "")
}

// cassandraReady: every plain node answers CQL; in a ring, every node also
// coordinates a write at consistency ALL (probeRing), which it refuses
// while it counts any replica down.
func (s *Stack) cassandraReady(context.Context) error {
	for _, n := range s.cassandra {
		if err := s.cassandraNodeReady(n); err != nil {
			return err
		}
	}
	if len(s.cassandra) == 1 {
		return nil
	}
	hosts := make([]string, len(s.cassandra))
	for i, n := range s.cassandra {
		hosts[i] = n.Addr()
	}
	user, pw := "", ""
	if s.cfg.CassandraAuth {
		user, pw = "cassandra", "cassandra"
	}
	return probeRing(hosts, user, pw)
}

// cassandraSecureReady sets up the roles (idempotent, once per Stack; it
// needs the default superuser, which Cassandra creates shortly after it
// starts listening), then logs in as the userstream role over TLS.
func (s *Stack) cassandraSecureReady(ctx context.Context) error {
	if !s.rolesSet {
		if err := cassandraSetup(s.secure.Addr(), s.CAFile(), s.PasswordFile("cassandra-admin"),
			CassandraUser, s.PasswordFile("cassandra")); err != nil {
			return err
		}
		s.rolesSet = true
	}
	return s.cassandraSecureAnswers(ctx)
}

func (s *Stack) cassandraSecureAnswers(context.Context) error {
	pw, err := readPassword(s.PasswordFile("cassandra"))
	if err != nil {
		return err
	}
	return probeCassandra(s.secure.Addr(), CassandraUser, pw, s.CAFile())
}
