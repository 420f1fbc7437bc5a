package transform

import (
	"errors"
	"fmt"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// Causes of a [DecodeError], for [errors.Is].
var (
	// ErrSyntax means the payload is not well-formed JSON (RFC 8259).
	ErrSyntax = errors.New("malformed JSON")
	// ErrNotObject means the payload is well-formed JSON but not an object.
	ErrNotObject = errors.New("payload is not a JSON object")
	// ErrFieldType means a known field holds a JSON value of a type it cannot
	// take: every field takes a string or null, and post_code also takes a
	// number.
	ErrFieldType = errors.New("wrong JSON type")
)

// DecodeError is returned by [Unmarshal] for a payload it cannot decode. It
// wraps [ErrSyntax], [ErrNotObject] or [ErrFieldType] (with details), so
// errors.Is works on it. A payload that is not well-formed JSON always
// reports ErrSyntax, even if a field before the problem has the wrong type;
// otherwise the first field of the wrong type is reported. A DecodeError never says anything about the
// meaning of the values: that is [Row.Validate]'s job.
type DecodeError struct {
	// Offset is the index of the byte of the payload at which decoding
	// failed: the unexpected byte, the start of a value of the wrong type,
	// or the payload's length if it ended too early.
	Offset int64
	// Field is the JSON name of the known field whose value failed to
	// decode, or "" if the error is elsewhere.
	Field string
	// Err is the cause.
	Err error
}

func (e *DecodeError) Error() string {
	if e.Field != "" {
		return fmt.Sprintf("transform: decode payload: field %q at offset %d: %v", e.Field, e.Offset, e.Err)
	}
	return fmt.Sprintf("transform: decode payload at offset %d: %v", e.Offset, e.Err)
}

func (e *DecodeError) Unwrap() error { return e.Err }

// Unmarshal decodes a users_created payload into a Row. It accepts what
// [Marshal] writes and what the seed's producer (with its uuid fix) sends:
//
//   - a JSON object whose keys are the Row's JSON names, matched exactly
//     (case-sensitively), in any order;
//   - every value a string or null (null leaves the field empty); post_code
//     may also be a JSON number, kept as its literal text ("70963"), as the
//     Random User API sends numeric postcodes for most nationalities;
//   - any field may be missing (dob is missing from messages of producers
//     that follow the seed's table), and unknown fields, of any type, are
//     ignored;
//   - a repeated key keeps its last value, as with encoding/json.
//
// Strings are unescaped as encoding/json does: \uXXXX escapes and surrogate
// pairs are decoded, and invalid UTF-8 or a lone surrogate becomes U+FFFD,
// so every decoded field is valid UTF-8. The whole payload must be one
// well-formed JSON value with nothing but white space after it.
//
// On failure Unmarshal returns a zero Row and a *[DecodeError]. It does not
// validate the row: call [Row.Validate] on the result. Unmarshal is safe
// for concurrent use; the returned strings do not alias data.
func Unmarshal(data []byte) (Row, error) {
	// Decoded values go to scratch (on the stack unless they outgrow it),
	// then become one string: one allocation per row.
	var scratch [1024]byte
	d := decoder{data: data}
	buf, err := d.object(scratch[:0])
	if err != nil {
		return Row{}, err
	}
	return d.row(buf), nil
}

// maxDepth is the deepest nesting of arrays and objects accepted, the same
// limit as encoding/json's.
const maxDepth = 10000

const numFields = 12

// fieldNames holds the JSON names of Row's fields, in field order.
var fieldNames = [numFields]string{
	"id", "first_name", "last_name", "gender", "address", "post_code",
	"email", "username", "dob", "registered_date", "phone", "picture",
}

const postCodeIndex = 5

// fieldIndex returns the index in fieldNames of key, or -1.
func fieldIndex(key []byte) int {
	switch string(key) {
	case "id":
		return 0
	case "first_name":
		return 1
	case "last_name":
		return 2
	case "gender":
		return 3
	case "address":
		return 4
	case "post_code":
		return 5
	case "email":
		return 6
	case "username":
		return 7
	case "dob":
		return 8
	case "registered_date":
		return 9
	case "phone":
		return 10
	case "picture":
		return 11
	}
	return -1
}

type span struct{ start, end int }

// decoder decodes one payload. All decoded values are appended to a buffer
// (passed along and returned rather than kept in the struct, so that escape
// analysis can keep it on the stack), and turned into strings with a single
// allocation at the end.
type decoder struct {
	data  []byte
	pos   int
	spans [numFields]span
	set   uint16 // bit i: field i has a value
	field string // the known field being decoded, for errors
	// typeErr is the first ErrFieldType error. It is returned only once the
	// whole payload is known to be well-formed, so that a truncated or
	// garbled payload always reports ErrSyntax, as with encoding/json.
	typeErr error
}

func (d *decoder) row(buf []byte) Row {
	if d.set == 0 {
		return Row{}
	}
	s := string(buf)
	var r Row
	for i := range numFields {
		if d.set&(1<<i) == 0 {
			continue
		}
		v := s[d.spans[i].start:d.spans[i].end]
		switch i {
		case 0:
			r.ID = v
		case 1:
			r.FirstName = v
		case 2:
			r.LastName = v
		case 3:
			r.Gender = v
		case 4:
			r.Address = v
		case 5:
			r.PostCode = v
		case 6:
			r.Email = v
		case 7:
			r.Username = v
		case 8:
			r.DOB = v
		case 9:
			r.RegisteredDate = v
		case 10:
			r.Phone = v
		case 11:
			r.Picture = v
		}
	}
	return r
}

// object decodes the top-level object, appending the values of known
// fields to buf.
func (d *decoder) object(buf []byte) ([]byte, error) {
	d.skipSpace()
	if d.pos >= len(d.data) {
		return buf, d.errEOF()
	}
	if d.data[d.pos] != '{' {
		start := d.pos
		if err := d.skipValue(1); err != nil {
			return buf, err
		}
		if err := d.end(); err != nil {
			return buf, err
		}
		return buf, &DecodeError{Offset: int64(start), Err: ErrNotObject}
	}
	d.pos++
	d.skipSpace()
	if d.pos < len(d.data) && d.data[d.pos] == '}' {
		d.pos++
		return buf, d.end()
	}
	var err error
	for {
		d.skipSpace()
		if d.pos >= len(d.data) {
			return buf, d.errEOF()
		}
		if d.data[d.pos] != '"' {
			return buf, d.errChar("looking for beginning of object key string")
		}
		// Decode the key into buf, look it up, then drop it.
		mark := len(buf)
		if buf, err = d.str(buf, true); err != nil {
			return buf, err
		}
		idx := fieldIndex(buf[mark:])
		buf = buf[:mark]

		d.skipSpace()
		if d.pos >= len(d.data) {
			return buf, d.errEOF()
		}
		if d.data[d.pos] != ':' {
			return buf, d.errChar("after object key")
		}
		d.pos++
		d.skipSpace()
		if idx < 0 {
			if err := d.skipValue(2); err != nil {
				return buf, err
			}
		} else if buf, err = d.value(buf, idx); err != nil {
			return buf, err
		}

		d.skipSpace()
		if d.pos >= len(d.data) {
			return buf, d.errEOF()
		}
		switch d.data[d.pos] {
		case ',':
			d.pos++
		case '}':
			d.pos++
			if err := d.end(); err != nil {
				return buf, err
			}
			return buf, d.typeErr
		default:
			return buf, d.errChar("after object key:value pair")
		}
	}
}

// end checks that only white space follows the top-level value.
func (d *decoder) end() error {
	d.skipSpace()
	if d.pos < len(d.data) {
		return d.errChar("after top-level value")
	}
	return nil
}

// value decodes the value of field idx at d.pos, appending it to buf.
func (d *decoder) value(buf []byte, idx int) ([]byte, error) {
	d.field = fieldNames[idx]
	buf, err := d.value1(buf, idx)
	d.field = ""
	return buf, err
}

func (d *decoder) value1(buf []byte, idx int) ([]byte, error) {
	if d.pos >= len(d.data) {
		return buf, d.errEOF()
	}
	start := d.pos
	switch c := d.data[d.pos]; {
	case c == '"':
		mark := len(buf)
		buf, err := d.str(buf, true)
		if err != nil {
			return buf, err
		}
		d.spans[idx] = span{mark, len(buf)}
		d.set |= 1 << idx
		return buf, nil
	case c == 'n':
		// null leaves the field as it is, as with encoding/json.
		return buf, d.literal("null")
	case idx == postCodeIndex && (c == '-' || '0' <= c && c <= '9'):
		if err := d.number(); err != nil {
			return buf, err
		}
		mark := len(buf)
		buf = append(buf, d.data[start:d.pos]...)
		d.spans[idx] = span{mark, len(buf)}
		d.set |= 1 << idx
		return buf, nil
	}
	// Report malformed JSON as such, and only then the type.
	if err := d.skipValue(2); err != nil {
		return buf, err
	}
	want := "string"
	if idx == postCodeIndex {
		want = "string or number"
	}
	if d.typeErr == nil {
		d.typeErr = &DecodeError{
			Offset: int64(start),
			Field:  d.field,
			Err:    fmt.Errorf("%w: got %s, want %s", ErrFieldType, kindOf(d.data[start]), want),
		}
	}
	return buf, nil
}

func kindOf(c byte) string {
	switch c {
	case '{':
		return "object"
	case '[':
		return "array"
	case 't', 'f':
		return "boolean"
	case '"':
		return "string"
	case 'n':
		return "null"
	}
	return "number"
}

// skipValue checks and skips the value at d.pos, which is at the given
// nesting depth if it is an array or object.
func (d *decoder) skipValue(depth int) error {
	if d.pos >= len(d.data) {
		return d.errEOF()
	}
	switch c := d.data[d.pos]; c {
	case '"':
		_, err := d.str(nil, false)
		return err
	case 't':
		return d.literal("true")
	case 'f':
		return d.literal("false")
	case 'n':
		return d.literal("null")
	case '{', '[':
		if depth > maxDepth {
			return &DecodeError{Offset: int64(d.pos), Field: d.field, Err: fmt.Errorf("%w: nested deeper than %d", ErrSyntax, maxDepth)}
		}
		d.pos++
		d.skipSpace()
		closing := byte('}')
		if c == '[' {
			closing = ']'
		}
		if d.pos < len(d.data) && d.data[d.pos] == closing {
			d.pos++
			return nil
		}
		for {
			d.skipSpace()
			if c == '{' {
				if d.pos >= len(d.data) {
					return d.errEOF()
				}
				if d.data[d.pos] != '"' {
					return d.errChar("looking for beginning of object key string")
				}
				if _, err := d.str(nil, false); err != nil {
					return err
				}
				d.skipSpace()
				if d.pos >= len(d.data) {
					return d.errEOF()
				}
				if d.data[d.pos] != ':' {
					return d.errChar("after object key")
				}
				d.pos++
				d.skipSpace()
			}
			if err := d.skipValue(depth + 1); err != nil {
				return err
			}
			d.skipSpace()
			if d.pos >= len(d.data) {
				return d.errEOF()
			}
			switch d.data[d.pos] {
			case ',':
				d.pos++
			case closing:
				d.pos++
				return nil
			default:
				if c == '{' {
					return d.errChar("after object key:value pair")
				}
				return d.errChar("after array element")
			}
		}
	}
	if c := d.data[d.pos]; c == '-' || '0' <= c && c <= '9' {
		return d.number()
	}
	return d.errChar("looking for beginning of value")
}

func (d *decoder) literal(lit string) error {
	for i := 0; i < len(lit); i++ {
		if d.pos >= len(d.data) {
			return d.errEOF()
		}
		if d.data[d.pos] != lit[i] {
			return d.errChar("in literal " + lit)
		}
		d.pos++
	}
	return nil
}

// number checks and skips a JSON number at d.pos.
func (d *decoder) number() error {
	digits := func() error {
		if d.pos >= len(d.data) {
			return d.errEOF()
		}
		if c := d.data[d.pos]; c < '0' || c > '9' {
			return d.errChar("in numeric literal")
		}
		for d.pos < len(d.data) && '0' <= d.data[d.pos] && d.data[d.pos] <= '9' {
			d.pos++
		}
		return nil
	}
	if d.data[d.pos] == '-' {
		d.pos++
	}
	if d.pos < len(d.data) && d.data[d.pos] == '0' {
		d.pos++
	} else if err := digits(); err != nil {
		return err
	}
	if d.pos < len(d.data) && d.data[d.pos] == '.' {
		d.pos++
		if err := digits(); err != nil {
			return err
		}
	}
	if d.pos < len(d.data) && (d.data[d.pos] == 'e' || d.data[d.pos] == 'E') {
		d.pos++
		if d.pos < len(d.data) && (d.data[d.pos] == '+' || d.data[d.pos] == '-') {
			d.pos++
		}
		if err := digits(); err != nil {
			return err
		}
	}
	return nil
}

// plain marks the bytes that stand for themselves inside a JSON string:
// printable ASCII other than '"' and '\\'.
var plain = func() (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// str checks the string at d.pos and skips it; if keep, it appends the
// unescaped value to buf.
func (d *decoder) str(buf []byte, keep bool) ([]byte, error) {
	data := d.data
	i := d.pos + 1 // past the opening quote
	start := i
	for {
		for i < len(data) && plain[data[i]] {
			i++
		}
		if i >= len(data) {
			d.pos = i
			return buf, d.errEOF()
		}
		switch c := data[i]; {
		case c == '"':
			if keep {
				buf = append(buf, data[start:i]...)
			}
			d.pos = i + 1
			return buf, nil
		case c == '\\':
			if keep {
				buf = append(buf, data[start:i]...)
			}
			d.pos = i
			var err error
			if buf, err = d.escape(buf, keep); err != nil {
				return buf, err
			}
			i = d.pos
			start = i
		case c < 0x20:
			d.pos = i
			return buf, d.errChar("in string literal")
		default: // non-ASCII
			r, size := utf8.DecodeRune(data[i:])
			if r == utf8.RuneError && size == 1 {
				if keep {
					buf = append(buf, data[start:i]...)
					buf = utf8.AppendRune(buf, utf8.RuneError)
				}
				i++
				start = i
				continue
			}
			i += size
		}
	}
}

// escape decodes the escape sequence at d.pos (at the backslash), appending
// it to buf if keep.
func (d *decoder) escape(buf []byte, keep bool) ([]byte, error) {
	d.pos++
	if d.pos >= len(d.data) {
		return buf, d.errEOF()
	}
	c := d.data[d.pos]
	var out byte
	switch c {
	case '"', '\\', '/':
		out = c
	case 'b':
		out = '\b'
	case 'f':
		out = '\f'
	case 'n':
		out = '\n'
	case 'r':
		out = '\r'
	case 't':
		out = '\t'
	case 'u':
		d.pos++
		r, err := d.hex4()
		if err != nil {
			return buf, err
		}
		if utf16.IsSurrogate(r) {
			// A valid pair decodes to one rune; anything else is U+FFFD,
			// as with encoding/json.
			if d.pos+1 < len(d.data) && d.data[d.pos] == '\\' && d.data[d.pos+1] == 'u' {
				save := d.pos
				d.pos += 2
				r2, err := d.hex4()
				if err != nil {
					return buf, err
				}
				if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
					if keep {
						buf = utf8.AppendRune(buf, dec)
					}
					return buf, nil
				}
				d.pos = save
			}
			r = utf8.RuneError
		}
		if keep {
			buf = utf8.AppendRune(buf, r)
		}
		return buf, nil
	default:
		return buf, d.errChar("in string escape code")
	}
	if keep {
		buf = append(buf, out)
	}
	d.pos++
	return buf, nil
}

// hex4 reads the four hex digits of a \u escape at d.pos.
func (d *decoder) hex4() (rune, error) {
	var r rune
	for range 4 {
		if d.pos >= len(d.data) {
			return 0, d.errEOF()
		}
		v, ok := unhex(d.data[d.pos])
		if !ok {
			return 0, d.errChar("in \\u hexadecimal character escape")
		}
		r = r<<4 | rune(v)
		d.pos++
	}
	return r, nil
}

func (d *decoder) skipSpace() {
	for d.pos < len(d.data) {
		switch d.data[d.pos] {
		case ' ', '\t', '\n', '\r':
			d.pos++
		default:
			return
		}
	}
}

func (d *decoder) errEOF() error {
	return &DecodeError{Offset: int64(len(d.data)), Field: d.field, Err: fmt.Errorf("%w: unexpected end of input", ErrSyntax)}
}

// errChar reports the unexpected byte at d.pos.
func (d *decoder) errChar(context string) error {
	c := d.data[d.pos]
	var q string
	switch {
	case c == '\'':
		q = `'\''`
	case c == '"':
		q = `'"'`
	case c >= 0x20 && c < utf8.RuneSelf:
		q = "'" + string(rune(c)) + "'"
	default:
		q = "byte " + strconv.Quote(string(rune(c)))
		if c >= utf8.RuneSelf {
			q = fmt.Sprintf("byte 0x%02x", c)
		}
	}
	return &DecodeError{Offset: int64(d.pos), Field: d.field, Err: fmt.Errorf("%w: invalid character %s %s", ErrSyntax, q, context)}
}
