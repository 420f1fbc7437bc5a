package secure_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/gocql/gocql"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/userstream/userstream/secure"
)

const pw = "Sup3r-s3cret pw" // distinctive, with a space that must survive

func TestLoadNothingSet(t *testing.T) {
	cfg, err := secure.Load(lookupMap(nil))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Kafka.Enabled() || cfg.Cassandra.Enabled() || cfg.Postgres.Enabled() {
		t.Fatalf("nothing set, yet enabled: %v", cfg)
	}
	kopts, err := cfg.Kafka.Opts()
	if err != nil || len(kopts) != 0 {
		t.Fatalf("kafka opts %d, %v: want none", len(kopts), err)
	}
	cluster := gocql.NewCluster("127.0.0.1")
	if err := cfg.Cassandra.Apply(cluster); err != nil || cluster.Authenticator != nil || cluster.SslOpts != nil {
		t.Fatalf("cassandra: authenticator %v, TLS %v, %v: want neither", cluster.Authenticator, cluster.SslOpts, err)
	}
	const dsn = "postgres://u@h/db?sslmode=disable"
	if got, err := cfg.Postgres.DSN(dsn); err != nil || got != dsn {
		t.Fatalf("DSN %q, %v: want it unchanged", got, err)
	}
}

func TestLoadEverything(t *testing.T) {
	ca := newTestCA(t)
	caFile := ca.file(t)
	certFile, keyFile, _ := ca.issue(t, "client")
	pwFile := writeTemp(t, "pw", pw+"\n")
	cfg, err := secure.Load(lookupMap(map[string]string{
		secure.EnvKafkaSASLMechanism:   " plain ",
		secure.EnvKafkaUsername:        "alice",
		secure.EnvKafkaPasswordFile:    pwFile,
		secure.EnvKafkaTLSCAFile:       caFile,
		secure.EnvKafkaTLSServerName:   "kafka.example",
		secure.EnvCassandraUsername:    "bob",
		secure.EnvCassandraPassword:    pw,
		secure.EnvCassandraTLS:         "true",
		secure.EnvCassandraTLSCertFile: certFile,
		secure.EnvCassandraTLSKeyFile:  keyFile,
		secure.EnvPostgresPassword:     pw,
		secure.EnvPostgresTLSCAFile:    caFile,
	}))
	if err != nil {
		t.Fatal(err)
	}
	k, c, p := cfg.Kafka, cfg.Cassandra, cfg.Postgres
	if k.Mechanism != secure.Plain || k.Username != "alice" || k.Password.Reveal() != pw ||
		!k.TLS.Enabled || k.TLS.CAFile != caFile || k.TLS.ServerName != "kafka.example" {
		t.Errorf("kafka = %v", k)
	}
	if c.Username != "bob" || c.Password.Reveal() != pw || !c.TLS.Enabled || c.TLS.CertFile != certFile {
		t.Errorf("cassandra = %v", c)
	}
	if p.Password.Reveal() != pw || !p.TLS.Enabled || p.TLS.CAFile != caFile {
		t.Errorf("postgres = %v", p)
	}
}

func TestLoadDefaultsToSCRAM(t *testing.T) {
	cfg, err := secure.Load(lookupMap(map[string]string{secure.EnvKafkaUsername: "u", secure.EnvKafkaPassword: pw}))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Kafka.Mechanism != secure.ScramSHA512 || cfg.Kafka.TLS.Enabled {
		t.Fatalf("kafka = %v, want SCRAM-SHA-512 without TLS", cfg.Kafka)
	}
}

// TestLoadErrors checks that each mistake is reported, naming its
// variable, and that no error shows a password.
func TestLoadErrors(t *testing.T) {
	notPEM := writeTemp(t, "not.pem", "hello")
	empty := writeTemp(t, "empty", "\n")
	for _, tc := range []struct {
		name string
		env  map[string]string
		want []string
	}{
		{"password without username", map[string]string{secure.EnvKafkaPassword: pw}, []string{"no SASL mechanism"}},
		{"mechanism without credentials", map[string]string{secure.EnvKafkaSASLMechanism: "SCRAM-SHA-512"}, []string{secure.EnvKafkaUsername, secure.EnvKafkaPasswordFile}},
		{"unknown mechanism", map[string]string{secure.EnvKafkaSASLMechanism: "GSSAPI", secure.EnvKafkaUsername: "u", secure.EnvKafkaPassword: pw}, []string{secure.EnvKafkaSASLMechanism, "GSSAPI"}},
		{"password twice", map[string]string{secure.EnvKafkaUsername: "u", secure.EnvKafkaPassword: pw, secure.EnvKafkaPasswordFile: notPEM}, []string{secure.EnvKafkaPassword, "not both"}},
		{"missing password file", map[string]string{secure.EnvCassandraUsername: "u", secure.EnvCassandraPasswordFile: "/nonexistent/pw"}, []string{secure.EnvCassandraPasswordFile, "/nonexistent/pw"}},
		{"empty password file", map[string]string{secure.EnvPostgresPasswordFile: empty}, []string{secure.EnvPostgresPasswordFile, "empty"}},
		{"username without password", map[string]string{secure.EnvCassandraUsername: "u"}, []string{"cassandra", secure.EnvCassandraPasswordFile}},
		{"password without username cassandra", map[string]string{secure.EnvCassandraPassword: pw}, []string{"cassandra"}},
		{"bad TLS switch", map[string]string{secure.EnvKafkaTLS: "yes please"}, []string{secure.EnvKafkaTLS}},
		{"TLS off with a CA", map[string]string{secure.EnvCassandraTLS: "0", secure.EnvCassandraTLSCAFile: notPEM}, []string{secure.EnvCassandraTLS, "off"}},
		{"missing CA", map[string]string{secure.EnvKafkaTLSCAFile: "/nonexistent/ca.crt"}, []string{secure.EnvKafkaTLSCAFile, "/nonexistent/ca.crt"}},
		{"CA not PEM", map[string]string{secure.EnvPostgresTLSCAFile: notPEM}, []string{secure.EnvPostgresTLSCAFile, "no PEM certificate"}},
		{"certificate without key", map[string]string{secure.EnvKafkaTLSCertFile: notPEM}, []string{secure.EnvKafkaTLSCertFile, secure.EnvKafkaTLSKeyFile}},
		{"bad key pair", map[string]string{secure.EnvCassandraTLSCertFile: notPEM, secure.EnvCassandraTLSKeyFile: notPEM}, []string{secure.EnvCassandraTLSCertFile}},
		{"several at once", map[string]string{secure.EnvKafkaPassword: pw, secure.EnvCassandraUsername: "u", secure.EnvPostgresTLSCAFile: "/nonexistent/ca.crt"},
			[]string{"kafka", "cassandra", secure.EnvPostgresTLSCAFile}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := secure.Load(lookupMap(tc.env))
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
			if strings.Contains(err.Error(), pw) {
				t.Errorf("error %q shows the password", err)
			}
		})
	}
}

func TestReadSecretFile(t *testing.T) {
	for in, want := range map[string]string{
		pw:                   pw,
		pw + "\n":            pw,
		pw + "\r\n":          pw,
		" " + pw + " \n":     " " + pw + " ", // spaces may be part of a password
		pw + "\n\n":          pw + "\n",      // only one line break is the file's
		"line1\nline2\n":     "line1\nline2",
		"\t" + pw + "\t\n\n": "\t" + pw + "\t\n",
	} {
		s, err := secure.ReadSecretFile(writeTemp(t, "pw", in))
		if err != nil || s.Reveal() != want {
			t.Errorf("ReadSecretFile(%q) = %q, %v; want %q", in, s.Reveal(), err, want)
		}
	}
}

// TestSecretsNeverPrinted prints the settings every way a program might:
// fmt verbs, slog handlers, JSON. None may show a password.
func TestSecretsNeverPrinted(t *testing.T) {
	s := secure.NewSecret(pw)
	cfg := secure.Config{
		Kafka:     secure.Kafka{Mechanism: secure.ScramSHA512, Username: "alice", Password: s, TLS: secure.TLS{Enabled: true, CAFile: "/ca.crt"}},
		Cassandra: secure.Cassandra{Username: "bob", Password: s},
		Postgres:  secure.Postgres{Password: s},
	}
	type wrapper struct {
		Cfg  secure.Config
		Ptr  *secure.Config
		Pw   secure.Secret
		Pws  []secure.Secret
		Map  map[string]secure.Secret
		Kafk any
	}
	w := wrapper{Cfg: cfg, Ptr: &cfg, Pw: s, Pws: []secure.Secret{s}, Map: map[string]secure.Secret{"k": s}, Kafk: cfg.Kafka}
	var out bytes.Buffer
	for _, v := range []any{s, &s, cfg, &cfg, cfg.Kafka, cfg.Cassandra, cfg.Postgres, w, &w} {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%T", "%10.3s", "%-v"} {
			fmt.Fprintf(&out, verb+"\n", v)
		}
		fmt.Fprintln(&out, v)
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatalf("json %T: %v", v, err)
		}
		out.Write(b)
	}
	for _, h := range []slog.Handler{slog.NewTextHandler(&out, nil), slog.NewJSONHandler(&out, nil)} {
		l := slog.New(h)
		l.Info("settings", "cfg", cfg, "kafka", cfg.Kafka, "pw", s, "w", w)
		l.Info("group", slog.Group("g", "cfg", &cfg), slog.Any("tls", cfg.Kafka.TLS))
	}
	if strings.Contains(out.String(), pw) || strings.Contains(out.String(), fmt.Sprintf("%x", pw)) {
		t.Fatalf("the password was printed:\n%s", out.String())
	}
	if !strings.Contains(out.String(), "[redacted]") || !strings.Contains(out.String(), "alice") {
		t.Fatalf("the output lost what it may show:\n%s", out.String())
	}
	if got := cfg.Kafka.String(); got != `kafka{sasl=SCRAM-SHA-512 user="alice" password=[redacted] tls=on ca=/ca.crt}` {
		t.Errorf("Kafka.String() = %s", got)
	}
	if got := (secure.Secret{}).String(); got != "[unset]" {
		t.Errorf("zero Secret = %s", got)
	}
}

func TestKafkaOpts(t *testing.T) {
	ca := newTestCA(t)
	for _, m := range []secure.Mechanism{secure.ScramSHA512, secure.ScramSHA256, secure.Plain} {
		k := secure.Kafka{Mechanism: m, Username: "u", Password: secure.NewSecret(pw), TLS: secure.TLS{Enabled: true, CAFile: ca.file(t)}}
		opts, err := k.Opts()
		if err != nil {
			t.Fatal(err)
		}
		cl, err := kgo.NewClient(opts...)
		if err != nil {
			t.Fatal(err)
		}
		mechs := cl.OptValues(kgo.SASL)
		tlsCfg, _ := cl.OptValue(kgo.DialTLSConfig).(*tls.Config)
		cl.Close()
		if len(mechs) != 1 || fmt.Sprint(mechs[0]) == "" {
			t.Fatalf("%s: SASL option %v", m, mechs)
		}
		if tlsCfg == nil || tlsCfg.RootCAs == nil || tlsCfg.InsecureSkipVerify {
			t.Fatalf("%s: TLS config %+v", m, tlsCfg)
		}
	}
	if _, err := (secure.Kafka{Mechanism: secure.Plain}).Opts(); err == nil || !strings.Contains(err.Error(), "Kafka.Username") {
		t.Fatalf("PLAIN without credentials: %v, want an error naming Kafka.Username", err)
	}
	if _, err := (secure.Kafka{Mechanism: "KERBEROS", Username: "u", Password: secure.NewSecret(pw)}).Opts(); err == nil {
		t.Fatal("unknown mechanism: no error")
	}
}

// TestCassandraApply checks what Apply sets on a gocql configuration: an
// authenticator that answers as gocql's own would yet prints no password,
// and TLS that verifies the node.
func TestCassandraApply(t *testing.T) {
	ca := newTestCA(t)
	c := secure.Cassandra{Username: "u", Password: secure.NewSecret(pw), TLS: secure.TLS{Enabled: true, CAFile: ca.file(t)}}
	cluster := gocql.NewCluster("127.0.0.1")
	cluster.Keyspace = "kept"
	if err := c.Apply(cluster); err != nil {
		t.Fatal(err)
	}
	const class = "org.apache.cassandra.auth.PasswordAuthenticator"
	want, _, _ := gocql.PasswordAuthenticator{Username: "u", Password: pw}.Challenge([]byte(class))
	got, next, err := cluster.Authenticator.Challenge([]byte(class))
	if err != nil || next != nil || !bytes.Equal(got, want) {
		t.Fatalf("challenge: %q, %v, %v; want gocql's answer", got, next, err)
	}
	if printed := fmt.Sprintf("%v %+v %#v %s", cluster, cluster, cluster.Authenticator, cluster.Authenticator); strings.Contains(printed, pw) || !strings.Contains(printed, "[redacted]") {
		t.Fatalf("the cluster configuration prints the password, or no placeholder:\n%s", printed)
	}
	if o := cluster.SslOpts; o == nil || o.Config == nil || o.Config.RootCAs == nil || o.Config.InsecureSkipVerify || !o.EnableHostVerification {
		t.Fatalf("TLS options %+v: want verification against the CA", o)
	}
	if cluster.Keyspace != "kept" || cluster.Port != 9042 {
		t.Fatal("Apply changed fields that are not its own")
	}
	err = (secure.Cassandra{Username: "u"}).Apply(gocql.NewCluster("h"))
	if err == nil || !strings.Contains(err.Error(), "Cassandra.Password") {
		t.Fatalf("username without password: %v, want an error naming Cassandra.Password", err)
	}
}

// TestLoadPerService: each service's loader reads its own variables only,
// so a mistake in another service's does not stop it; Load reads all.
func TestLoadPerService(t *testing.T) {
	env := lookupMap(map[string]string{
		secure.EnvKafkaUsername:     "alice",
		secure.EnvKafkaPassword:     pw,
		secure.EnvCassandraUsername: "bob", // no password: a mistake
		secure.EnvPostgresPassword:  pw,
	})
	k, err := secure.LoadKafka(env)
	if err != nil || k.Username != "alice" || k.Mechanism != secure.ScramSHA512 {
		t.Fatalf("LoadKafka: %v, %v", k, err)
	}
	p, err := secure.LoadPostgres(env)
	if err != nil || p.Password.Reveal() != pw {
		t.Fatalf("LoadPostgres: %v, %v", p, err)
	}
	if _, err := secure.LoadCassandra(env); err == nil || !strings.Contains(err.Error(), secure.EnvCassandraPasswordFile) {
		t.Fatalf("LoadCassandra: %v, want an error naming %s", err, secure.EnvCassandraPasswordFile)
	}
	if _, err := secure.Load(env); err == nil {
		t.Fatal("Load: no error")
	}
}

func TestPostgresDSN(t *testing.T) {
	ca := newTestCA(t)
	caFile := ca.file(t)
	p := secure.Postgres{Password: secure.NewSecret(pw), TLS: secure.TLS{Enabled: true, CAFile: caFile}}
	for _, tc := range []struct{ in, want string }{
		{"postgres://u@db.example:5433/app?sslmode=disable&application_name=x",
			"postgres://u@db.example:5433/app?application_name=x&sslmode=verify-full&sslrootcert=" + strings.ReplaceAll(caFile, "/", "%2F")},
		{"postgresql://u@db.example/app", "postgresql://u@db.example/app?sslmode=verify-full&sslrootcert=" + strings.ReplaceAll(caFile, "/", "%2F")},
		{"host=db.example user=u sslmode=require", "host=db.example user=u sslmode=require sslmode='verify-full' sslrootcert='" + caFile + "'"},
	} {
		got, err := p.DSN(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("DSN(%q)\n got %q, %v\nwant %q", tc.in, got, err, tc.want)
		}
		cfg, err := p.PoolConfig(tc.in)
		if err != nil {
			t.Fatalf("PoolConfig(%q): %v", tc.in, err)
		}
		cc := cfg.ConnConfig
		if cc.Password != pw {
			t.Errorf("password not set on the config")
		}
		if strings.Contains(cfg.ConnString(), pw) {
			t.Errorf("password in the connection string %q", cfg.ConnString())
		}
		if cc.TLSConfig == nil || cc.TLSConfig.InsecureSkipVerify || cc.TLSConfig.ServerName != "db.example" || len(cc.Fallbacks) != 0 {
			t.Errorf("%q: TLS %+v, %d fallbacks: want verify-full against db.example, no plaintext fallback", tc.in, cc.TLSConfig, len(cc.Fallbacks))
		}
	}
	// The password alone leaves the DSN (and its sslmode) as it is.
	cfg, err := secure.Postgres{Password: secure.NewSecret(pw)}.ConnConfig("postgres://u:old@h/db?sslmode=disable")
	if err != nil || cfg.Password != pw || cfg.TLSConfig != nil {
		t.Fatalf("password only: %v, password replaced=%v, tls=%v", err, cfg.Password == pw, cfg.TLSConfig)
	}
	if _, err := (secure.Postgres{TLS: secure.TLS{Enabled: true, ServerName: "x"}}).DSN(""); err == nil {
		t.Fatal("server name: no error")
	}
	if _, err := p.PoolConfig("postgres://u:" + pw + "@h:notaport/db"); err == nil || strings.Contains(err.Error(), pw) {
		t.Fatalf("bad DSN: %v (must fail without showing the password)", err)
	}
}

// TestPostgresApply checks that Apply, on a configuration parsed from the
// plain DSN, gives every host the TLS that pgx itself builds from the DSN
// with the settings merged in (verify-full), and no plaintext fallback.
func TestPostgresApply(t *testing.T) {
	ca := newTestCA(t)
	certFile, keyFile, _ := ca.issue(t, "client")
	p := secure.Postgres{Password: secure.NewSecret(pw), TLS: secure.TLS{Enabled: true, CAFile: ca.file(t), CertFile: certFile, KeyFile: keyFile}}
	for _, dsn := range []string{
		"postgres://u@db.example/app",                                           // sslmode=prefer: TLS, then plaintext
		"postgres://u:old@db.example:5433/app?sslmode=disable",                  // no TLS at all
		"postgres://u@a.example:5432,b.example:5433/app?sslmode=allow",          // two hosts, plaintext first
		"host=a.example,127.0.0.1 port=5432,5433 user=u sslmode=require",        // an IP address
		"host=/var/run/postgresql user=u",                                       // a Unix socket: no TLS
		"postgres://u@db.example/app?sslmode=verify-full&sslnegotiation=direct", // direct TLS
	} {
		want, err := p.ConnConfig(dsn)
		if err != nil {
			t.Fatalf("%q: %v", dsn, err)
		}
		got, err := pgconn.ParseConfig(dsn)
		if err != nil {
			t.Fatalf("%q: %v", dsn, err)
		}
		if err := p.Apply(got); err != nil {
			t.Fatalf("%q: Apply: %v", dsn, err)
		}
		if got.Password != pw {
			t.Errorf("%q: password not set", dsn)
		}
		if g, w := tlsHosts(got), tlsHosts(&want.Config); g != w {
			t.Errorf("%q:\n Apply gives %s\n  pgx gives %s", dsn, g, w)
		}
	}
	// Password only: TLS as the DSN says.
	cfg, err := pgconn.ParseConfig("postgres://u:old@h/db?sslmode=disable")
	if err != nil {
		t.Fatal(err)
	}
	if err := (secure.Postgres{Password: secure.NewSecret(pw)}).Apply(cfg); err != nil || cfg.Password != pw || cfg.TLSConfig != nil || len(cfg.Fallbacks) != 0 {
		t.Fatalf("password only: %v; password set %v, TLS %v, %d fallbacks", err, cfg.Password == pw, cfg.TLSConfig, len(cfg.Fallbacks))
	}
	if err := (secure.Postgres{TLS: secure.TLS{Enabled: true, CAFile: "/nonexistent/ca.crt"}}).Apply(cfg); err == nil {
		t.Fatal("missing CA file: no error")
	}
}

// tlsHosts describes the hosts a pgx configuration tries, in order, with
// what their TLS verifies.
func tlsHosts(c *pgconn.Config) string {
	var b strings.Builder
	hosts := append([]*pgconn.FallbackConfig{{Host: c.Host, Port: c.Port, TLSConfig: c.TLSConfig}}, c.Fallbacks...)
	for _, h := range hosts {
		fmt.Fprintf(&b, "%s:%d", h.Host, h.Port)
		if t := h.TLSConfig; t == nil {
			b.WriteString("[plain] ")
		} else {
			fmt.Fprintf(&b, "[tls name=%s skipverify=%v roots=%v certs=%d protos=%v] ",
				t.ServerName, t.InsecureSkipVerify, t.RootCAs != nil, len(t.Certificates), t.NextProtos)
		}
	}
	return b.String()
}

// TestClientCertificate checks mutual TLS: a server that requires a client
// certificate accepts one issued by its CA.
func TestClientCertificate(t *testing.T) {
	ca := newTestCA(t)
	_, _, serverPair := ca.issue(t, "server")
	certFile, keyFile, _ := ca.issue(t, "client")
	pool := x509.NewCertPool()
	pool.AddCert(ca.cert)
	addr := listen(t, &tls.Config{Certificates: []tls.Certificate{serverPair}, ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pool})
	for _, withCert := range []bool{true, false} {
		tt := secure.TLS{Enabled: true, CAFile: ca.file(t)}
		if withCert {
			tt.CertFile, tt.KeyFile = certFile, keyFile
		}
		cfg, err := tt.Config()
		if err != nil {
			t.Fatal(err)
		}
		conn, err := tls.Dial("tcp", addr, cfg)
		if err == nil {
			// TLS 1.3 reports a rejected client certificate on the first
			// read; an accepted one reads the server hanging up (EOF).
			_ = conn.SetReadDeadline(time.Now().Add(2 * time.Second))
			_, err = conn.Read(make([]byte, 1))
			conn.Close()
			if errors.Is(err, io.EOF) {
				err = nil
			}
		}
		if withCert && err != nil {
			t.Errorf("with a client certificate: %v", err)
		}
		if !withCert && err == nil {
			t.Errorf("without a client certificate: the server accepted")
		}
	}
}

// TestExplain classifies failures from the driver's error alone, or from a
// handshake with an in-process server.
func TestExplain(t *testing.T) {
	ca, other := newTestCA(t), newTestCA(t)
	_, _, pair := ca.issue(t, "server")
	tlsAddr := listen(t, &tls.Config{Certificates: []tls.Certificate{pair}})
	plainAddr := listen(t, nil)
	down := closedAddr(t)
	trusted := secure.TLS{Enabled: true, CAFile: ca.file(t)}
	untrusted := secure.TLS{Enabled: true, CAFile: other.file(t)}
	dropped := errors.New("read: connection reset by peer") // what a driver says when the listener hangs up
	ctx := context.Background()

	for _, tc := range []struct {
		name      string
		explain   func() error
		want      error // nil: no cause
		wantAddr  string
		wantInMsg string
	}{
		{"kafka SASL failure", func() error {
			return secure.Kafka{Mechanism: secure.ScramSHA512, Username: "u"}.Explain(ctx, []string{down}, fmt.Errorf("x: %w", kerr.SaslAuthenticationFailed))
		}, secure.ErrAuthentication, down, "Kafka.Username"},
		{"kafka SASL failure, loaded settings", func() error {
			k, err := secure.LoadKafka(lookupMap(map[string]string{secure.EnvKafkaUsername: "u", secure.EnvKafkaPassword: pw}))
			if err != nil {
				t.Fatal(err)
			}
			return k.Explain(ctx, []string{down}, fmt.Errorf("x: %w", kerr.SaslAuthenticationFailed))
		}, secure.ErrAuthentication, down, secure.EnvKafkaPasswordFile},
		{"plaintext client, TLS server", func() error {
			return secure.Kafka{}.Explain(ctx, []string{down, tlsAddr}, dropped)
		}, secure.ErrTLSRequired, tlsAddr, "Kafka.TLS.Enabled"},
		{"untrusted certificate, found by handshake", func() error {
			return secure.Cassandra{TLS: untrusted}.Explain(ctx, []string{tlsAddr}, errors.New("gocql: unable to create session: x509: certificate signed by unknown authority"))
		}, secure.ErrUntrustedCertificate, tlsAddr, "Cassandra.TLS.CAFile"},
		{"untrusted certificate, typed", func() error {
			return secure.Kafka{TLS: untrusted}.Explain(ctx, []string{tlsAddr}, &tls.CertificateVerificationError{Err: x509.UnknownAuthorityError{}})
		}, secure.ErrUntrustedCertificate, tlsAddr, "authority"},
		{"wrong host name", func() error {
			return secure.Kafka{TLS: secure.TLS{Enabled: true, CAFile: trusted.CAFile, ServerName: "kafka.example"}}.Explain(ctx, []string{tlsAddr}, dropped)
		}, secure.ErrUntrustedCertificate, tlsAddr, "kafka.example"},
		{"TLS client, plaintext server", func() error {
			return secure.Cassandra{TLS: trusted}.Explain(ctx, []string{plainAddr}, dropped)
		}, secure.ErrTLSUnsupported, plainAddr, "Cassandra.TLS.Enabled"},
		{"cassandra bad login", func() error {
			return secure.Cassandra{Username: "u"}.Explain(ctx, []string{"127.0.0.1"}, errors.New("gocql: unable to create session: unable to discover protocol version: Provided username u and/or password are incorrect"))
		}, secure.ErrAuthentication, "127.0.0.1:9042", "Cassandra.Password"},
		{"all fine, server down", func() error {
			return secure.Kafka{TLS: trusted}.Explain(ctx, []string{down}, dropped)
		}, nil, down, ""},
		{"all fine, TLS works", func() error {
			return secure.Kafka{TLS: trusted}.Explain(ctx, []string{tlsAddr}, dropped)
		}, nil, tlsAddr, ""},
		{"postgres password", func() error {
			return secure.Postgres{}.Explain(&pgconn.PgError{Code: "28P01", Message: "password authentication failed"})
		}, secure.ErrAuthentication, "", "Postgres.Password"},
		{"postgres password, loaded settings", func() error {
			p, err := secure.LoadPostgres(lookupMap(map[string]string{secure.EnvPostgresPassword: pw}))
			if err != nil {
				t.Fatal(err)
			}
			return p.Explain(&pgconn.PgError{Code: "28P01", Message: "password authentication failed"})
		}, secure.ErrAuthentication, "", secure.EnvPostgresPasswordFile},
		{"postgres TLS only", func() error {
			return secure.Postgres{}.Explain(&pgconn.PgError{Code: "28000", Message: `pg_hba.conf rejects connection for host "x", no encryption`})
		}, secure.ErrTLSRequired, "", "Postgres.TLS.Enabled"},
		{"postgres untrusted", func() error {
			return secure.Postgres{}.Explain(fmt.Errorf("tls error: %w", &tls.CertificateVerificationError{Err: x509.UnknownAuthorityError{}}))
		}, secure.ErrUntrustedCertificate, "", "Postgres.TLS.CAFile"},
		{"postgres without TLS", func() error {
			return secure.Postgres{}.Explain(errors.New("server refused TLS connection"))
		}, secure.ErrTLSUnsupported, "", "ssl = off"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.explain()
			var se *secure.Error
			if !errors.As(err, &se) {
				t.Fatalf("%T %v: want *secure.Error", err, err)
			}
			if se.Cause != tc.want || (tc.want != nil && !errors.Is(err, tc.want)) {
				t.Fatalf("cause %v, want %v (%v)", se.Cause, tc.want, err)
			}
			if tc.wantAddr != "" && se.Addr != tc.wantAddr {
				t.Errorf("addr %q, want %q", se.Addr, tc.wantAddr)
			}
			if !strings.Contains(err.Error(), tc.wantInMsg) {
				t.Errorf("%q does not mention %q", err, tc.wantInMsg)
			}
			if again := (secure.Kafka{}).Explain(ctx, nil, err); again != err {
				t.Errorf("explaining an *Error again changed it")
			}
		})
	}
	if err := (secure.Kafka{}).Explain(ctx, nil, nil); err != nil {
		t.Fatalf("Explain(nil) = %v", err)
	}
}

// TestExplainBounded: a server that accepts and never answers costs the
// probe at most its own budget, even when ctx is already done.
func TestExplainBounded(t *testing.T) {
	ln := listenSilent(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	start := time.Now()
	_ = secure.Kafka{TLS: secure.TLS{Enabled: true}}.Explain(ctx, []string{ln}, context.Canceled)
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("Explain took %v", d)
	}
}
