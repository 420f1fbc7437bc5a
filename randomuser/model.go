package randomuser

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strconv"
	"time"
	"unicode/utf8"
)

// User is one element of the "results" array of API version 1.4.
//
// Field order and JSON names follow the API, so encoding a User with
// encoding/json yields the 1.4 shape again, with two deliberate differences:
// [Postcode] is always encoded as a string, and the credential fields of
// [Login] are omitted when empty (they are empty unless the [Client] was
// built with [WithCredentials]).
//
// A field missing from the response (for example because of Query.Include
// or Query.Exclude) is left at its zero value.
type User struct {
	Gender     string   `json:"gender"` // "male" or "female"
	Name       Name     `json:"name"`
	Location   Location `json:"location"`
	Email      string   `json:"email"`
	Login      Login    `json:"login"`
	DOB        Dated    `json:"dob"`
	Registered Dated    `json:"registered"`
	Phone      string   `json:"phone"` // always text, even when only digits
	Cell       string   `json:"cell"`
	ID         ID       `json:"id"`
	Picture    Picture  `json:"picture"`
	Nat        string   `json:"nat"` // one of [Nationalities], or "LEGO"
}

// LogValue implements [slog.LogValuer]. A user is logged by its
// identifiers only: logging whole users would copy personal data (and, with
// [WithCredentials], passwords) into logs.
func (u User) LogValue() slog.Value {
	return slog.GroupValue(slog.String("uuid", u.Login.UUID), slog.String("username", u.Login.Username), slog.String("nat", u.Nat))
}

// Name is a user's name. First and Last use the native script of the
// nationality where the API's lists do (Persian for IR, Cyrillic for RS, UA).
type Name struct {
	Title string `json:"title"` // "Mr", "Miss", "Mrs", "Ms"; CH: "Monsieur", "Mademoiselle", "Madame"
	First string `json:"first"`
	Last  string `json:"last"`
}

// Location is a user's postal address plus random coordinates and time zone.
// The coordinates and time zone are not tied to the address.
type Location struct {
	Street      Street      `json:"street"`
	City        string      `json:"city"`
	State       string      `json:"state"`
	Country     string      `json:"country"` // missing (empty) for the LEGO nationality
	Postcode    Postcode    `json:"postcode"`
	Coordinates Coordinates `json:"coordinates"`
	Timezone    Timezone    `json:"timezone"`
}

// Street is the street part of a [Location].
type Street struct {
	Number int    `json:"number"` // 1–9999
	Name   string `json:"name"`
}

// Postcode is a postal code kept as text.
//
// The API sends a JSON number for most nationalities (US 12345, AU 200–9999)
// and a JSON string for CA ("T2P 4R4"), GB ("C4S 0YR") and NO ("0150", where
// the leading zero matters). Postcode accepts both and keeps the number's
// literal digits, so nothing is lost and callers deal with one type. A JSON
// null decodes to "". It always encodes as a JSON string.
type Postcode string

// String returns the postcode text.
func (p Postcode) String() string { return string(p) }

// UnmarshalJSON implements [json.Unmarshaler]. It accepts a JSON string, a
// JSON number (kept as its literal text) or null.
func (p *Postcode) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case len(b) == 0:
		return fmt.Errorf("randomuser: empty postcode")
	case b[0] == '"' && len(b) >= 2 && b[len(b)-1] == '"' && bytes.IndexByte(b, '\\') < 0 && utf8.Valid(b):
		// The common case: no escapes to undo. encoding/json has already
		// checked the syntax when it calls UnmarshalJSON.
		*p = Postcode(b[1 : len(b)-1])
	case b[0] == '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return fmt.Errorf("randomuser: postcode: %w", err)
		}
		*p = Postcode(s)
	case string(b) == "null":
		*p = ""
	case b[0] == '-' || (b[0] >= '0' && b[0] <= '9'):
		if !json.Valid(b) {
			return fmt.Errorf("randomuser: postcode: invalid number %q", b)
		}
		*p = Postcode(b)
	default:
		return fmt.Errorf("randomuser: postcode: want string or number, got %.20q", b)
	}
	return nil
}

// Coordinates are the random latitude and longitude of a [Location]. The API
// sends them as strings with four decimals (for example "-69.8246"); they
// stay strings here so that they round-trip exactly. Use [Coordinates.Float]
// for numbers.
type Coordinates struct {
	Latitude  string `json:"latitude"`
	Longitude string `json:"longitude"`
}

// Float parses the coordinates. It returns an error if either is not a number.
func (c Coordinates) Float() (lat, lng float64, err error) {
	if lat, err = strconv.ParseFloat(c.Latitude, 64); err != nil {
		return 0, 0, fmt.Errorf("randomuser: latitude: %w", err)
	}
	if lng, err = strconv.ParseFloat(c.Longitude, 64); err != nil {
		return 0, 0, fmt.Errorf("randomuser: longitude: %w", err)
	}
	return lat, lng, nil
}

// Timezone is a UTC offset as the API writes it ("+5:45", "-10:00", "0:00":
// hours are not zero-padded) and a description ("Kathmandu").
type Timezone struct {
	Offset      string `json:"offset"`
	Description string `json:"description"`
}

// Login holds a user's account data.
//
// Password, Salt, MD5, SHA1 and SHA256 are credentials: the [Client] skips
// them while decoding unless it was built with [WithCredentials], so they do
// not travel further than the code that asked for them. MD5, SHA1 and SHA256
// are lowercase hex digests of Password+Salt.
//
// Login's String and LogValue methods never print the credentials, so
// logging or printing a [User] with %v does not leak them.
type Login struct {
	UUID     string `json:"uuid"` // a version 4 UUID, the API's stable user identifier
	Username string `json:"username"`
	Password string `json:"password,omitempty"`
	Salt     string `json:"salt,omitempty"`
	MD5      string `json:"md5,omitempty"`
	SHA1     string `json:"sha1,omitempty"`
	SHA256   string `json:"sha256,omitempty"`
}

// String returns the UUID and username; credentials are redacted.
func (l Login) String() string {
	s := "{" + l.UUID + " " + l.Username
	if l.hasCredentials() {
		s += " [credentials redacted]"
	}
	return s + "}"
}

// LogValue implements [slog.LogValuer]; credentials are never logged.
func (l Login) LogValue() slog.Value {
	return slog.GroupValue(slog.String("uuid", l.UUID), slog.String("username", l.Username))
}

func (l Login) hasCredentials() bool {
	return l.Password != "" || l.Salt != "" || l.MD5 != "" || l.SHA1 != "" || l.SHA256 != ""
}

// Dated is a date with the age in whole years the API computed from it. The
// API sends ISO 8601 UTC with milliseconds ("1952-12-25T09:25:24.013Z").
//
// Age is relative to the time of the request, so it grows over time even for
// the same seed; Date does not change.
type Dated struct {
	Date time.Time `json:"date"`
	Age  int       `json:"age"`
}

// ID is a national identifier. Name is "" and Value is nil for the
// nationalities without one (IR, NZ, TR, UA), where the API sends
// {"name":"","value":null}. Value keeps leading zeros and any separators.
type ID struct {
	Name  string  `json:"name"`  // "SSN", "NINO", "TFN", …
	Value *string `json:"value"` // nil when the API sends null
}

// String returns the value, or "" when it is null.
func (id ID) String() string {
	if id.Value == nil {
		return ""
	}
	return *id.Value
}

// Picture holds portrait URLs in three sizes (128, 72 and 48 pixels).
type Picture struct {
	Large     string `json:"large"`
	Medium    string `json:"medium"`
	Thumbnail string `json:"thumbnail"`
}

// Info is the "info" object of a response. It is absent (zero) when the query
// set NoInfo.
type Info struct {
	// Seed is the seed the API used: the query's seed, or one it picked.
	Seed string `json:"seed"`
	// Results is the number of users the API says it generated.
	Results int `json:"results"`
	// Page is a JSON number; the API echoes fractional pages such as 1.5.
	Page float64 `json:"page"`
	// Version is the API version that answered, for example "1.4".
	Version string `json:"version"`
}

// Response is one decoded page: the results and the info object.
type Response struct {
	Results []User `json:"results"`
	Info    Info   `json:"info"`
}
