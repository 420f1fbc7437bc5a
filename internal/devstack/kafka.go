package devstack

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
)

// kafkaProps is what kafka-server.properties.tmpl renders.
type kafkaProps struct {
	Node            KafkaNode
	Voters          string // controller.quorum.voters
	User, Password  string
	KeyPEM, CertPEM string
	DataDir         string
	Replication     int // internal topics' replication factor
	MinISR          int
	Proxied         bool // the PROXIED listener, behind Toxiproxy
}

// kafkaServerProperties renders node's server.properties.
func (s *Stack) kafkaServerProperties(n KafkaNode, password, keyPEM, certPEM string) ([]byte, error) {
	voters := make([]string, len(s.kafka))
	for i, v := range s.kafka {
		voters[i] = strconv.Itoa(v.ID) + "@" + v.ControllerAddr()
	}
	repl := min(len(s.kafka), 3)
	return render("kafka-server.properties.tmpl", kafkaProps{
		Node: n, Voters: strings.Join(voters, ","), User: KafkaUser, Password: password,
		KeyPEM: keyPEM, CertPEM: certPEM, DataDir: filepath.Join(n.Dir, "data"),
		Replication: repl, MinISR: max(1, repl-1), Proxied: s.cfg.Toxiproxy,
	})
}

func (s *Stack) startKafka(ctx context.Context) error {
	for _, n := range s.kafka {
		if err := s.startKafkaNode(ctx, n); err != nil {
			return err
		}
	}
	return nil
}

func (s *Stack) startKafkaNode(ctx context.Context, n KafkaNode) error {
	if pidAlive(pidFile(n.Dir)) {
		return nil
	}
	if portBusy(n.Addr()) {
		if probeKafka(ctx, n.Addr(), 1) == nil {
			s.logf("kafka already answers on %s (started from another stack folder); using it", n.Addr())
			return nil
		}
		return fmt.Errorf("%s is in use by another process that is not Kafka; stop it or point USERSTREAM_KAFKA_BROKERS at it", n.Addr())
	}
	lib, err := s.classpath("kafka", KafkaVersion)
	if err != nil {
		return err
	}
	if err := s.secureInit(); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Join(n.Dir, "data"), 0o755); err != nil {
		return err
	}
	pw, err := readPassword(s.PasswordFile("kafka"))
	if err != nil {
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
	props, err := s.kafkaServerProperties(n, pw, string(key), string(cert))
	if err != nil {
		return err
	}
	// It holds the PLAIN password and the TLS key: owner only.
	propsPath := filepath.Join(n.Dir, "server.properties")
	if err := writeFile(propsPath, props, 0o600); err != nil {
		return err
	}
	log4j, err := render("kafka-log4j2.properties", nil)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(n.Dir, "log4j2.properties"), log4j, 0o644); err != nil {
		return err
	}
	opts, err := renderArgs("kafka-jvm.options.tmpl", struct{ Dir, Lib, Heap string }{n.Dir, lib, n.Heap})
	if err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(n.Dir, "data", "meta.properties")); err != nil {
		if err := s.kafkaFormat(n, opts, propsPath, pw); err != nil {
			return err
		}
	}
	argv := append([]string{s.cfg.Java}, opts...)
	argv = append(argv, "kafka.Kafka", propsPath)
	if err := s.spawn(n.Dir, filepath.Join(n.Dir, "kafka.log"), argv); err != nil {
		return err
	}
	s.markStarted(Kafka)
	return nil
}

// kafkaFormat formats a node's KRaft storage with the stack's cluster id
// and the SCRAM user in it. The password goes in a java @argument file, so
// it never shows in ps.
func (s *Stack) kafkaFormat(n KafkaNode, opts []string, propsPath, pw string) error {
	id, err := s.kafkaClusterID()
	if err != nil {
		return err
	}
	var args strings.Builder
	for _, a := range []string{"kafka.tools.StorageTool", "format", "-t", id, "-c", propsPath,
		"--add-scram", "SCRAM-SHA-512=[name=" + KafkaUser + ",password=" + pw + "]"} {
		args.WriteString(strconv.Quote(a) + "\n")
	}
	argsPath := filepath.Join(n.Dir, "format.args")
	if err := os.WriteFile(argsPath, []byte(args.String()), 0o600); err != nil {
		return err
	}
	defer os.Remove(argsPath)
	logPath := filepath.Join(n.Dir, "format.log")
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd := exec.Command(s.cfg.Java, append(opts, "@"+argsPath)...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Run(); err != nil {
		t, _ := tail(logPath, 40)
		return fmt.Errorf("formatting Kafka's KRaft storage failed%w", &logError{err: err, tail: t})
	}
	// It lists the SCRAM user's stored keys.
	return os.Chmod(logPath, 0o600)
}

// kafkaClusterID returns the stack's Kafka cluster id, made once and kept
// in DIR/kafka-cluster-id: every broker of a cluster is formatted with the
// same one (a broker with another refuses to join).
func (s *Stack) kafkaClusterID() (string, error) {
	path := filepath.Join(s.cfg.Dir, "kafka-cluster-id")
	if id := readWord(path, ""); id != "" {
		return id, nil
	}
	id := newKafkaClusterID()
	return id, os.WriteFile(path, []byte(id+"\n"), 0o644)
}

// newKafkaClusterID makes an id as Kafka's random-uuid does: 16 random
// bytes in unpadded URL-safe base64, not starting with '-' (Kafka's tools
// would read it as a flag).
func newKafkaClusterID() string {
	for {
		var b [16]byte
		_, _ = rand.Read(b[:])
		if id := base64.RawURLEncoding.EncodeToString(b[:]); id[0] != '-' {
			return id
		}
	}
}

func (s *Stack) kafkaReady(ctx context.Context) error {
	return probeKafka(ctx, s.kafkaAddrs(KafkaNode.Addr), len(s.kafka))
}

// kafkaSecured: every broker was started by this folder with the secured
// listeners (a broker started before they existed needs a restart).
func (s *Stack) kafkaSecured() bool {
	for _, n := range s.kafka {
		if !pidAlive(pidFile(n.Dir)) {
			return false
		}
		b, err := os.ReadFile(filepath.Join(n.Dir, "server.properties"))
		if err != nil || !hasLine(string(b), "listeners=", "SASL_SSL") {
			return false
		}
	}
	return true
}

func hasLine(text, prefix, sub string) bool {
	for _, l := range strings.Split(text, "\n") {
		if strings.HasPrefix(l, prefix) && strings.Contains(l, sub) {
			return true
		}
	}
	return false
}

// kafkaSecureReady sets the SCRAM user (an upsert, once per Stack) through
// the PLAINTEXT listener, then checks the secured listeners.
func (s *Stack) kafkaSecureReady(ctx context.Context) error {
	if !s.scramSet {
		if err := kafkaSCRAM(ctx, s.kafkaAddrs(KafkaNode.Addr), KafkaUser, s.PasswordFile("kafka")); err != nil {
			return err
		}
		s.scramSet = true
	}
	return s.kafkaSASLAnswers(ctx)
}

// kafkaSASLAnswers authenticates with each mechanism on each secured
// listener of each broker.
func (s *Stack) kafkaSASLAnswers(ctx context.Context) error {
	pwf := s.PasswordFile("kafka")
	for _, n := range s.kafka {
		for _, l := range []struct{ addr, ca string }{{n.SASLAddr(), ""}, {n.SASLTLSAddr(), s.CAFile()}} {
			for _, mech := range []string{"SCRAM-SHA-512", "PLAIN"} {
				if err := probeKafkaSecure(ctx, l.addr, mech, KafkaUser, pwf, l.ca); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// kafkaSecure brings up the secured side of brokers this folder runs (a
// broker found running from another stack folder is that folder's
// business).
func (s *Stack) kafkaSecure(ctx context.Context) error {
	if s.kafkaSecured() {
		return s.await(ctx, Kafka, "kafka-secure", s.kafkaSecureReady)
	}
	if s.alive(Kafka) {
		n := s.kafka[0]
		s.logf("kafka was started without the SASL listeners (%s, %s); restart it to add them: devstack stop kafka && devstack start kafka", n.SASLAddr(), n.SASLTLSAddr())
	}
	return nil
}
