package devstack

// The secured side of the stack: certificates and generated passwords.
// Passwords travel in files and on stdin, never in arguments, because
// arguments show in ps.

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// secretNames are the generated passwords: the Kafka user, the Cassandra
// role, the secured Cassandra's superuser, the PostgreSQL TLS-only role.
var secretNames = []string{"kafka", "cassandra", "cassandra-admin", "postgres"}

// secureInit makes what the secured listeners need, once per Stack,
// keeping what exists so that a second `up` changes nothing:
//
//	DIR/tls/ca.crt, ca.key          a local CA (10 years)
//	DIR/tls/server.crt, server.key  a server certificate for the stack's
//	                                host, 127.0.0.1, ::1 and localhost,
//	                                signed by it (1 year, renewed when less
//	                                than 30 days remain or when it does not
//	                                cover the host)
//	DIR/secrets/NAME.password       a random password per secretNames
//
// Certificates are made here rather than with openssl or keytool so that a
// fresh machine needs nothing beyond Go; every server of the stack reads PEM.
func (s *Stack) secureInit() error {
	if s.initDone {
		return nil
	}
	if err := secureInit(s.cfg.Dir, s.hostIPs(), secretNames); err != nil {
		return fmt.Errorf("devstack: cannot create the certificates and passwords under %s: %w", s.cfg.Dir, err)
	}
	s.initDone = true
	return nil
}

// hostIPs are the addresses the server certificate must cover.
func (s *Stack) hostIPs() []net.IP {
	ips := []net.IP{net.IPv4(127, 0, 0, 1).To4(), net.IPv6loopback}
	for _, n := range s.kafka {
		ips = appendIP(ips, n.Host)
	}
	for _, n := range s.cassandra {
		ips = appendIP(ips, n.Host)
	}
	ips = appendIP(ips, s.secure.Host)
	ips = appendIP(ips, s.pg.Host)
	return ips
}

func appendIP(ips []net.IP, host string) []net.IP {
	ip := net.ParseIP(host)
	if v4 := ip.To4(); v4 != nil {
		ip = v4
	}
	for _, have := range ips {
		if have.Equal(ip) {
			return ips
		}
	}
	return append(ips, ip)
}

func secureInit(dir string, ips []net.IP, names []string) error {
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
	return ensureServerCert(tlsDir, ca, caKey, ips)
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
	if err := os.Chmod(tmp, mode); err != nil {
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

// serverCertOK: the certificate at certPath/keyPath is signed by ca, has
// more than 30 days left and covers localhost and every address in ips.
func serverCertOK(certPath, keyPath string, ca *x509.Certificate, ips []net.IP) bool {
	pair, err := tls.LoadX509KeyPair(certPath, keyPath)
	if err != nil {
		return false
	}
	cert, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil || time.Until(cert.NotAfter) <= 30*24*time.Hour {
		return false
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	if _, err := cert.Verify(x509.VerifyOptions{Roots: pool, DNSName: "localhost"}); err != nil {
		return false
	}
	for _, ip := range ips {
		if cert.VerifyHostname(ip.String()) != nil {
			return false
		}
	}
	return true
}

func ensureServerCert(dir string, ca *x509.Certificate, caKey *rsa.PrivateKey, ips []net.IP) error {
	certPath, keyPath := filepath.Join(dir, "server.crt"), filepath.Join(dir, "server.key")
	if serverCertOK(certPath, keyPath, ca, ips) {
		return nil
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
		IPAddresses:  ips,
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
