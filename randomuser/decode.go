package randomuser

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// Decoder reads a JSON response of API version 1.4 one user at a time, so a
// 5,000-user page never sits in memory as both bytes and structs: it holds
// one user's JSON at a time (plus a read buffer).
//
// Keys of the top-level object may come in any order and unknown keys are
// skipped. After the last user, Decode checks the rest of the document and
// the count of users against info.results, so the empty-results outage and
// truncated bodies are reported even though no user is missing from a
// syntactic point of view.
//
// A Decoder is not safe for concurrent use. The [Client] uses one per
// response; use it directly to read saved responses.
type Decoder struct {
	r     *countingReader
	dec   *json.Decoder
	creds bool

	state   decState
	n       int // users decoded
	info    Info
	hasInfo bool
	err     error // sticky
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
	cr := &countingReader{r: r}
	dec := json.NewDecoder(cr)
	return &Decoder{r: cr, dec: dec}
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
		if err := d.expectDelim('{', -1); err != nil {
			return err
		}
		found, err := d.keysUntilResults()
		if err != nil {
			return err
		}
		if !found {
			return d.finish()
		}
		d.state = stateInResults
		fallthrough
	case stateInResults:
		if d.dec.More() {
			return d.decodeUser(u)
		}
		if err := d.expectDelim(']', d.n); err != nil {
			return err
		}
		if _, err := d.keysUntilResults(); err != nil {
			return err
		}
		return d.finish()
	}
	return io.EOF
}

// keysUntilResults reads object keys and their values until it reaches the
// results array (found, positioned after '[') or the closing '}'.
func (d *Decoder) keysUntilResults() (found bool, err error) {
	for {
		tok, err := d.token(-1)
		if err != nil {
			return false, err
		}
		if tok == json.Delim('}') {
			return false, nil
		}
		key, ok := tok.(string)
		if !ok {
			return false, d.malformed(-1, fmt.Errorf("unexpected %v in top-level object", tok))
		}
		switch key {
		case "results":
			if d.state == stateInResults {
				return false, d.malformed(-1, errors.New("duplicate results key"))
			}
			tok, err := d.token(-1)
			if err != nil {
				return false, err
			}
			switch tok {
			case json.Delim('['):
				return true, nil
			case nil: // "results": null, treated like []
				continue
			}
			return false, d.malformed(-1, fmt.Errorf("results is %v, not an array", tok))
		case "info":
			start := d.dec.InputOffset()
			var info *Info
			if err := d.dec.Decode(&info); err != nil {
				return false, d.wrap(err, start, -1)
			}
			if info != nil {
				d.info, d.hasInfo = *info, true
			}
		case "error":
			start := d.dec.InputOffset()
			var msg any
			if err := d.dec.Decode(&msg); err != nil {
				return false, d.wrap(err, start, -1)
			}
			if s, ok := msg.(string); ok {
				return false, &ResponseError{Message: s, errorKey: true}
			}
			return false, &ResponseError{Message: string(mustJSON(msg)), errorKey: true}
		default:
			start := d.dec.InputOffset()
			var skip json.RawMessage
			if err := d.dec.Decode(&skip); err != nil {
				return false, d.wrap(err, start, -1)
			}
		}
	}
}

// finish checks that nothing follows the document and that the number of
// users matches info.results.
func (d *Decoder) finish() error {
	if _, err := d.dec.Token(); err != io.EOF {
		if err == nil {
			err = errors.New("data after the top-level object")
		}
		return d.wrap(err, d.dec.InputOffset(), -1)
	}
	if d.hasInfo && d.n < d.info.Results {
		kind := ErrShortPage
		if d.n == 0 {
			kind = ErrEmptyResults
		}
		return &DecodeError{Kind: kind, Offset: d.r.n, Index: -1, Got: d.n, Want: d.info.Results}
	}
	d.state = stateDone
	return io.EOF
}

func (d *Decoder) decodeUser(u *User) error {
	start := d.dec.InputOffset()
	var err error
	if d.creds {
		*u = User{}
		err = d.dec.Decode(u)
	} else {
		var p publicUser
		err = d.dec.Decode(&p)
		*u = p.user()
	}
	if err != nil {
		return d.wrap(err, start, d.n)
	}
	d.n++
	return nil
}

func (d *Decoder) token(index int) (json.Token, error) {
	tok, err := d.dec.Token()
	if err != nil {
		return nil, d.wrap(err, d.dec.InputOffset(), index)
	}
	return tok, nil
}

func (d *Decoder) expectDelim(want json.Delim, index int) error {
	tok, err := d.token(index)
	if err != nil {
		return err
	}
	if tok != want {
		return d.malformed(index, fmt.Errorf("want %q, got %v", want, tok))
	}
	return nil
}

func (d *Decoder) malformed(index int, err error) error {
	return &DecodeError{Kind: ErrMalformed, Offset: d.dec.InputOffset(), Index: index, Err: err}
}

// wrap classifies an error of encoding/json. start is the offset of the value
// being decoded, since UnmarshalTypeError offsets are relative to it.
func (d *Decoder) wrap(err error, start int64, index int) error {
	e := &DecodeError{Kind: ErrMalformed, Offset: d.dec.InputOffset(), Index: index, Err: err}
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case d.r.err != nil && d.r.err != io.EOF:
		// The reader failed (connection reset, body limit, cancelled
		// context): json only saw the symptom.
		e.Kind, e.Err, e.Offset = ErrTruncated, d.r.err, d.r.n
		if errors.Is(d.r.err, ErrTooLarge) {
			e.Kind = ErrTooLarge
		}
	case err == io.EOF || errors.Is(err, io.ErrUnexpectedEOF):
		e.Kind, e.Offset = ErrTruncated, d.r.n
		if d.state == stateStart && d.r.n == 0 {
			e.Err = errors.New("empty body")
		} else {
			e.Err = io.ErrUnexpectedEOF
		}
	case errors.As(err, &syn):
		e.Offset = d.syntaxOffset()
	case errors.As(err, &typ):
		e.Offset = start + typ.Offset
	}
	return e
}

func mustJSON(v any) []byte {
	b, _ := json.Marshal(v) // v came from json.Unmarshal, so it marshals
	return b
}

// syntaxOffset finds the offset of the byte a syntax error is about.
// json.Decoder's SyntaxError.Offset cannot be used: in a stream it counts
// only the bytes read by Decode calls, not those consumed by Token. The
// failed call left the decoder at the start of the bad value, so decoding
// the buffered rest with a fresh decoder finds the same error at an offset
// relative to that start.
func (d *Decoder) syntaxOffset() int64 {
	cur := d.dec.InputOffset()
	var raw json.RawMessage
	err := json.NewDecoder(d.dec.Buffered()).Decode(&raw)
	var syn *json.SyntaxError
	if errors.As(err, &syn) && syn.Offset > 0 {
		return cur + syn.Offset - 1 // Offset counts the bad byte itself
	}
	return cur
}

// countingReader counts bytes and remembers the first error that is not a
// clean end of input, so a network failure is told apart from bad JSON.
type countingReader struct {
	r   io.Reader
	n   int64
	err error
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	if err != nil && c.err == nil {
		c.err = err
	}
	return n, err
}

// publicUser mirrors User without the credential fields, so that
// encoding/json skips them instead of allocating them.
type publicUser struct {
	Gender   string   `json:"gender"`
	Name     Name     `json:"name"`
	Location Location `json:"location"`
	Email    string   `json:"email"`
	Login    struct {
		UUID     string `json:"uuid"`
		Username string `json:"username"`
	} `json:"login"`
	DOB        Dated   `json:"dob"`
	Registered Dated   `json:"registered"`
	Phone      string  `json:"phone"`
	Cell       string  `json:"cell"`
	ID         ID      `json:"id"`
	Picture    Picture `json:"picture"`
	Nat        string  `json:"nat"`
}

func (p *publicUser) user() User {
	return User{
		Gender: p.Gender, Name: p.Name, Location: p.Location, Email: p.Email,
		Login: Login{UUID: p.Login.UUID, Username: p.Login.Username},
		DOB:   p.DOB, Registered: p.Registered, Phone: p.Phone, Cell: p.Cell,
		ID: p.ID, Picture: p.Picture, Nat: p.Nat,
	}
}
