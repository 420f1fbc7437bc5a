package transform

import (
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// MaxFieldBytes caps the length, in bytes, of every field of a [Row].
// [Row.Validate] reports a longer value. Real Random User data is far
// shorter; the cap bounds what a hostile or broken producer can push into
// the store.
const MaxFieldBytes = 1024

// TimeLayout is the layout [FromUser] uses for DOB and RegisteredDate: ISO
// 8601 in UTC with milliseconds, the form the Random User API itself sends
// (for example "1992-03-08T15:13:16.688Z").
const TimeLayout = "2006-01-02T15:04:05.000Z"

// Reasons reported in [FieldError.Reason]. They are meant for people and
// logs; match on [FieldError.Field], not on the reason text.
const (
	reasonMissing  = "missing"
	reasonTooLong  = "longer than 1024 bytes"
	reasonBadUTF8  = "not valid UTF-8"
	reasonNotUUID  = "not a UUID (want 8-4-4-4-12 hex digits)"
	reasonNilUUID  = "nil UUID"
	reasonBlank    = "empty or only white space"
	reasonBadEmail = "malformed email address"
	reasonBadTime  = "not an RFC 3339 date-time"
)

// FieldError is one invalid field of a [Row].
type FieldError struct {
	// Field is the field's JSON (and column) name, for example "email".
	Field string
	// Reason says what is wrong, for example "malformed email address". It
	// never contains the field's value, so it is safe to log.
	Reason string
}

// Error returns "field: reason".
func (e FieldError) Error() string { return e.Field + ": " + e.Reason }

// ValidationError is returned by [Row.Validate] and [Marshal] for a row with
// one or more invalid fields. Use [errors.As] to get at the fields:
//
//	var verr *transform.ValidationError
//	if errors.As(err, &verr) {
//		for _, f := range verr.Fields { ... }
//	}
type ValidationError struct {
	// Fields lists every invalid field, in the order of the Row's fields,
	// at most one entry per field. It is never empty.
	Fields []FieldError
}

// Error lists every invalid field, for example
// "transform: invalid row: id: missing; email: malformed email address".
func (e *ValidationError) Error() string {
	var b strings.Builder
	b.WriteString("transform: invalid row: ")
	for i, f := range e.Fields {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(f.Field)
		b.WriteString(": ")
		b.WriteString(f.Reason)
	}
	return b.String()
}

// Validate reports whether r is fit to be written to the topic and the
// store. It returns nil or a *[ValidationError] listing every invalid field:
//
//   - id must be a UUID in its 36-character 8-4-4-4-12 hex form, in either
//     case, and not the nil UUID;
//   - first_name and last_name must not be empty or only white space;
//   - email must be an address of the form local@domain.tld (a dot-atom
//     local part of RFC 5322 "atext" characters, DNS labels in the domain;
//     quoted local parts and IP-literal domains are refused);
//   - registered_date must be an RFC 3339 date-time, with or without
//     fractional seconds (for example "2014-04-28T10:33:14.790Z" or
//     "2014-04-28T12:33:14+02:00"); dob is optional, but if set it must be
//     one too;
//   - every field must be valid UTF-8 and at most [MaxFieldBytes] long.
//
// The other fields (gender, address, post_code, username, phone, picture)
// may be empty. Validate is pure and safe for concurrent use.
func (r Row) Validate() error {
	var errs []FieldError
	add := func(field, reason string) { errs = append(errs, FieldError{Field: field, Reason: reason}) }

	check := func(field, v string, required bool, semantic func(string) string) {
		switch {
		case v == "" && required:
			add(field, reasonMissing)
		case len(v) > MaxFieldBytes:
			add(field, reasonTooLong)
		case !utf8.ValidString(v):
			add(field, reasonBadUTF8)
		case v != "" && semantic != nil:
			if reason := semantic(v); reason != "" {
				add(field, reason)
			}
		}
	}

	check("id", r.ID, true, checkUUID)
	check("first_name", r.FirstName, true, checkName)
	check("last_name", r.LastName, true, checkName)
	check("gender", r.Gender, false, nil)
	check("address", r.Address, false, nil)
	check("post_code", r.PostCode, false, nil)
	check("email", r.Email, true, checkEmail)
	check("username", r.Username, false, nil)
	check("dob", r.DOB, false, checkTime)
	check("registered_date", r.RegisteredDate, true, checkTime)
	check("phone", r.Phone, false, nil)
	check("picture", r.Picture, false, nil)

	if errs != nil {
		return &ValidationError{Fields: errs}
	}
	return nil
}

func checkUUID(s string) string {
	b, ok := parseUUID(s)
	switch {
	case !ok:
		return reasonNotUUID
	case b == [16]byte{}:
		return reasonNilUUID
	}
	return ""
}

func checkName(s string) string {
	if strings.TrimFunc(s, unicode.IsSpace) == "" {
		return reasonBlank
	}
	return ""
}

func checkEmail(s string) string {
	if !validEmail(s) {
		return reasonBadEmail
	}
	return ""
}

func checkTime(s string) string {
	if _, ok := parseTime(s); !ok {
		return reasonBadTime
	}
	return ""
}

// parseUUID parses the 36-character textual form of a UUID
// (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx, hex digits in either case). It
// accepts any version and variant: the Random User API mints version 4, but
// the id only has to be a valid Cassandra uuid.
func parseUUID(s string) (u [16]byte, ok bool) {
	if len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return u, false
	}
	j := 0
	for i := 0; i < 36; i += 2 {
		if i == 8 || i == 13 || i == 18 || i == 23 {
			i++
		}
		hi, ok1 := unhex(s[i])
		lo, ok2 := unhex(s[i+1])
		if !ok1 || !ok2 {
			return u, false
		}
		u[j] = hi<<4 | lo
		j++
	}
	return u, true
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// validEmail reports whether s is local@domain where local is an RFC 5322
// dot-atom of at most 64 bytes and domain is at least two DNS labels (letters,
// digits and inner hyphens, 1 to 63 bytes each), at most 255 bytes, the last
// label not all digits. Only ASCII is accepted, as in the JSON Schema "email"
// format: the Random User API transliterates names into its addresses.
func validEmail(s string) bool {
	at := strings.LastIndexByte(s, '@')
	if at <= 0 || at > 64 || len(s)-at-1 > 255 {
		return false
	}
	local, domain := s[:at], s[at+1:]
	// Local part: dot-atom.
	prevDot := true // a leading dot is refused
	for i := 0; i < len(local); i++ {
		c := local[i]
		if c == '.' {
			if prevDot {
				return false
			}
			prevDot = true
			continue
		}
		if !isAtext(c) {
			return false
		}
		prevDot = false
	}
	if prevDot {
		return false
	}
	// Domain: at least two labels.
	labels := 0
	allDigits := true
	for domain != "" {
		label := domain
		if i := strings.IndexByte(domain, '.'); i >= 0 {
			label, domain = domain[:i], domain[i+1:]
			if domain == "" {
				return false // trailing dot
			}
		} else {
			domain = ""
		}
		if len(label) == 0 || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		allDigits = true
		for i := 0; i < len(label); i++ {
			c := label[i]
			switch {
			case '0' <= c && c <= '9':
			case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', c == '-':
				allDigits = false
			default:
				return false
			}
		}
		labels++
	}
	return labels >= 2 && !allDigits
}

// isAtext reports whether c is an RFC 5322 "atext" character.
func isAtext(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-/=?^_`{|}~", c) >= 0
}

// parseTime parses an RFC 3339 date-time (section 5.6):
// YYYY-MM-DDTHH:MM:SS[.fraction](Z|+HH:MM|-HH:MM), with any number of
// fraction digits; "T" and "Z" may be lower case as RFC 3339 allows. The
// date must exist (no February 30); leap seconds (second 60) are refused
// because time.Time cannot represent them.
func parseTime(s string) (time.Time, bool) {
	if len(s) < len("2006-01-02T15:04:05Z") {
		return time.Time{}, false
	}
	y1, ok1 := twoDigits(s[0:2])
	y2, ok0 := twoDigits(s[2:4])
	year := y1*100 + y2
	month, ok2 := twoDigits(s[5:7])
	day, ok3 := twoDigits(s[8:10])
	hour, ok4 := twoDigits(s[11:13])
	minute, ok5 := twoDigits(s[14:16])
	sec, ok6 := twoDigits(s[17:19])
	if !(ok0 && ok1 && ok2 && ok3 && ok4 && ok5 && ok6) ||
		s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't') ||
		s[13] != ':' || s[16] != ':' {
		return time.Time{}, false
	}
	if month < 1 || month > 12 || day < 1 || hour > 23 || minute > 59 || sec > 59 {
		return time.Time{}, false
	}
	if day > daysIn(time.Month(month), year) {
		return time.Time{}, false
	}
	rest := s[19:]
	nsec := 0
	if rest[0] == '.' {
		i := 1
		for i < len(rest) && '0' <= rest[i] && rest[i] <= '9' {
			if i <= 9 {
				nsec = nsec*10 + int(rest[i]-'0')
			}
			i++
		}
		if i == 1 {
			return time.Time{}, false
		}
		for d := min(i-1, 9); d < 9; d++ {
			nsec *= 10
		}
		rest = rest[i:]
	}
	t := time.Date(year, time.Month(month), day, hour, minute, sec, nsec, time.UTC)
	switch {
	case rest == "Z" || rest == "z":
		return t, true
	case len(rest) == 6 && (rest[0] == '+' || rest[0] == '-') && rest[3] == ':':
		oh, okh := twoDigits(rest[1:3])
		om, okm := twoDigits(rest[4:6])
		if !okh || !okm || oh > 23 || om > 59 {
			return time.Time{}, false
		}
		off := time.Duration(oh*60+om) * time.Minute
		if rest[0] == '-' {
			off = -off
		}
		// Local time = UTC + offset, so UTC = local time - offset.
		return t.Add(-off), true
	}
	return time.Time{}, false
}

func twoDigits(s string) (int, bool) {
	if s[0] < '0' || s[0] > '9' || s[1] < '0' || s[1] > '9' {
		return 0, false
	}
	return int(s[0]-'0')*10 + int(s[1]-'0'), true
}

func daysIn(m time.Month, year int) int {
	switch m {
	case time.February:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case time.April, time.June, time.September, time.November:
		return 30
	}
	return 31
}
