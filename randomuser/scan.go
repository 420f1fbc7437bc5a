package randomuser

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// scanner reads JSON from an io.Reader through a window that slides over
// the input, so a response is never held whole: only the bytes not yet
// scanned, plus the token being scanned, stay in memory.
//
// It checks syntax exactly as encoding/json's scanner does (same grammar,
// same nesting limit, same first offending byte), because the [Decoder]
// it serves replaced one built on encoding/json and must accept and reject
// the same bodies. It reports two kinds of error: errEnd when the input
// stopped inside a value, and a *json.SyntaxError for an unexpected byte.
type scanner struct {
	r   io.Reader
	buf []byte // the window: buf[pos:] has not been scanned yet
	pos int
	off int64 // offset in the input of buf[0]
	// keep is the offset of the first byte that must stay in the window
	// when it slides, or -1: a token is kept whole while it is scanned
	// (see hold), so that its bytes can be used in place.
	keep int64
	err  error // the reader's error, once it has returned one (io.EOF at the end)
}

// windowSize is the initial size of the window, and the most read at once.
// The window grows only for a token (or a value handed to encoding/json)
// longer than that.
const windowSize = 32 << 10

// maxDepth is how deeply arrays and objects may nest in one value, the
// limit of encoding/json's scanner.
const maxDepth = 10000

// errEnd means the input ended, or the reader failed, inside a value.
var errEnd = errors.New("randomuser: input ended inside a value")

func (s *scanner) init(r io.Reader) {
	*s = scanner{r: r, buf: make([]byte, 0, windowSize), keep: -1}
}

// offset returns the offset in the input of the next byte to scan.
func (s *scanner) offset() int64 { return s.off + int64(s.pos) }

// read returns the number of bytes read from the reader so far.
func (s *scanner) read() int64 { return s.off + int64(len(s.buf)) }

// more reads more input into the window. It returns false if there is none
// because the reader returned an error (io.EOF at the end).
//
// Before reading, it slides the window: the bytes before pos (or before
// keep) are done with and make room. The window grows only when it is full
// of bytes still held.
func (s *scanner) more() bool {
	if s.err != nil {
		return false
	}
	from := s.pos
	if s.keep >= 0 {
		from = int(s.keep - s.off)
	}
	if from > 0 {
		n := copy(s.buf, s.buf[from:])
		s.buf = s.buf[:n]
		s.pos -= from
		s.off += int64(from)
	}
	if len(s.buf) == cap(s.buf) {
		grown := make([]byte, len(s.buf), 2*cap(s.buf))
		copy(grown, s.buf)
		s.buf = grown
	}
	// Like bufio.Reader, give up on a reader that keeps returning nothing.
	for range 100 {
		free := s.buf[len(s.buf):cap(s.buf)]
		n, err := s.r.Read(free)
		if n < 0 || n > len(free) {
			s.err = errors.New("randomuser: reader returned an invalid count")
			return false
		}
		s.buf = s.buf[:len(s.buf)+n]
		if err != nil {
			s.err = err
		}
		if n > 0 {
			return true
		}
		if err != nil {
			return false
		}
	}
	s.err = io.ErrNoProgress
	return false
}

// hold keeps the bytes from the current position in the window until
// release(prev) is called with what hold returned. Holds nest.
func (s *scanner) hold() (prev int64) {
	prev = s.keep
	if prev < 0 {
		s.keep = s.offset()
	}
	return prev
}

func (s *scanner) release(prev int64) { s.keep = prev }

// since returns the window's bytes from input offset start (held) to pos.
func (s *scanner) since(start int64) []byte { return s.buf[start-s.off : s.pos] }

// peek returns the next byte without consuming it; false at the end of
// the input.
func (s *scanner) peek() (byte, bool) {
	if s.pos < len(s.buf) || s.more() {
		return s.buf[s.pos], true
	}
	return 0, false
}

// at returns the byte at pos, or 0 at the end of the window.
func (s *scanner) at() byte {
	if s.pos < len(s.buf) {
		return s.buf[s.pos]
	}
	return 0
}

// skipSpace consumes white space and returns the next byte, which it does
// not consume; false at the end of the input.
func (s *scanner) skipSpace() (byte, bool) {
	// The API sends compact JSON: usually there is no space to skip.
	if i := s.pos; i < len(s.buf) && s.buf[i] > ' ' {
		return s.buf[i], true
	}
	return s.skipSpaceSlow()
}

func (s *scanner) skipSpaceSlow() (byte, bool) {
	for {
		buf, i := s.buf, s.pos
		for ; i < len(buf); i++ {
			if c := buf[i]; c > ' ' || (c != ' ' && c != '\t' && c != '\n' && c != '\r') {
				s.pos = i
				return c, true
			}
		}
		s.pos = i
		if !s.more() {
			return 0, false
		}
	}
}

// strByte marks the bytes a string literal may hold unescaped: all but
// control characters, '"' and '\\'. Like encoding/json, the scanner lets
// invalid UTF-8 through; appendUnquoted replaces it.
var strByte = func() (t [256]bool) {
	for c := 0x20; c < 256; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// What str found in a string literal besides printable ASCII.
const (
	strEscaped  = 1 << iota // a backslash escape
	strNonASCII             // a byte of 0x80 or above
)

// str scans the string literal starting at pos (at its opening quote) and
// returns it, quotes included, with flags saying whether it holds escapes
// or non-ASCII bytes. The returned bytes are in the window: use them before
// scanning on.
func (s *scanner) str() (raw []byte, flags int, err error) {
	prev := s.hold()
	start := s.offset()
	i := s.pos + 1
	var or byte // all the plain bytes OR-ed together, to spot non-ASCII
	for {
		buf := s.buf
		// Most of a response is printable ASCII strings: take those eight
		// bytes at a time, then go byte by byte.
		for i+8 <= len(buf) && plain8(binary.LittleEndian.Uint64(buf[i:])) {
			i += 8
		}
		for ; i < len(buf) && strByte[buf[i]]; i++ {
			or |= buf[i]
		}
		if i == len(buf) {
			s.pos = i
			if !s.more() {
				return nil, 0, errEnd
			}
			i = s.pos
			continue
		}
		s.pos = i
		switch c := buf[i]; {
		case c == '"':
			s.pos++
			if or >= utf8.RuneSelf {
				flags |= strNonASCII
			}
			raw = s.since(start)
			s.release(prev)
			return raw, flags, nil
		case c == '\\':
			flags |= strEscaped
			if err := s.escape(); err != nil {
				return nil, 0, err
			}
			i = s.pos
		default: // a control character
			return nil, 0, s.syntax(inString)
		}
	}
}

// skipKey skips the string literal at pos if it is name, which must be
// printable ASCII without '"' or '\\', so that its literal is "name".
func (s *scanner) skipKey(name string) bool {
	b := s.buf[s.pos:]
	if len(b) < len(name)+2 || b[len(name)+1] != '"' || string(b[1:len(name)+1]) != name {
		return false
	}
	s.pos += len(name) + 2
	return true
}

// escape checks the escape sequence at pos (at its backslash) and skips it.
func (s *scanner) escape() error {
	s.pos++
	c, ok := s.peek()
	if !ok {
		return errEnd
	}
	switch c {
	case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
		s.pos++
		return nil
	case 'u':
		s.pos++
		for range 4 {
			c, ok := s.peek()
			if !ok {
				return errEnd
			}
			if _, ok := unhex(c); !ok {
				return s.syntax(inHex)
			}
			s.pos++
		}
		return nil
	}
	return s.syntax(inEscape)
}

// plain8 reports whether the eight bytes packed in x are all printable
// ASCII other than '"' and '\\', so str can pass over them. It uses the
// bit tricks of "Bit Twiddling Hacks" (Sean Eron Anderson): the top bit of
// a byte of (x - n*lsb) &^ x is set, for some byte, exactly when some byte
// of x is below n (for n <= 0x80); a byte equal to b is a zero byte of
// x ^ b*lsb.
func plain8(x uint64) bool {
	const lsb, msb = 0x0101010101010101, 0x8080808080808080
	control := (x - 0x20*lsb) &^ x
	q := x ^ '"'*lsb
	quote := (q - lsb) &^ q
	b := x ^ '\\'*lsb
	backslash := (b - lsb) &^ b
	return (control|quote|backslash|x)&msb == 0 // x: bytes of 0x80 and above
}

func unhex(c byte) (rune, bool) {
	switch {
	case '0' <= c && c <= '9':
		return rune(c - '0'), true
	case 'a' <= c && c <= 'f':
		return rune(c - 'a' + 10), true
	case 'A' <= c && c <= 'F':
		return rune(c - 'A' + 10), true
	}
	return 0, false
}

// number scans the number starting at pos and returns its bytes, which are
// in the window: use them before scanning on. At the end of the input a
// number is complete if its last part has a digit, as encoding/json's
// stream decoder has it.
func (s *scanner) number() ([]byte, error) {
	prev := s.hold()
	start := s.offset()
	c, _ := s.peek()
	if c == '-' {
		s.pos++
		if c, ok := s.peek(); !ok {
			return nil, errEnd
		} else if !isDigit(c) {
			return nil, s.syntax(inNumber)
		}
	}
	if c, _ := s.peek(); c == '0' {
		s.pos++
	} else {
		s.digits()
	}
	if c, ok := s.peek(); ok && c == '.' {
		s.pos++
		if c, ok := s.peek(); !ok {
			return nil, errEnd
		} else if !isDigit(c) {
			return nil, s.syntax(afterDot)
		}
		s.digits()
	}
	if c, ok := s.peek(); ok && (c == 'e' || c == 'E') {
		s.pos++
		c, ok := s.peek()
		if ok && (c == '+' || c == '-') {
			s.pos++
			c, ok = s.peek()
		}
		if !ok {
			return nil, errEnd
		}
		if !isDigit(c) {
			return nil, s.syntax(inExponent)
		}
		s.digits()
	}
	raw := s.since(start)
	s.release(prev)
	return raw, nil
}

// digits skips the digits at pos.
func (s *scanner) digits() {
	for {
		buf, i := s.buf, s.pos
		for i < len(buf) && isDigit(buf[i]) {
			i++
		}
		s.pos = i
		if i < len(buf) || !s.more() {
			return
		}
	}
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// literal scans lit (true, false or null), whose first byte is at pos.
func (s *scanner) literal(lit string) error {
	for i := range len(lit) {
		c, ok := s.peek()
		if !ok {
			return errEnd
		}
		if c != lit[i] {
			return s.syntax(lit[:i])
		}
		s.pos++
	}
	return nil
}

// skipValue checks the syntax of the value at pos (after white space) and
// skips it. depth is the nesting depth of the array or object holding the
// value, 0 for a value on its own.
func (s *scanner) skipValue(depth int) error {
	c, ok := s.skipSpace()
	if !ok {
		return errEnd
	}
	switch c {
	case '"':
		_, _, err := s.str()
		return err
	case '{', '[':
		if depth >= maxDepth {
			return s.syntax(tooDeep)
		}
		if c == '{' {
			return s.skipObject(depth + 1)
		}
		return s.skipArray(depth + 1)
	case 't':
		return s.literal("true")
	case 'f':
		return s.literal("false")
	case 'n':
		return s.literal("null")
	}
	if c == '-' || isDigit(c) {
		_, err := s.number()
		return err
	}
	return s.syntax(inValue)
}

// skipObject skips the object at pos, which is at the given depth.
func (s *scanner) skipObject(depth int) error {
	s.pos++
	c, ok := s.skipSpace()
	if !ok {
		return errEnd
	}
	if c == '}' {
		s.pos++
		return nil
	}
	for {
		if c != '"' {
			return s.syntax(inObjectKey)
		}
		if _, _, err := s.str(); err != nil {
			return err
		}
		if c, ok = s.skipSpace(); !ok {
			return errEnd
		}
		if c != ':' {
			return s.syntax(afterKey)
		}
		s.pos++
		if err := s.skipValue(depth); err != nil {
			return err
		}
		if c, ok = s.skipSpace(); !ok {
			return errEnd
		}
		switch c {
		case ',':
			s.pos++
			if c, ok = s.skipSpace(); !ok {
				return errEnd
			}
		case '}':
			s.pos++
			return nil
		default:
			return s.syntax(afterPair)
		}
	}
}

// skipArray skips the array at pos, which is at the given depth.
func (s *scanner) skipArray(depth int) error {
	s.pos++
	c, ok := s.skipSpace()
	if !ok {
		return errEnd
	}
	if c == ']' {
		s.pos++
		return nil
	}
	for {
		if err := s.skipValue(depth); err != nil {
			return err
		}
		if c, ok = s.skipSpace(); !ok {
			return errEnd
		}
		switch c {
		case ',':
			s.pos++
		case ']':
			s.pos++
			return nil
		default:
			return s.syntax(afterElem)
		}
	}
}

// skipHeld is skipValue that also returns the value's bytes, held in the
// window: for the rare values handed to encoding/json or to an
// UnmarshalJSON method. Use them before scanning on.
func (s *scanner) skipHeld(depth int) ([]byte, error) {
	return s.held(depth, false)
}

// topValue is skipHeld for a value on its own (depth 0) that encoding/json's
// stream decoder would have read with Decode: after a number, string or
// literal, which it can only tell has ended by the byte after it, it reads
// that byte too. If the reader fails there, the body is truncated, whatever
// the value.
func (s *scanner) topValue() ([]byte, error) {
	return s.held(0, true)
}

func (s *scanner) held(depth int, lookahead bool) ([]byte, error) {
	c, ok := s.skipSpace()
	if !ok {
		return nil, errEnd
	}
	prev := s.hold()
	start := s.offset()
	if err := s.skipValue(depth); err != nil {
		return nil, err
	}
	if lookahead && c != '{' && c != '[' {
		if err := s.lookahead(); err != nil {
			return nil, err
		}
	}
	raw := s.since(start)
	s.release(prev)
	return raw, nil
}

// lookahead reads the byte after a number, string or literal that is a
// value on its own, if there is one: see topValue.
func (s *scanner) lookahead() error {
	if _, ok := s.peek(); !ok && s.err != io.EOF {
		return errEnd
	}
	return nil
}

// Where the scanner can find an unexpected byte, written as a JSON text
// that puts encoding/json's scanner in the same state: see syntax.
const (
	inValue     = ``       // looking for beginning of value
	inObjectKey = `{"":0,` // looking for beginning of object key string
	afterKey    = `{""`    // after object key
	afterPair   = `{"":""` // after object key:value pair
	afterElem   = `[""`    // after array element
	inString    = `"`      // in string literal
	inEscape    = `"\`     // in string escape code
	inHex       = `"\u`    // in \u hexadecimal character escape
	inNumber    = `-`      // in numeric literal
	afterDot    = `0.`     // after decimal point in numeric literal
	inExponent  = `0e`     // in exponent of numeric literal
	tooDeep     = "deep"   // exceeded max depth (a special case)
	// In a literal, the text is the part of it read so far ("nu").
)

// syntax returns the error for the unexpected byte at pos, found in the
// state described by where.
//
// The error is a *json.SyntaxError, as with the decoder built on
// encoding/json, which callers may look for with errors.As. Its message
// field is unexported, so the error is made by encoding/json itself: it is
// asked to parse where's text followed by the byte, which fails on that
// byte with the message it would give in the full input. Offset is then
// moved to the byte's place in the input (plus one, as encoding/json counts
// the bytes read including the bad one). This runs once per failed body.
func (s *scanner) syntax(where string) error {
	text := where + string(s.buf[s.pos])
	if where == tooDeep {
		text = strings.Repeat("[", maxDepth+1)
	}
	var syn *json.SyntaxError
	if !errors.As(json.Unmarshal([]byte(text), new(any)), &syn) {
		syn = &json.SyntaxError{} // not reached: every where is a failing state
	}
	syn.Offset = s.offset() + 1
	return syn
}

// appendUnquoted appends the value of the string literal contents raw,
// already checked by str, to dst. Like encoding/json, it replaces invalid
// UTF-8 and unpaired surrogates with U+FFFD.
func appendUnquoted(dst, raw []byte) []byte {
	for i := 0; i < len(raw); {
		c := raw[i]
		switch {
		case c == '\\':
			c = raw[i+1]
			switch c {
			case 'u':
				r := hex4(raw[i+2:])
				i += 6
				if utf16.IsSurrogate(r) {
					// A valid pair is one rune; anything else is U+FFFD and
					// the second escape, if any, stands on its own.
					r2 := rune(-1)
					if i+6 <= len(raw) && raw[i] == '\\' && raw[i+1] == 'u' {
						r2 = hex4(raw[i+2:])
					}
					if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
						dst = utf8.AppendRune(dst, dec)
						i += 6
						continue
					}
					r = utf8.RuneError
				}
				dst = utf8.AppendRune(dst, r)
				continue
			case 'b':
				c = '\b'
			case 'f':
				c = '\f'
			case 'n':
				c = '\n'
			case 'r':
				c = '\r'
			case 't':
				c = '\t'
			}
			dst = append(dst, c) // '"', '\\' and '/' stand for themselves
			i += 2
		case c < utf8.RuneSelf:
			dst = append(dst, c)
			i++
		default:
			r, size := utf8.DecodeRune(raw[i:])
			if r == utf8.RuneError && size == 1 {
				dst = utf8.AppendRune(dst, r)
			} else {
				dst = append(dst, raw[i:i+size]...)
			}
			i += size
		}
	}
	return dst
}

// hex4 decodes the four hex digits at the start of b, checked by escape.
func hex4(b []byte) rune {
	var r rune
	for _, c := range b[:4] {
		v, _ := unhex(c)
		r = r<<4 | v
	}
	return r
}
