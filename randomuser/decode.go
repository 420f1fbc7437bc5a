package randomuser

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"unicode/utf8"
)

// Decoder reads a JSON response of API version 1.4 one user at a time, so a
// 5,000-user page never sits in memory as both bytes and structs: it holds
// a read buffer and one user's decoded strings.
//
// Keys of the top-level object may come in any order and unknown keys are
// skipped. After the last user, Decode checks the rest of the document and
// the count of users against info.results, so the empty-results outage and
// truncated bodies are reported even though no user is missing from a
// syntactic point of view.
//
// Users are decoded as encoding/json would decode them into a [User] (keys
// matched case-insensitively, null leaving a field as it is, repeated keys
// overwriting or merging), by hand-written code that allocates far less. The
// string fields of a decoded User share one allocation.
//
// A Decoder is not safe for concurrent use. The [Client] uses one per
// response; use it directly to read saved responses.
type Decoder struct {
	s     scanner
	creds bool

	state   decState
	n       int // users decoded
	info    Info
	hasInfo bool
	err     error // sticky

	user userState
	key  []byte // an unescaped key
}

type decState uint8

const (
	stateStart     decState = iota
	stateInResults          // between users of the results array
	stateDone               // io.EOF returned
	stateFailed             // err is set
)

// NewDecoder returns a Decoder reading from r. Credentials are skipped
// unless [Decoder.SetCredentials] is called.
func NewDecoder(r io.Reader) *Decoder {
	d := &Decoder{}
	d.s.init(r)
	return d
}

// SetCredentials controls whether login.password, salt, md5, sha1 and sha256
// are decoded (true) or skipped (false, the default).
func (d *Decoder) SetCredentials(keep bool) { d.creds = keep }

// Info returns the info object and whether the response had one. It is
// complete once Decode has returned [io.EOF]; before that it is set only if
// info preceded results in the body.
func (d *Decoder) Info() (Info, bool) { return d.info, d.hasInfo }

// Count returns the number of users decoded so far.
func (d *Decoder) Count() int { return d.n }

// Decode stores the next user in *u, overwriting all of it. After the last
// user it returns [io.EOF] once the rest of the body has been read and
// checked. Any other error is a [*DecodeError], or a [*ResponseError] if the
// body is the API's {"error": "..."}; errors are sticky.
func (d *Decoder) Decode(u *User) error {
	if d.err != nil {
		return d.err
	}
	err := d.next(u)
	if err != nil {
		if err != io.EOF {
			d.state = stateFailed
		}
		d.err = err
	}
	return err
}

func (d *Decoder) next(u *User) error {
	switch d.state {
	case stateStart:
		if err := d.open(); err != nil {
			return err
		}
		found, err := d.keysUntilResults(true)
		if err != nil {
			return err
		}
		if !found {
			return d.finish()
		}
		d.state = stateInResults
		fallthrough
	case stateInResults:
		more, err := d.element()
		if err != nil {
			return err
		}
		if more {
			return d.decodeUser(u)
		}
		if _, err := d.keysUntilResults(false); err != nil {
			return err
		}
		return d.finish()
	}
	return io.EOF
}

// The structure of the document around the users is checked as
// encoding/json's Decoder.Token checked it in the decoder this one replaced;
// the comments say where that differs from plain JSON syntax.

// open reads the start of the document, which must be an object.
func (d *Decoder) open() error {
	s := &d.s
	c, ok := s.skipSpace()
	switch {
	case !ok:
		return d.fail(errEnd, -1)
	case c == '{':
		s.pos++
		return nil
	case c == '[': // reported without reading on
		s.pos++
		return d.malformed(-1, errors.New("want '{', got ["))
	case c == ']' || c == '}' || c == ',' || c == ':':
		return d.fail(s.syntax(inValue), -1)
	}
	raw, err := d.tokenValue()
	if err != nil {
		return err
	}
	return d.malformed(-1, fmt.Errorf("want '{', got %.20s", raw))
}

// tokenValue scans a number, string or literal where encoding/json's
// Decoder.Token would have decoded it into an any: so a number beyond
// float64, such as 1e400, is an error of its own, as it was.
func (d *Decoder) tokenValue() ([]byte, error) {
	raw, err := d.s.topValue()
	if err != nil {
		return nil, d.fail(err, -1)
	}
	if err := json.Unmarshal(raw, new(any)); err != nil {
		return nil, d.fail(err, -1)
	}
	return raw, nil
}

// keysUntilResults reads keys of the top-level object and their values
// until it reaches the results array (found, positioned after '[') or the
// closing '}'. first is true right after the opening '{'.
func (d *Decoder) keysUntilResults(first bool) (found bool, err error) {
	s := &d.s
	for {
		c, ok := s.skipSpace()
		if !ok {
			return false, d.fail(errEnd, -1)
		}
		if first {
			if c == '}' {
				s.pos++
				return false, nil
			}
		} else { // after a key:value pair
			switch c {
			case '}':
				s.pos++
				return false, nil
			case ',':
				s.pos++
				if c, ok = s.skipSpace(); !ok {
					return false, d.fail(errEnd, -1)
				}
			default:
				return false, d.fail(s.syntax(afterPair), -1)
			}
		}
		first = false
		if c != '"' {
			return false, d.fail(s.syntax(inObjectKey), -1)
		}
		raw, flags, err := s.str()
		if err != nil {
			return false, d.fail(err, -1)
		}
		key := d.unquoteKey(raw, flags)
		isResults, isInfo, isError := string(key) == "results", string(key) == "info", string(key) == "error"
		// Token decoded the key as a value on its own.
		if err := s.lookahead(); err != nil {
			return false, d.fail(err, -1)
		}
		if isResults && d.state == stateInResults {
			return false, d.malformed(-1, errors.New("duplicate results key"))
		}
		if c, ok = s.skipSpace(); !ok {
			return false, d.fail(errEnd, -1)
		}
		if c != ':' {
			return false, d.fail(s.syntax(afterKey), -1)
		}
		s.pos++
		switch {
		case isResults:
			if found, err := d.resultsValue(); found || err != nil {
				return found, err
			}
		case isInfo:
			if err := d.infoValue(); err != nil {
				return false, err
			}
		case isError:
			return false, d.errorValue()
		default:
			if _, err := s.topValue(); err != nil {
				return false, d.fail(err, -1)
			}
		}
	}
}

// resultsValue reads the value of results: found is true at an array,
// which it opens; null is treated like [].
func (d *Decoder) resultsValue() (found bool, err error) {
	s := &d.s
	c, ok := s.skipSpace()
	switch {
	case !ok:
		return false, d.fail(errEnd, -1)
	case c == '[':
		s.pos++
		return true, nil
	case c == '{': // reported without reading on
		s.pos++
		return false, d.malformed(-1, errors.New("results is {, not an array"))
	case c == ']' || c == '}' || c == ',' || c == ':':
		return false, d.fail(s.syntax(inValue), -1)
	}
	raw, err := d.tokenValue()
	if err != nil {
		return false, err
	}
	if string(raw) == "null" {
		return false, nil
	}
	return false, d.malformed(-1, fmt.Errorf("results is %.20s, not an array", raw))
}

// infoValue reads the info object with encoding/json: it comes once per
// page, and this keeps its decoding (null, types, repeated keys) as it was.
func (d *Decoder) infoValue() error {
	raw, err := d.s.topValue()
	if err != nil {
		return d.fail(err, -1)
	}
	var info *Info
	if err := json.Unmarshal(raw, &info); err != nil {
		e := d.fail(err, -1)
		var typ *json.UnmarshalTypeError
		if errors.As(err, &typ) && e.Kind == ErrMalformed {
			e.Offset = d.s.offset() - int64(len(raw)) + typ.Offset
		}
		return e
	}
	if info != nil {
		d.info, d.hasInfo = *info, true
	}
	return nil
}

// errorValue reads the value of the API's "error" key and returns it as a
// *ResponseError.
func (d *Decoder) errorValue() error {
	raw, err := d.s.topValue()
	if err != nil {
		return d.fail(err, -1)
	}
	var msg any
	if err := json.Unmarshal(raw, &msg); err != nil {
		return d.fail(err, -1)
	}
	if s, ok := msg.(string); ok {
		return &ResponseError{Message: s, errorKey: true}
	}
	b, _ := json.Marshal(msg) // msg came from json.Unmarshal, so it marshals
	return &ResponseError{Message: string(b), errorKey: true}
}

// element moves to the next element of results: more is true at the start
// of a user, false after the closing ']'.
func (d *Decoder) element() (more bool, err error) {
	s := &d.s
	c, ok := s.skipSpace()
	switch {
	case !ok:
		return false, d.fail(errEnd, d.n)
	case c == ']':
		s.pos++
		return false, nil
	case c == '}' && d.n == 0:
		return false, d.fail(s.syntax(inValue), d.n)
	case d.n > 0 && c != ',':
		return false, d.fail(s.syntax(afterElem), d.n)
	case d.n > 0:
		s.pos++
		if _, ok := s.skipSpace(); !ok {
			return false, d.fail(errEnd, d.n)
		}
	}
	return true, nil
}

// finish checks that nothing follows the document and that the number of
// users matches info.results.
func (d *Decoder) finish() error {
	s := &d.s
	c, ok := s.skipSpace()
	switch {
	case !ok && s.err != io.EOF:
		return d.fail(errEnd, -1)
	case !ok:
		if d.hasInfo && d.n < d.info.Results {
			kind := ErrShortPage
			if d.n == 0 {
				kind = ErrEmptyResults
			}
			return &DecodeError{Kind: kind, Offset: s.read(), Index: -1, Got: d.n, Want: d.info.Results}
		}
		d.state = stateDone
		return io.EOF
	case c == '{' || c == '[': // reported without reading on
		s.pos++
	case c == ']' || c == '}' || c == ',' || c == ':':
		return d.fail(s.syntax(inValue), -1)
	default:
		if _, err := d.tokenValue(); err != nil {
			return err
		}
	}
	return d.fail(errors.New("data after the top-level object"), -1)
}

// decodeUser decodes the user value at pos.
func (d *Decoder) decodeUser(u *User) error {
	s := &d.s
	*u = User{}
	d.user.reset()
	c, _ := s.skipSpace() // element has seen it
	start := s.offset()
	var err error
	switch c {
	case '{':
		fields := publicUserFields
		if d.creds {
			fields = credUserFields
		}
		err = d.object(u, fields, 1)
	case 'n':
		err = s.literal("null") // no effect, as with encoding/json
		if err == nil {
			err = s.lookahead()
		}
	default:
		if _, err = s.topValue(); err == nil {
			d.user.typeError(c, &userField, start)
		}
	}
	if err != nil {
		return d.fail(err, d.n)
	}
	if st := &d.user; st.err != nil {
		off := st.errOffset
		if st.errFinal {
			off = s.offset() // the end of the user, as documented
		}
		e := d.fail(st.err, d.n)
		if e.Kind == ErrMalformed {
			e.Offset = off
		}
		return e
	}
	d.user.store(u)
	d.n++
	return nil
}

// object decodes the object at pos, at the given nesting depth, whose
// fields are described by fields, into u.
//
// The API sends compact JSON, so this loop, which runs for every key,
// calls skipSpace only when the next byte is white space (or at the end of
// the window, where at returns 0).
func (d *Decoder) object(u *User, fields []field, depth int) error {
	s := &d.s
	s.pos++ // '{'
	c, ok := s.skipSpace()
	if !ok {
		return errEnd
	}
	if c == '}' {
		s.pos++
		return nil
	}
	hint := 0
	for {
		if c != '"' {
			return s.syntax(inObjectKey)
		}
		// The API sends the keys in field order: check for the next
		// field's name before scanning and looking up the key.
		i := hint
		if i >= len(fields) || !s.skipKey(fields[i].name) {
			raw, flags, err := s.str()
			if err != nil {
				return err
			}
			i = lookup(fields, d.unquoteKey(raw, flags), hint)
		}
		if c = s.at(); c <= ' ' {
			if c, ok = s.skipSpace(); !ok {
				return errEnd
			}
		}
		if c != ':' {
			return s.syntax(afterKey)
		}
		s.pos++
		if c = s.at(); c <= ' ' {
			if c, ok = s.skipSpace(); !ok {
				return errEnd
			}
		}
		var err error
		switch {
		case i < 0:
			err = s.skipValue(depth)
		case fields[i].kind == kindSkip:
			hint = i + 1
			err = s.skipValue(depth)
		default:
			hint = i + 1
			err = d.value(u, &fields[i], c, depth)
		}
		if err != nil {
			return err
		}
		if c = s.at(); c <= ' ' {
			if c, ok = s.skipSpace(); !ok {
				return errEnd
			}
		}
		switch c {
		case ',':
			s.pos++
			if c = s.at(); c <= ' ' {
				if c, ok = s.skipSpace(); !ok {
					return errEnd
				}
			}
		case '}':
			s.pos++
			return nil
		default:
			return s.syntax(afterPair)
		}
	}
}

// value decodes the value at pos, which starts with c, of field f, held in
// an object at the given depth, into u. A value of the wrong type is
// skipped and remembered in d.user, as encoding/json reports it only if the
// rest of the user is well-formed.
func (d *Decoder) value(u *User, f *field, c byte, depth int) error {
	s := &d.s
	st := &d.user
	start := s.offset()
	switch f.kind {
	case kindObject:
		switch c {
		case '{': // known objects nest three deep at most: no depth check
			return d.object(u, f.fields, depth+1)
		case 'n':
			return s.literal("null")
		}
	case kindString, kindNullable, kindPostcode:
		switch {
		case c == '"':
			raw, flags, err := s.str()
			if err != nil {
				return err
			}
			st.setString(f.slot, raw[1:len(raw)-1], flags)
			return nil
		case c == 'n':
			if err := s.literal("null"); err != nil {
				return err
			}
			switch f.kind {
			case kindNullable: // the *string becomes nil
				st.set &^= 1 << f.slot
			case kindPostcode: // Postcode.UnmarshalJSON makes null ""
				st.setString(f.slot, nil, 0)
			}
			return nil
		case f.kind == kindPostcode && (c == '-' || isDigit(c)):
			raw, err := s.number()
			if err != nil {
				return err
			}
			st.setString(f.slot, raw, 0) // the number's own text
			return nil
		case f.kind == kindPostcode:
			raw, err := s.skipHeld(depth)
			if err != nil {
				return err
			}
			var p Postcode
			st.unmarshalerError(p.UnmarshalJSON(raw))
			return nil
		}
	case kindInt:
		switch {
		case c == '-' || isDigit(c):
			raw, err := s.number()
			if err != nil {
				return err
			}
			// As encoding/json: no fraction or exponent, and it must fit.
			n, err := strconv.ParseInt(string(raw), 10, 0)
			if err != nil {
				st.typeErrorValue("number "+string(raw), f, start)
				return nil
			}
			*u.intField(f.slot) = int(n)
			return nil
		case c == 'n':
			return s.literal("null")
		}
	case kindDate:
		// Every value but null goes to time.Time's UnmarshalJSON, which
		// takes the string literal as it is, escapes and all.
		var raw []byte
		var err error
		switch c {
		case 'n':
			return s.literal("null")
		case '"':
			raw, _, err = s.str()
		default:
			raw, err = s.skipHeld(depth)
		}
		if err != nil {
			return err
		}
		if err := u.dateField(f.slot).UnmarshalJSON(raw); err != nil {
			st.unmarshalerError(err)
		}
		return nil
	}
	if err := s.skipValue(depth); err != nil {
		return err
	}
	st.typeError(c, f, start)
	return nil
}

// unquoteKey returns the value of the key literal raw (quotes included).
// It is raw's contents unless the key has escapes or non-ASCII bytes.
func (d *Decoder) unquoteKey(raw []byte, flags int) []byte {
	raw = raw[1 : len(raw)-1]
	if flags == 0 {
		return raw
	}
	d.key = appendUnquoted(d.key[:0], raw)
	return d.key
}

// malformed returns an ErrMalformed error found by looking at the
// structure of the document rather than its syntax. As in the decoder this
// one replaced, it is not checked against a failed read.
func (d *Decoder) malformed(index int, err error) error {
	return &DecodeError{Kind: ErrMalformed, Offset: d.s.offset(), Index: index, Err: err}
}

// fail returns the *DecodeError for err, found while decoding user index
// (-1 outside results): errEnd, a *json.SyntaxError from the scanner, or
// another cause of ErrMalformed.
func (d *Decoder) fail(err error, index int) *DecodeError {
	s := &d.s
	e := &DecodeError{Kind: ErrMalformed, Offset: s.offset(), Index: index, Err: err}
	var syn *json.SyntaxError
	switch {
	case s.err != nil && s.err != io.EOF:
		// The reader failed (connection reset, body limit, cancelled
		// context): whatever went wrong after is a symptom.
		e.Kind, e.Err, e.Offset = ErrTruncated, s.err, s.read()
		if errors.Is(s.err, ErrTooLarge) {
			e.Kind = ErrTooLarge
		}
	case err == errEnd:
		e.Kind, e.Offset = ErrTruncated, s.read()
		if d.state == stateStart && s.read() == 0 {
			e.Err = errors.New("empty body")
		} else {
			e.Err = io.ErrUnexpectedEOF
		}
	case errors.As(err, &syn):
		e.Offset = syn.Offset - 1 // Offset counts the bad byte itself
	}
	return e
}

// userState collects one user's fields that are not stored in the User as
// they are decoded: its strings, and the first type error.
type userState struct {
	// strs holds the decoded strings back to back; spans[i] is where the
	// field of slot i is, if bit i of set is on. They become one string,
	// and the fields substrings of it, once the user is complete: one
	// allocation instead of one per field.
	strs  []byte
	spans [numSlots]struct{ start, end int }
	set   uint32

	// err is the error of the first field of the wrong type, at offset
	// errOffset; or, if errFinal, the first error of an UnmarshalJSON
	// method (Postcode, time.Time), which made encoding/json stop at once
	// and so wins.
	err       error
	errOffset int64
	errFinal  bool
}

func (st *userState) reset() {
	st.strs = st.strs[:0]
	st.set = 0
	st.err, st.errFinal = nil, false
}

// setString stores the string literal contents raw (quotes removed) as the
// value of slot, unescaped if flags say so.
func (st *userState) setString(slot int, raw []byte, flags int) {
	start := len(st.strs)
	if flags == 0 || flags == strNonASCII && utf8.Valid(raw) {
		st.strs = append(st.strs, raw...)
	} else {
		st.strs = appendUnquoted(st.strs, raw)
	}
	st.spans[slot].start, st.spans[slot].end = start, len(st.strs)
	st.set |= 1 << slot
}

// store sets the string fields of u from the collected strings.
func (st *userState) store(u *User) {
	if st.set == 0 {
		return
	}
	all := string(st.strs)
	get := func(slot int) string {
		if st.set&(1<<slot) == 0 {
			return ""
		}
		return all[st.spans[slot].start:st.spans[slot].end]
	}
	u.Gender = get(slotGender)
	u.Name = Name{Title: get(slotTitle), First: get(slotFirst), Last: get(slotLast)}
	l := &u.Location
	l.Street.Name = get(slotStreetName)
	l.City, l.State, l.Country = get(slotCity), get(slotState), get(slotCountry)
	l.Postcode = Postcode(get(slotPostcode))
	l.Coordinates = Coordinates{Latitude: get(slotLatitude), Longitude: get(slotLongitude)}
	l.Timezone = Timezone{Offset: get(slotOffset), Description: get(slotDescription)}
	u.Email = get(slotEmail)
	u.Login = Login{
		UUID: get(slotUUID), Username: get(slotUsername),
		Password: get(slotPassword), Salt: get(slotSalt), MD5: get(slotMD5), SHA1: get(slotSHA1), SHA256: get(slotSHA256),
	}
	u.Phone, u.Cell = get(slotPhone), get(slotCell)
	u.ID.Name = get(slotIDName)
	if st.set&(1<<slotIDValue) != 0 {
		v := get(slotIDValue)
		u.ID.Value = &v // the one other allocation
	}
	u.Picture = Picture{Large: get(slotLarge), Medium: get(slotMedium), Thumbnail: get(slotThumbnail)}
	u.Nat = get(slotNat)
}

// typeError remembers that the value starting with c at offset off does not
// fit field f.
func (st *userState) typeError(c byte, f *field, off int64) {
	v := "number"
	switch c {
	case '"':
		v = "string"
	case '{':
		v = "object"
	case '[':
		v = "array"
	case 't', 'f':
		v = "bool"
	}
	st.typeErrorValue(v, f, off)
}

func (st *userState) typeErrorValue(value string, f *field, off int64) {
	if st.err != nil {
		return
	}
	st.err = &json.UnmarshalTypeError{Value: value, Type: f.typ, Offset: off, Struct: f.parent, Field: f.path}
	st.errOffset = off
}

func (st *userState) unmarshalerError(err error) {
	if !st.errFinal {
		st.err, st.errFinal = err, true
	}
}
