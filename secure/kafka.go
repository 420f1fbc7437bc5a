package secure

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// Mechanism is a SASL mechanism for Kafka.
type Mechanism string

// The SASL mechanisms [Kafka] supports.
const (
	// ScramSHA512 is the default when a username is set.
	ScramSHA512 Mechanism = "SCRAM-SHA-512"
	ScramSHA256 Mechanism = "SCRAM-SHA-256"
	// Plain sends the password itself to the broker: use it over TLS
	// only, except on loopback.
	Plain Mechanism = "PLAIN"
)

// ParseMechanism accepts the mechanism names Kafka uses, in any case.
func ParseMechanism(s string) (Mechanism, error) {
	switch m := Mechanism(strings.ToUpper(strings.TrimSpace(s))); m {
	case ScramSHA512, ScramSHA256, Plain:
		return m, nil
	}
	return "", fmt.Errorf("unknown SASL mechanism %q (want %s, %s or %s)", s, ScramSHA512, ScramSHA256, Plain)
}

// Kafka is how a client authenticates to Kafka brokers and encrypts its
// connections to them: read by [LoadKafka] or set field by field. The zero
// value is no authentication over plain TCP.
type Kafka struct {
	// Mechanism is the SASL mechanism; empty (the default) means no SASL.
	Mechanism Mechanism
	// Username and Password are the SASL credentials; both are required
	// with a Mechanism.
	Username string
	Password Secret
	// TLS encrypts the connections; off by default.
	TLS TLS

	fromEnv bool // set by the loaders: errors name variables, not fields
}

// Enabled reports whether any security setting is on.
func (k Kafka) Enabled() bool { return k.Mechanism != "" || k.TLS.Enabled }

func (k Kafka) validate() error {
	n := settingNames("kafka", k.fromEnv)
	var errs []error
	if k.Mechanism != "" {
		if _, err := ParseMechanism(string(k.Mechanism)); err != nil {
			errs = append(errs, err)
		}
		if k.Username == "" {
			errs = append(errs, fmt.Errorf("SASL %s needs a username (%s)", k.Mechanism, n.user))
		}
		if !k.Password.IsSet() {
			errs = append(errs, fmt.Errorf("SASL %s needs a password (%s)", k.Mechanism, n.password))
		}
	} else if k.Username != "" || k.Password.IsSet() {
		errs = append(errs, fmt.Errorf("a username or password is set but no SASL mechanism (%s)", n.mechanism))
	}
	return errors.Join(errs...)
}

// Opts returns the franz-go options that apply the settings: kgo.SASL when
// a Mechanism is set, kgo.DialTLSConfig when TLS is on; none when nothing
// is. Pass them to every client of the same cluster: kgo.NewClient, or
// kafkasink.WithClientOpts. It reads the TLS files
// each time: call it once per process. It reads no environment variable.
func (k Kafka) Opts() ([]kgo.Opt, error) {
	if err := k.validate(); err != nil {
		return nil, fmt.Errorf("secure: kafka: %w", err)
	}
	var opts []kgo.Opt
	if k.Mechanism != "" {
		opts = append(opts, kgo.SASL(k.mechanism()))
	}
	cfg, err := k.TLS.Config()
	if err != nil {
		return nil, fmt.Errorf("secure: kafka TLS: %w", err)
	}
	if cfg != nil {
		// franz-go sets ServerName to each broker's host when it is empty.
		opts = append(opts, kgo.DialTLSConfig(cfg))
	}
	return opts, nil
}

// mechanism builds the SASL mechanism. The password is revealed inside the
// callback, per connection, so no struct holding it sits in the client's
// configuration for anything to print.
func (k Kafka) mechanism() sasl.Mechanism {
	user, pw := k.Username, k.Password
	switch k.Mechanism {
	case Plain:
		return plain.Plain(func(context.Context) (plain.Auth, error) {
			return plain.Auth{User: user, Pass: pw.Reveal()}, nil
		})
	case ScramSHA256:
		return scram.Sha256(func(context.Context) (scram.Auth, error) {
			return scram.Auth{User: user, Pass: pw.Reveal()}, nil
		})
	default:
		return scram.Sha512(func(context.Context) (scram.Auth, error) {
			return scram.Auth{User: user, Pass: pw.Reveal()}, nil
		})
	}
}

// Ping connects to brokers with the settings and asks for the cluster's
// metadata, which needs a completed TLS handshake and SASL exchange. A
// failure is an [*Error] naming a broker and the cause (see
// [Kafka.Explain]).
func (k Kafka) Ping(ctx context.Context, brokers []string) error {
	opts, err := k.Opts()
	if err != nil {
		return err
	}
	cl, err := kgo.NewClient(append(opts, kgo.SeedBrokers(brokers...))...)
	if err != nil {
		return fmt.Errorf("secure: kafka client: %w", err)
	}
	defer cl.Close()
	if err := cl.Ping(ctx); err != nil {
		return k.Explain(ctx, brokers, err)
	}
	return nil
}

// String describes the settings, password redacted.
func (k Kafka) String() string {
	sasl := "off"
	if k.Mechanism != "" {
		sasl = fmt.Sprintf("%s user=%q password=%s", k.Mechanism, k.Username, k.Password)
	}
	return fmt.Sprintf("kafka{sasl=%s tls=%s}", sasl, k.TLS)
}

// LogValue serves log/slog, password redacted.
func (k Kafka) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("sasl_mechanism", string(k.Mechanism)),
		slog.String("username", k.Username),
		slog.Any("password", k.Password),
		slog.Any("tls", k.TLS),
	)
}
