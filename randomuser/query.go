package randomuser

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// Limits of the API's parameters. Out-of-range values are not rejected by the
// API, which silently replaces them (results=6000 gives one user), so
// [Query.Validate] rejects them instead.
const (
	MaxResults = 5000  // the most users one request returns
	MaxPage    = 10000 // the highest page the API honours
)

// Nationalities are the nat codes of API version 1.4 in alphabetical order.
// The order matters: an 18-character seed selects a nationality by its hex
// index in this list (see [Query.Seed]).
var Nationalities = []string{
	"AU", "BR", "CA", "CH", "DE", "DK", "ES", "FI", "FR", "GB", "IE",
	"IN", "IR", "MX", "NL", "NO", "NZ", "RS", "TR", "UA", "US",
}

// Gender restricts the generated users to one gender.
type Gender string

// Genders accepted by the API.
const (
	Male   Gender = "male"
	Female Gender = "female"
)

// Field names a top-level part of a [User], for [Query.Include] and
// [Query.Exclude].
type Field string

// Fields accepted by the inc and exc parameters.
const (
	FieldGender     Field = "gender"
	FieldName       Field = "name"
	FieldLocation   Field = "location"
	FieldEmail      Field = "email"
	FieldLogin      Field = "login"
	FieldRegistered Field = "registered"
	FieldDOB        Field = "dob"
	FieldPhone      Field = "phone"
	FieldCell       Field = "cell"
	FieldID         Field = "id"
	FieldPicture    Field = "picture"
	FieldNat        Field = "nat"
)

var allFields = []Field{
	FieldGender, FieldName, FieldLocation, FieldEmail, FieldLogin, FieldRegistered,
	FieldDOB, FieldPhone, FieldCell, FieldID, FieldPicture, FieldNat,
}

// Format is the response format. The decoding methods of [Client] need JSON;
// [Client.Download] accepts all of them.
type Format string

// Formats accepted by the API.
const (
	FormatJSON       Format = "json" // the default
	FormatPrettyJSON Format = "pretty"
	FormatCSV        Format = "csv"
	FormatYAML       Format = "yaml"
	FormatXML        Format = "xml"
)

// Charset is a character class for generated passwords.
type Charset string

// Charsets accepted by the password parameter.
const (
	Special Charset = "special" // space and !"#$%&'()*+,-./:;<=>?@[\]^_`{|}~
	Upper   Charset = "upper"
	Lower   Charset = "lower"
	Number  Charset = "number"
)

// PasswordSpec asks the API to generate passwords from character classes
// instead of picking them from its list of common passwords.
//
// Min and Max bound the length (1–64); set both to the same value for an
// exact length, or leave both zero for the API's default of 8–64. The zero
// PasswordSpec leaves the parameter out.
type PasswordSpec struct {
	Charsets []Charset
	Min, Max int
}

func (p PasswordSpec) isZero() bool { return len(p.Charsets) == 0 && p.Min == 0 && p.Max == 0 }

// String returns the parameter value, for example "upper,lower,8-16".
func (p PasswordSpec) String() string {
	var b strings.Builder
	for i, c := range p.Charsets {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(string(c))
	}
	switch {
	case p.Min == 0 && p.Max == 0:
	case p.Min == p.Max:
		fmt.Fprintf(&b, ",%d", p.Min)
	default:
		fmt.Fprintf(&b, ",%d-%d", p.Min, p.Max)
	}
	return b.String()
}

func (p PasswordSpec) validate() error {
	if p.isZero() {
		return nil
	}
	if len(p.Charsets) == 0 {
		// The API would ignore the length and fall back to its word list.
		return fmt.Errorf("password: a length needs at least one charset")
	}
	for _, c := range p.Charsets {
		switch c {
		case Special, Upper, Lower, Number:
		default:
			return fmt.Errorf("password: unknown charset %q", c)
		}
	}
	if p.Min == 0 && p.Max == 0 {
		return nil
	}
	if p.Min < 1 || p.Max > 64 || p.Min > p.Max {
		// The API would silently replace the bounds with 8 and 64.
		return fmt.Errorf("password: length %d-%d is not within 1-64 with min <= max", p.Min, p.Max)
	}
	return nil
}

// Query holds the parameters of one request. The zero Query asks for one
// random user of any nationality.
//
// The API never rejects a parameter: it replaces invalid values with defaults
// (results=6000 becomes 1, one unknown nat means every nat). [Query.Validate]
// rejects such values before anything is sent, so a typo is an error rather
// than a quietly different data set. Every [Client] method validates.
type Query struct {
	// Results is the number of users, 1–[MaxResults]. Zero means 1 (or a
	// full page of 5,000 for [Client.Users]).
	Results int
	// Gender restricts the users to one gender. The API ignores it whenever
	// Seed is set, so setting both is rejected.
	Gender Gender
	// Nat restricts the users to these nationalities (see [Nationalities]);
	// each user gets one of them, uniformly. Case-insensitive.
	Nat []string
	// Seed makes the users reproducible: the same seed, page and other
	// parameters always give the same users (apart from their ages, which
	// grow with the date of the request). Empty means a random seed chosen by
	// the API and echoed in [Info].Seed. An 18-character seed whose last two
	// characters are a hex index into [Nationalities] forces that
	// nationality; any other 18-character seed makes the real API hang, so it
	// is rejected.
	Seed string
	// Page selects a page of the seed, 1–[MaxPage]; zero means 1. Each page is
	// an independent set of users, and for a given page a smaller Results
	// gives a prefix of a larger one.
	Page int
	// Include lists the fields to return (default all); Exclude removes
	// fields. Other fields are left at their zero value in [User].
	Include []Field
	Exclude []Field
	// Password controls how passwords are generated. Passwords are only
	// decoded by a client built with [WithCredentials].
	Password PasswordSpec
	// Format is the response format; empty means JSON.
	Format Format
	// NoInfo drops the info object from the response. Without it the
	// client cannot detect the empty-results outage.
	NoInfo bool
	// Lego asks for the undocumented LEGO nationality: users with nat
	// "LEGO", no country and LEGO portraits.
	Lego bool
	// Callback wraps a JSON response as JSONP: name({...}); Only useful with
	// [Client.Download], since the result is no longer JSON.
	Callback string
	// Download (the dl parameter) makes the API answer with
	// Content-Type application/octet-stream and an attachment file name.
	// Only useful with [Client.Download].
	Download bool
}

// Validate reports, wrapping [ErrInvalidQuery], the first parameter the API
// would silently replace or misbehave on.
func (q Query) Validate() error {
	if err := q.validate(); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidQuery, err)
	}
	return nil
}

func (q Query) validate() error {
	if q.Results < 0 || q.Results > MaxResults {
		return fmt.Errorf("results %d is not within 1-%d", q.Results, MaxResults)
	}
	if q.Page < 0 || q.Page > MaxPage {
		return fmt.Errorf("page %d is not within 1-%d", q.Page, MaxPage)
	}
	switch q.Gender {
	case "", Male, Female:
	default:
		return fmt.Errorf("gender %q is neither %q nor %q", q.Gender, Male, Female)
	}
	if q.Gender != "" && q.Seed != "" {
		return fmt.Errorf("gender %q is ignored by the API when a seed is set", q.Gender)
	}
	for _, n := range q.Nat {
		if !slices.Contains(Nationalities, strings.ToUpper(n)) {
			return fmt.Errorf("nat %q is not a 1.4 nationality (the API would use all of them)", n)
		}
	}
	if q.Lego && len(q.Nat) > 0 {
		return fmt.Errorf("lego overrides nat %v", q.Nat)
	}
	if len(q.Seed) == 18 {
		if _, ok := seedNat(q.Seed); !ok {
			return fmt.Errorf("seed %q: an 18-character seed must end in the hex index of a nationality (00-14); others make the API hang", q.Seed)
		}
	}
	for _, fs := range [][]Field{q.Include, q.Exclude} {
		for _, f := range fs {
			if !slices.Contains(allFields, Field(strings.ToLower(string(f)))) {
				return fmt.Errorf("unknown field %q", f)
			}
		}
	}
	if err := q.Password.validate(); err != nil {
		return err
	}
	switch Format(strings.ToLower(string(q.Format))) {
	case "", FormatJSON, FormatPrettyJSON, "prettyjson", FormatCSV, FormatYAML, FormatXML:
	default:
		return fmt.Errorf("unknown format %q", q.Format)
	}
	return nil
}

// seedNat returns the nationality an 18-character seed forces.
func seedNat(seed string) (string, bool) {
	i, err := strconv.ParseUint(seed[16:], 16, 8)
	if err != nil || int(i) >= len(Nationalities) {
		return "", false
	}
	return Nationalities[i], true
}

// isJSON reports whether the query asks for a JSON body the decoder can read.
func (q Query) isJSON() bool {
	switch Format(strings.ToLower(string(q.Format))) {
	case "", FormatJSON, FormatPrettyJSON, "prettyjson":
		return q.Callback == ""
	}
	return false
}

// Values returns the query as URL parameters, leaving out defaults. It does
// not validate.
func (q Query) Values() url.Values {
	v := url.Values{}
	if q.Results != 0 {
		v.Set("results", strconv.Itoa(q.Results))
	}
	if q.Gender != "" {
		v.Set("gender", string(q.Gender))
	}
	if len(q.Nat) > 0 {
		v.Set("nat", strings.ToLower(strings.Join(q.Nat, ",")))
	}
	if q.Seed != "" {
		v.Set("seed", q.Seed)
	}
	if q.Page != 0 {
		v.Set("page", strconv.Itoa(q.Page))
	}
	if len(q.Include) > 0 {
		v.Set("inc", joinFields(q.Include))
	}
	if len(q.Exclude) > 0 {
		v.Set("exc", joinFields(q.Exclude))
	}
	if !q.Password.isZero() {
		v.Set("password", q.Password.String())
	}
	if q.Format != "" {
		v.Set("format", string(q.Format))
	}
	if q.NoInfo {
		v.Set("noinfo", "")
	}
	if q.Lego {
		v.Set("lego", "")
	}
	if q.Callback != "" {
		v.Set("callback", q.Callback)
	}
	if q.Download {
		v.Set("dl", "")
	}
	return v
}

func joinFields(fs []Field) string {
	s := make([]string, len(fs))
	for i, f := range fs {
		s[i] = strings.ToLower(string(f))
	}
	return strings.Join(s, ",")
}

// NewSeed returns a random seed of 16 hex characters, the kind the API picks
// when a query has none. Use it to start a reproducible data set whose seed
// you record.
func NewSeed() string {
	var b [8]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return hex.EncodeToString(b[:])
}
