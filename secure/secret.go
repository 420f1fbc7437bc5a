package secure

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
)

// redacted is what every printed form of a set [Secret] shows.
const redacted = "[redacted]"

// Secret is a password or key. Every way of printing it — fmt with any
// verb, slog, encoding/json and other text encoders — shows "[redacted]"
// (or "[unset]" for the zero value); only [Secret.Reveal] returns the
// value, and it is called only where a driver needs it. The zero value is
// an unset secret.
type Secret struct {
	// Unexported and behind methods on every path: fmt cannot reach an
	// unexported field of a value that formats itself.
	v string
}

// NewSecret wraps s.
func NewSecret(s string) Secret { return Secret{v: s} }

// ReadSecretFile reads a secret from the file at path, dropping one
// trailing line break (files written by echo or an editor end with one).
// The error names the path, never the content.
func ReadSecretFile(path string) (Secret, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Secret{}, err
	}
	s := strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r")
	if s == "" {
		return Secret{}, fmt.Errorf("%s is empty", path)
	}
	return Secret{v: s}, nil
}

// Reveal returns the secret's value. Call it only to hand the value to a
// driver.
func (s Secret) Reveal() string { return s.v }

// IsSet reports whether the secret has a value.
func (s Secret) IsSet() bool { return s.v != "" }

// String returns "[redacted]", or "[unset]" for the zero value.
func (s Secret) String() string {
	if s.v == "" {
		return "[unset]"
	}
	return redacted
}

// GoString serves %#v.
func (s Secret) GoString() string { return "secure.Secret(" + s.String() + ")" }

// Format serves every fmt verb, so that not even %d or %x reaches the
// value.
func (s Secret) Format(f fmt.State, verb rune) {
	if verb == 'v' && f.Flag('#') {
		_, _ = io.WriteString(f, s.GoString())
		return
	}
	_, _ = io.WriteString(f, s.String())
}

// LogValue serves log/slog.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// MarshalText serves encoding/json, encoding/xml and other text encoders.
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }
