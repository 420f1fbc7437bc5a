package randomuser

// This file keeps the encoding/json-based decoder that Decoder replaced,
// unchanged but for its names, as the reference implementation for the
// differential tests in decode_diff_test.go.

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// refDecoder reads a JSON response of API version 1.4 one user at a time, so a
// 5,000-user page never sits in memory as both bytes and structs: it holds
// one user's JSON at a time (plus a read buffer).
//
// Keys of the top-level object may come in any order and unknown keys are
// skipped. After the last user, Decode checks the rest of the document and
// the count of users against info.results, so the empty-results outage and
// truncated bodies are reported even though no user is missing from a
// syntactic point of view.
//
// A refDecoder is not safe for concurrent use. The [Client] used one per
// response; use it directly to read saved responses.
type refDecoder struct {
	r     *countingReader
	dec   *json.Decoder
	creds bool

	state   refState
	n       int // users decoded
	info    Info
	hasInfo bool
	err     error // sticky
}

type refState uint8

const (
	refStateStart     refState = iota
	refStateInResults          // between users of the results array
	refStateDone               // io.EOF returned
	refStateFailed             // err is set
)

// newRefDecoder returns a refDecoder reading from r. Credentials are skipped
// unless SetCredentials is called.
func newRefDecoder(r io.Reader) *refDecoder {
	cr := &countingReader{r: r}
	dec := json.NewDecoder(cr)
	return &refDecoder{r: cr, dec: dec}
}

// SetCredentials controls whether login.password, salt, md5, sha1 and sha256
// are decoded (true) or skipped (false, the default).
func (d *refDecoder) SetCredentials(keep bool) { d.creds = keep }

// Info returns the info object and whether the response had one. It is
// complete once Decode has returned [io.EOF]; before that it is set only if
// info preceded results in the body.
func (d *refDecoder) Info() (Info, bool) { return d.info, d.hasInfo }

// Count returns the number of users decoded so far.
func (d *refDecoder) Count() int { return d.n }

// Decode stores the next user in *u, overwriting all of it. After the last
// user it returns [io.EOF] once the rest of the body has been read and
// checked. Any other error is a [*DecodeError], or a [*ResponseError] if the
// body is the API's {"error": "..."}; errors are sticky.
func (d *refDecoder) Decode(u *User) error {
	if d.err != nil {
		return d.err
	}
	err := d.next(u)
	if err != nil {
		if err != io.EOF {
			d.state = refStateFailed
		}
		d.err = err
	}
	return err
}

func (d *refDecoder) next(u *User) error {
	switch d.state {
	case refStateStart:
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
		d.state = refStateInResults
		fallthrough
	case refStateInResults:
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
func (d *refDecoder) keysUntilResults() (found bool, err error) {
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
			if d.state == refStateInResults {
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
			return false, &ResponseError{Message: string(refMustJSON(msg)), errorKey: true}
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
func (d *refDecoder) finish() error {
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
	d.state = refStateDone
	return io.EOF
}

func (d *refDecoder) decodeUser(u *User) error {
	start := d.dec.InputOffset()
	var err error
	if d.creds {
		*u = User{}
		err = d.dec.Decode(u)
	} else {
		var p refPublicUser
		err = d.dec.Decode(&p)
		*u = p.user()
	}
	if err != nil {
		return d.wrap(err, start, d.n)
	}
	d.n++
	return nil
}

func (d *refDecoder) token(index int) (json.Token, error) {
	tok, err := d.dec.Token()
	if err != nil {
		return nil, d.wrap(err, d.dec.InputOffset(), index)
	}
	return tok, nil
}

func (d *refDecoder) expectDelim(want json.Delim, index int) error {
	tok, err := d.token(index)
	if err != nil {
		return err
	}
	if tok != want {
		return d.malformed(index, fmt.Errorf("want %q, got %v", want, tok))
	}
	return nil
}

func (d *refDecoder) malformed(index int, err error) error {
	return &DecodeError{Kind: ErrMalformed, Offset: d.dec.InputOffset(), Index: index, Err: err}
}

// wrap classifies an error of encoding/json. start is the offset of the value
// being decoded, since UnmarshalTypeError offsets are relative to it.
func (d *refDecoder) wrap(err error, start int64, index int) error {
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
		if d.state == refStateStart && d.r.n == 0 {
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

func refMustJSON(v any) []byte {
	b, _ := json.Marshal(v) // v came from json.Unmarshal, so it marshals
	return b
}

// syntaxOffset finds the offset of the byte a syntax error is about.
// json.Decoder's SyntaxError.Offset cannot be used: in a stream it counts
// only the bytes read by Decode calls, not those consumed by Token. The
// failed call left the decoder at the start of the bad value, so decoding
// the buffered rest with a fresh decoder finds the same error at an offset
// relative to that start.
func (d *refDecoder) syntaxOffset() int64 {
	cur := d.dec.InputOffset()
	var raw json.RawMessage
	err := json.NewDecoder(d.dec.Buffered()).Decode(&raw)
	var syn *json.SyntaxError
	if errors.As(err, &syn) && syn.Offset > 0 {
		return cur + syn.Offset - 1 // Offset counts the bad byte itself
	}
	return cur
}

// refPublicUser mirrors User without the credential fields, so that
// encoding/json skips them instead of allocating them.
type refPublicUser struct {
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

func (p *refPublicUser) user() User {
	return User{
		Gender: p.Gender, Name: p.Name, Location: p.Location, Email: p.Email,
		Login: Login{UUID: p.Login.UUID, Username: p.Login.Username},
		DOB:   p.DOB, Registered: p.Registered, Phone: p.Phone, Cell: p.Cell,
		ID: p.ID, Picture: p.Picture, Nat: p.Nat,
	}
}
