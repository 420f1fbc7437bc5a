package secure

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
)

// TLS says whether and how a client encrypts its connections. The zero
// value is plain TCP.
type TLS struct {
	// Enabled turns TLS on. The server's certificate is always verified,
	// chain and host name; there is no switch to skip that.
	Enabled bool
	// CAFile is a PEM file of the certificate authorities to trust,
	// overriding the default, the system's roots. Setting it implies
	// Enabled when read from the environment.
	CAFile string
	// ServerName is the name checked against the server's certificate,
	// overriding the default, the host dialled. Kafka and Cassandra only.
	ServerName string
	// CertFile and KeyFile are a PEM client certificate and its key, for
	// servers that require client authentication (mutual TLS); default
	// none. Both or neither.
	CertFile, KeyFile string
}

// Config returns the client configuration, or nil when TLS is off. It
// reads the files each time; call it once and reuse the result.
func (t TLS) Config() (*tls.Config, error) {
	if !t.Enabled {
		return nil, nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: t.ServerName}
	if t.CAFile != "" {
		pool, err := loadCAs(t.CAFile)
		if err != nil {
			return nil, err
		}
		cfg.RootCAs = pool
	}
	if (t.CertFile == "") != (t.KeyFile == "") {
		return nil, errors.New("a client certificate needs both a certificate file and a key file")
	}
	if t.CertFile != "" {
		pair, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			// LoadX509KeyPair's errors name neither file; say which.
			return nil, fmt.Errorf("client certificate %s / key %s: %w", t.CertFile, t.KeyFile, err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	return cfg, nil
}

func loadCAs(path string) (*x509.CertPool, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("%s holds no PEM certificate", path)
	}
	return pool, nil
}

// String describes the settings: "off", or "on", then what is not default.
func (t TLS) String() string {
	if !t.Enabled {
		return "off"
	}
	var b strings.Builder
	b.WriteString("on")
	if t.CAFile != "" {
		b.WriteString(" ca=" + t.CAFile)
	}
	if t.ServerName != "" {
		b.WriteString(" server_name=" + t.ServerName)
	}
	if t.CertFile != "" {
		b.WriteString(" client_cert=" + t.CertFile)
	}
	return b.String()
}

// LogValue serves log/slog.
func (t TLS) LogValue() slog.Value {
	if !t.Enabled {
		return slog.BoolValue(false)
	}
	attrs := []slog.Attr{slog.Bool("enabled", true)}
	if t.CAFile != "" {
		attrs = append(attrs, slog.String("ca_file", t.CAFile))
	}
	if t.ServerName != "" {
		attrs = append(attrs, slog.String("server_name", t.ServerName))
	}
	if t.CertFile != "" {
		attrs = append(attrs, slog.String("client_cert_file", t.CertFile))
	}
	return slog.GroupValue(attrs...)
}
