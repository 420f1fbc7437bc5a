package transform

import (
	"unicode/utf8"
)

// Header values for the records of the users_created topic. kafkasink puts
// them in the record headers; a consumer checks them before [Unmarshal].
const (
	// SchemaVersion is the version of the payload that [Marshal] writes,
	// described by [PayloadSchema]. Any change to the payload's fields
	// bumps it and adds a schema file (users_created.vN.json). [Unmarshal]
	// ignores unknown fields, so a version-1 reader still reads a later
	// version that only adds fields.
	SchemaVersion = "1"
	// ContentType is the media type of the payload.
	ContentType = "application/json"
)

// Marshal validates r and returns its JSON form, the payload of a
// users_created record. It returns a *[ValidationError] and no bytes if r is
// invalid, so an invalid row never reaches the topic; use [AppendJSON] to
// encode without validating.
//
// The output is compact JSON with the fields in the seed producer's order
// (id, first_name, last_name, gender, address, post_code, email, username,
// dob, registered_date, phone, picture); dob is left out when empty, every
// other field is always written. It conforms to [PayloadSchema].
func Marshal(r Row) ([]byte, error) {
	if err := r.Validate(); err != nil {
		return nil, err
	}
	return AppendJSON(make([]byte, 0, encodedSizeHint(r)), r), nil
}

// AppendJSON appends the JSON form of r to dst and returns the extended
// buffer, as [Marshal] does but without validating r; it never fails.
// Invalid UTF-8 is written as U+FFFD, as encoding/json does, so the output
// is always valid JSON. Reusing dst across calls avoids allocating.
func AppendJSON(dst []byte, r Row) []byte {
	dst = append(dst, `{"id":`...)
	dst = appendString(dst, r.ID)
	dst = append(dst, `,"first_name":`...)
	dst = appendString(dst, r.FirstName)
	dst = append(dst, `,"last_name":`...)
	dst = appendString(dst, r.LastName)
	dst = append(dst, `,"gender":`...)
	dst = appendString(dst, r.Gender)
	dst = append(dst, `,"address":`...)
	dst = appendString(dst, r.Address)
	dst = append(dst, `,"post_code":`...)
	dst = appendString(dst, r.PostCode)
	dst = append(dst, `,"email":`...)
	dst = appendString(dst, r.Email)
	dst = append(dst, `,"username":`...)
	dst = appendString(dst, r.Username)
	if r.DOB != "" {
		dst = append(dst, `,"dob":`...)
		dst = appendString(dst, r.DOB)
	}
	dst = append(dst, `,"registered_date":`...)
	dst = appendString(dst, r.RegisteredDate)
	dst = append(dst, `,"phone":`...)
	dst = appendString(dst, r.Phone)
	dst = append(dst, `,"picture":`...)
	dst = appendString(dst, r.Picture)
	return append(dst, '}')
}

// encodedSizeHint is the size of AppendJSON's output when no character
// needs escaping.
func encodedSizeHint(r Row) int {
	const keys = len(`{"id":"","first_name":"","last_name":"","gender":"","address":"","post_code":"","email":"","username":"","dob":"","registered_date":"","phone":"","picture":""}`)
	return keys + len(r.ID) + len(r.FirstName) + len(r.LastName) + len(r.Gender) +
		len(r.Address) + len(r.PostCode) + len(r.Email) + len(r.Username) + len(r.DOB) +
		len(r.RegisteredDate) + len(r.Phone) + len(r.Picture)
}

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string. It escapes '"', '\\', control
// characters and U+2028/U+2029 (as encoding/json does, for JavaScript
// readers), writes invalid UTF-8 as U+FFFD and everything else verbatim. It
// does not escape '<', '>' and '&': the payload is not embedded in HTML.
func appendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, "\ufffd"...)
			i++
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
