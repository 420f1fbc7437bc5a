package main

// The secured side of the stack: certificates, generated passwords, the
// Kafka SCRAM user and the Cassandra roles. Passwords travel in files, never
// in arguments, because arguments show in ps.

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/gocql/gocql"
	"github.com/jackc/pgx/v5"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// secureInit creates what the secured listeners need under dir, keeping
// what exists so that a second `up` changes nothing:
//
//	dir/tls/ca.crt, ca.key          a local CA (10 years)
//	dir/tls/server.crt, server.key  a server certificate for 127.0.0.1, ::1
//	                                and localhost signed by it (1 year,
//	                                renewed when less than 30 days remain)
//	dir/secrets/NAME.password       a random password per name in names
//
// Certificates are made here rather than with openssl or keytool so that a
// fresh machine needs nothing beyond Go; every server of the stack reads PEM.
func secureInit(dir string, names []string) error {
	tlsDir, secDir := filepath.Join(dir, "tls"), filepath.Join(dir, "secrets")
	for _, d := range []string{tlsDir, secDir} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return err
		}
	}
	for _, n := range names {
		p := filepath.Join(secDir, n+".password")
		if _, err := os.Stat(p); err == nil {
			continue
		}
		pw, err := randomPassword(24)
		if err != nil {
			return err
		}
		if err := writeFile(p, []byte(pw+"\n"), 0o600); err != nil {
			return err
		}
	}
	ca, caKey, err := loadOrCreateCA(tlsDir)
	if err != nil {
		return err
	}
	return ensureServerCert(tlsDir, ca, caKey)
}

// randomPassword returns n letters and digits: no character that would need
// quoting in a JAAS line, a properties file or a DSN.
func randomPassword(n int) (string, error) {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, n)
	for i := range b {
		k, err := rand.Int(rand.Reader, big.NewInt(int64(len(alphabet))))
		if err != nil {
			return "", err
		}
		b[i] = alphabet[k.Int64()]
	}
	return string(b), nil
}

func writeFile(path string, data []byte, mode os.FileMode) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, mode); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func loadOrCreateCA(dir string) (*x509.Certificate, *rsa.PrivateKey, error) {
	certPath, keyPath := filepath.Join(dir, "ca.crt"), filepath.Join(dir, "ca.key")
	if pair, err := tls.LoadX509KeyPair(certPath, keyPath); err == nil {
		if key, ok := pair.PrivateKey.(*rsa.PrivateKey); ok {
			if cert, err := x509.ParseCertificate(pair.Certificate[0]); err == nil && time.Until(cert.NotAfter) > 60*24*time.Hour {
				return cert, key, nil
			}
		}
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "userstream devstack CA", Organization: []string{"userstream"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.AddDate(10, 0, 0),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, err
	}
	if err := writePEM(keyPath, "PRIVATE KEY", pkcs8(key), 0o600); err != nil {
		return nil, nil, err
	}
	if err := writePEM(certPath, "CERTIFICATE", der, 0o644); err != nil {
		return nil, nil, err
	}
	return cert, key, nil
}

func ensureServerCert(dir string, ca *x509.Certificate, caKey *rsa.PrivateKey) error {
	certPath, keyPath := filepath.Join(dir, "server.crt"), filepath.Join(dir, "server.key")
	if pair, err := tls.LoadX509KeyPair(certPath, keyPath); err == nil {
		cert, err := x509.ParseCertificate(pair.Certificate[0])
		pool := x509.NewCertPool()
		pool.AddCert(ca)
		if err == nil && time.Until(cert.NotAfter) > 30*24*time.Hour {
			if _, err := cert.Verify(x509.VerifyOptions{Roots: pool, DNSName: "localhost"}); err == nil {
				return nil
			}
		}
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: "localhost", Organization: []string{"userstream devstack"}},
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.AddDate(1, 0, 0),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return err
	}
	if err := writePEM(keyPath, "PRIVATE KEY", pkcs8(key), 0o600); err != nil {
		return err
	}
	return writePEM(certPath, "CERTIFICATE", der, 0o644)
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	if err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return n
}

func pkcs8(key *rsa.PrivateKey) []byte {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		panic(err) // an RSA key always marshals
	}
	return der
}

func writePEM(path, typ string, der []byte, mode os.FileMode) error {
	return writeFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), mode)
}

func readPassword(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	pw := strings.TrimRight(string(b), "\r\n")
	if pw == "" {
		return "", fmt.Errorf("%s is empty", path)
	}
	return pw, nil
}

func caConfig(caFile string) (*tls.Config, error) {
	pemBytes, err := os.ReadFile(caFile)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pemBytes) {
		return nil, fmt.Errorf("%s holds no PEM certificate", caFile)
	}
	return &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}, nil
}

// kafkaSCRAM creates or updates the SCRAM-SHA-512 credential of user,
// through the unauthenticated PLAINTEXT listener at addr. KRaft storage
// formatted by devstack already has it (--add-scram); this covers storage
// formatted before the secured listeners existed, and a changed password.
func kafkaSCRAM(ctx context.Context, addr, user, passwordFile string) (string, error) {
	pw, err := readPassword(passwordFile)
	if err != nil {
		return "", err
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		return "", err
	}
	defer cl.Close()
	res, err := kadm.NewClient(cl).AlterUserSCRAMs(ctx, nil, []kadm.UpsertSCRAM{{
		User: user, Mechanism: kadm.ScramSha512, Iterations: 8192, Password: pw,
	}})
	if err != nil {
		return "", fmt.Errorf("kafka alter SCRAM credentials: %w", err)
	}
	for _, r := range res {
		if r.Err != nil {
			return "", fmt.Errorf("kafka alter SCRAM credentials of %s: %w (%s)", r.User, r.Err, r.ErrMessage)
		}
	}
	return "kafka SCRAM-SHA-512 user " + user + " set", nil
}

// kafkaSecure asks for metadata through a SASL listener, authenticating
// with mechanism; caFile, when set, turns TLS on.
func kafkaSecure(ctx context.Context, addr, mechanism, user, passwordFile, caFile string) (string, error) {
	pw, err := readPassword(passwordFile)
	if err != nil {
		return "", err
	}
	opts := []kgo.Opt{kgo.SeedBrokers(addr)}
	switch mechanism {
	case "SCRAM-SHA-512":
		opts = append(opts, kgo.SASL(scram.Auth{User: user, Pass: pw}.AsSha512Mechanism()))
	case "PLAIN":
		opts = append(opts, kgo.SASL(plain.Auth{User: user, Pass: pw}.AsMechanism()))
	default:
		return "", fmt.Errorf("unknown SASL mechanism %q", mechanism)
	}
	if caFile != "" {
		cfg, err := caConfig(caFile)
		if err != nil {
			return "", err
		}
		opts = append(opts, kgo.DialTLSConfig(cfg))
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return "", err
	}
	defer cl.Close()
	md, err := kadm.NewClient(cl).BrokerMetadata(ctx)
	if err != nil {
		return "", fmt.Errorf("kafka metadata over %s: %w", addr, err)
	}
	if len(md.Brokers) == 0 {
		return "", errors.New("kafka metadata: no brokers")
	}
	return fmt.Sprintf("kafka %s as %s over %s (tls=%v)", mechanism, user, addr, caFile != ""), nil
}

// cassandraSetup logs in to a PasswordAuthenticator cluster as the
// superuser "cassandra" and makes sure that user exists with the password
// in userPasswordFile and may create keyspaces. It then replaces the
// well-known default superuser password with the one in adminPasswordFile,
// so the stack does not ship cassandra/cassandra; later runs log in with it.
func cassandraSetup(hosts, caFile, adminPasswordFile, user, userPasswordFile string) (string, error) {
	adminPW, err := readPassword(adminPasswordFile)
	if err != nil {
		return "", err
	}
	userPW, err := readPassword(userPasswordFile)
	if err != nil {
		return "", err
	}
	var s *gocql.Session
	for _, pw := range []string{adminPW, "cassandra"} {
		if s, err = cassandraSession(hosts, "cassandra", pw, caFile); err == nil {
			break
		}
	}
	if err != nil {
		return "", fmt.Errorf("cassandra superuser login: %w", err)
	}
	defer s.Close()
	// CQL takes no bind marker for a password: it is spliced as a string
	// literal. Errors name the statement up to WITH, never the password.
	stmts := []string{
		`CREATE ROLE IF NOT EXISTS ` + user + ` WITH LOGIN = true AND PASSWORD = ` + cqlString(userPW),
		`ALTER ROLE ` + user + ` WITH LOGIN = true AND PASSWORD = ` + cqlString(userPW),
		`GRANT CREATE ON ALL KEYSPACES TO ` + user,
		// Lets a client check that its own connection is encrypted
		// (system_views.clients.ssl_enabled).
		`GRANT SELECT ON KEYSPACE system_views TO ` + user,
		`ALTER ROLE cassandra WITH PASSWORD = ` + cqlString(adminPW),
	}
	for _, st := range stmts {
		if err := s.Query(st).Consistency(gocql.One).Exec(); err != nil {
			return "", fmt.Errorf("cassandra role setup: %s: %w", strings.SplitN(st, " WITH", 2)[0], err)
		}
	}
	return "cassandra role " + user + " set", nil
}

func cqlString(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

func cassandraSession(hosts, user, pw, caFile string) (*gocql.Session, error) {
	cluster := gocql.NewCluster(strings.Split(hosts, ",")...)
	cluster.Timeout = 5 * time.Second
	cluster.ConnectTimeout = 3 * time.Second
	cluster.DisableInitialHostLookup = true
	cluster.NumConns = 1
	if user != "" {
		cluster.Authenticator = gocql.PasswordAuthenticator{Username: user, Password: pw}
	}
	if caFile != "" {
		cfg, err := caConfig(caFile)
		if err != nil {
			return nil, err
		}
		cluster.SslOpts = &gocql.SslOptions{Config: cfg, EnableHostVerification: true}
	}
	return cluster.CreateSession()
}

// postgresSecure connects with sslmode=verify-full against caFile and the
// password in passwordFile (dsn carries neither).
func postgresSecure(ctx context.Context, dsn, passwordFile, caFile string) (string, error) {
	pw, err := readPassword(passwordFile)
	if err != nil {
		return "", err
	}
	cfg, err := pgx.ParseConfig(dsn + sep(dsn) + "sslmode=verify-full&sslrootcert=" + caFile)
	if err != nil {
		return "", err
	}
	cfg.Password = pw
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return "", err
	}
	defer conn.Close(ctx)
	var ssl bool
	if err := conn.QueryRow(ctx, `SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()`).Scan(&ssl); err != nil {
		return "", fmt.Errorf("postgres query: %w", err)
	}
	if !ssl {
		return "", errors.New("postgres: connection is not encrypted")
	}
	return "postgres over TLS (verify-full) as " + cfg.User, nil
}

func sep(dsn string) string {
	if strings.Contains(dsn, "?") {
		return "&"
	}
	return "?"
}
