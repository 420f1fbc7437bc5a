package randomuser

// Differential tests: Decoder against refDecoder, the encoding/json-based
// decoder it replaced (decode_reference_test.go). Whatever the body and
// however it arrives, both must decode the same users, info and count, and
// fail (or not) in the same way; see sameOutcome for what "the same" means
// for errors.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/userstream/userstream/randomuser/randomusertest"
)

// outcome is what a caller can see of decoding a body.
type outcome struct {
	users   []User
	count   int
	info    Info
	hasInfo bool
	err     error
}

type userDecoder interface {
	SetCredentials(bool)
	Decode(*User) error
	Info() (Info, bool)
	Count() int
}

func decodeWith(t testing.TB, dec userDecoder, creds bool) outcome {
	t.Helper()
	dec.SetCredentials(creds)
	var o outcome
	for {
		var u User
		err := dec.Decode(&u)
		if err == io.EOF {
			break
		}
		if err != nil {
			o.err = err
			if again := dec.Decode(&u); again != err {
				t.Fatalf("error not sticky: %v, then %v", err, again)
			}
			break
		}
		o.users = append(o.users, u)
	}
	o.count = dec.Count()
	o.info, o.hasInfo = dec.Info()
	return o
}

// delivery is how a body reaches the decoders.
type delivery struct {
	readSize int // at most this many bytes per Read; 0: all at once
	window   int // the new decoder's initial window; 0: the default
	cutAt    int // if > 0, the reader fails with errNetwork after this many bytes
}

var errNetwork = errors.New("connection reset by fuzzer")

func (dl delivery) reader(body []byte) io.Reader {
	var r io.Reader = bytes.NewReader(body)
	if dl.cutAt > 0 && dl.cutAt <= len(body) {
		r = io.MultiReader(bytes.NewReader(body[:dl.cutAt]), failReader{errNetwork})
	}
	if dl.readSize > 0 {
		r = &chunkReader{r: r, n: dl.readSize}
	}
	return r
}

func (dl delivery) String() string {
	return fmt.Sprintf("read %d, window %d, cut at %d", dl.readSize, dl.window, dl.cutAt)
}

type failReader struct{ err error }

func (f failReader) Read([]byte) (int, error) { return 0, f.err }

// chunkReader returns at most n bytes per Read.
type chunkReader struct {
	r io.Reader
	n int
}

func (c *chunkReader) Read(p []byte) (int, error) {
	if len(p) > c.n {
		p = p[:c.n]
	}
	return c.r.Read(p)
}

// newDecoderWindow is NewDecoder with an initial window of size bytes, so
// tests can make tokens straddle refills and the window grow.
func newDecoderWindow(r io.Reader, size int) *Decoder {
	d := NewDecoder(r)
	if size > 0 {
		d.s.buf = make([]byte, 0, size)
	}
	return d
}

// compareDecoders decodes body with both decoders and fails t if they
// disagree.
func compareDecoders(t *testing.T, body []byte, creds bool, dl delivery) {
	t.Helper()
	want := decodeWith(t, newRefDecoder(dl.reader(body)), creds)
	got := decodeWith(t, newDecoderWindow(dl.reader(body), dl.window), creds)
	if msg := sameOutcome(got, want); msg != "" {
		t.Fatalf("body %.300q (creds %v, %v):\n%s", body, creds, dl, msg)
	}
}

// sameOutcome returns "" if got (Decoder) matches want (refDecoder), else
// what differs. Users, count and info must be equal. Errors must be of the
// same type; a *ResponseError must carry the same message; a *DecodeError
// the same Kind, Index, Got and Want, and a cause of the same class
// (syntax error, type error, unexpected EOF, reader error, other). Offsets
// must be equal too, except where the reference's were wrong:
//
//   - for a value of the wrong type (a *json.UnmarshalTypeError, or an
//     error of Postcode's or time.Time's UnmarshalJSON), the reference
//     added the offset encoding/json gives (the end of the value) to the
//     offset of the token before the value, ahead of the comma or colon
//     and white space preceding it; inside users, the Decoder gives the
//     start of the value, or the end of the user for a Postcode or
//     time.Time error, as DecodeError documents;
//   - for a syntax error found between tokens (a misplaced byte where a
//     comma, colon, key or closing bracket was expected), the reference
//     reported the first syntax error of the text that follows parsed as a
//     new value, when that text was already buffered; the Decoder reports
//     the misplaced byte. Then the reference's offset is later.
func sameOutcome(got, want outcome) string {
	var diffs []string
	if len(got.users) != len(want.users) {
		diffs = append(diffs, fmt.Sprintf("%d users, reference %d", len(got.users), len(want.users)))
	}
	for i := range min(len(got.users), len(want.users)) {
		if !reflect.DeepEqual(got.users[i], want.users[i]) {
			g, _ := json.Marshal(got.users[i])
			w, _ := json.Marshal(want.users[i])
			diffs = append(diffs, fmt.Sprintf("user %d:\n  got  %s (id %v)\n  want %s (id %v)", i, g, got.users[i].ID.Value, w, want.users[i].ID.Value))
			break
		}
	}
	if got.count != want.count {
		diffs = append(diffs, fmt.Sprintf("Count %d, reference %d", got.count, want.count))
	}
	if got.info != want.info || got.hasInfo != want.hasInfo {
		diffs = append(diffs, fmt.Sprintf("Info %+v %v, reference %+v %v", got.info, got.hasInfo, want.info, want.hasInfo))
	}
	if msg := sameError(got.err, want.err); msg != "" {
		diffs = append(diffs, msg)
	}
	return strings.Join(diffs, "\n")
}

func sameError(got, want error) string {
	mismatch := func(what string) string {
		return fmt.Sprintf("%s:\n  got  %v\n  want %v", what, got, want)
	}
	if got == nil || want == nil {
		if got != want {
			return mismatch("errors differ")
		}
		return ""
	}
	var gr, wr *ResponseError
	if errors.As(want, &wr) {
		if !errors.As(got, &gr) || gr.Message != wr.Message || gr.errorKey != wr.errorKey {
			return mismatch("response errors differ")
		}
		return ""
	}
	var gd, wd *DecodeError
	if !errors.As(want, &wd) || !errors.As(got, &gd) {
		return mismatch("error types differ")
	}
	if gd.Kind != wd.Kind || gd.Index != wd.Index || gd.Got != wd.Got || gd.Want != wd.Want || gd.URL != wd.URL || gd.StatusCode != wd.StatusCode {
		return mismatch("decode errors differ")
	}
	gc, wc := causeClass(gd.Err), causeClass(wd.Err)
	if gc != wc {
		return mismatch(fmt.Sprintf("causes differ (%s, reference %s)", gc, wc))
	}
	switch {
	case gd.Offset == wd.Offset:
	case wd.Kind == ErrMalformed && (wc == "type" || wc == "other" && wd.Index >= 0):
		// A value of the wrong type: see sameOutcome.
	case wc == "syntax" && wd.Offset > gd.Offset:
		// A syntax error between tokens: see sameOutcome.
	default:
		return mismatch(fmt.Sprintf("offsets differ (%d, reference %d)", gd.Offset, wd.Offset))
	}
	return ""
}

func causeClass(err error) string {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case err == nil:
		return "none"
	case errors.As(err, &syn):
		return "syntax"
	case errors.As(err, &typ):
		return "type"
	case err == io.ErrUnexpectedEOF:
		return "unexpected EOF"
	case err == errNetwork, errors.Is(err, ErrTooLarge):
		return "reader"
	}
	return "other"
}

// deliveries are the ways each body of the table tests reaches the
// decoders: whole; a few bytes per read, through a window that must slide
// and grow; cut off by a failing reader.
func deliveries(body []byte) []delivery {
	dls := []delivery{{}, {readSize: 1, window: 1}, {readSize: 7, window: 16}, {readSize: 4096, window: 64}}
	for _, cut := range []int{1, len(body) / 3, len(body) / 2, len(body) - 1} {
		if cut > 0 {
			dls = append(dls, delivery{cutAt: cut}, delivery{cutAt: cut, readSize: 3, window: 8})
		}
	}
	return dls
}

// edgeBodies are bodies, besides the testdata files, on which the two
// decoders could plausibly part ways.
var edgeBodies = []string{
	// Structure around the users.
	``, ` `, `{`, `}`, `]`, `[`, `[]`, `,`, `:`, `x`, `null`, `"abc"`, `"abc`, `12`, `-`, `1e400`, `tru`, `true`,
	`{}`, `{} `, `{}}`, `{}]`, `{},`, `{}:`, `{}{`, `{}[`, `{} x`, `{} "s"`, `{} "s`, `{} 5`, `{} 5.`, `{} -x`, `{} 1e400`, `{} nul`,
	`{"results":[]}`, `{"results":[] }`, `{"results":[],}`, `{"results":[] x`, `{"results":[],"results":[]}`,
	`{"results":null,"results":[{}]}`, `{"results":[{}],"results":null}`, `{"results":{}}`, `{"results":5}`,
	`{"results":"a"}`, `{"results":"a`, `{"results":true}`, `{"results":tru`, `{"results":nul`, `{"results":1e400}`,
	`{"results":]}`, `{"results":}`, `{"results":,}`, `{"results"}`, `{"results" 5}`, `{"results":[{}`, `{"results":[{},`,
	`{"results":[{}x]}`, `{"results":[{}}`, `{"results":[}`, `{"results":[,]}`, `{"results":[{},]}`, `{"results":[{}{}]}`,
	`{"results":[{} {}]}`, `{"results":[{}-x]}`, `{"results":[null]}`, `{"results":[null,{}]}`, `{"results":[1]}`,
	`{"results":["a"]}`, `{"results":[[]]}`, `{"results":[true]}`, `{"results":[{"gender":"m"},"x",{}]}`,
	`{"r\u0065sults":[{}]}`, `{"Results":[{}]}`, `{"info":{"results":2},"results":[{}]}`, `{"results":[{}],"info":{"results":2}}`,
	`{"info":{"results":1},"info":null,"results":[]}`, `{"info":{"results":1},"info":{"seed":"x"},"results":[]}`,
	`{"info":null}`, `{"info":5}`, `{"info":"x"}`, `{"info":[]}`, `{"info":{"results":"1"}}`, `{"info":{"page":1e400}}`,
	`{"info":{"results":1.5}}`, `{"info":{"RESULTS":3,"Seed":"s"}}`, `{"info" : { "seed" : 5 } }`, `{"info":{"seed":?}}`,
	`{"error":"boom"}`, `{"error":""`, `{"error":"x`, `{"error":null}`, `{"error":{"code":503}}`, `{"error":1e400}`,
	`{"error":[1,"<a>"]}`, `{"results":[{}],"error":"late"}`, `{"error" "x"}`, `{"unknown":{"a":[1,2,{"b":null}]},"results":[]}`,
	`{"unknown":[1,2,}`, `{"a":1 "b":2}`, `{"a":1,}`, `{"a":01}`, `{"a":-01}`, `{"a":1.}`, `{"a":1.e5}`, `{"a":1e}`, `{"a":1e+}`,
	`{"a":.5}`, `{"a":+1}`, `{"a":0x10}`, `{"a":"\x"}`, `{"a":"\u12"}`, `{"a":"\u12G4"}`, "{\"a\":\"\x01\"}", "{\"a\":\"\xff\"}",
	`{"a":nulx}`, `{"a":[1 2]}`, `{"a":{"b" 1}}`, `{"a":{1:2}}`, `{"results":[{"a":{}}],}`,
	"\ufeff{}", "\t\r\n {\"results\" \n:\t[ {\n} ] }\n",
	// Inside a user.
	`{"results":[{"gender":"male","gender":null}]}`, `{"results":[{"gender":null}]}`, `{"results":[{"gender":5}]}`,
	`{"results":[{"gender":true}]}`, `{"results":[{"gender":{}}]}`, `{"results":[{"gender":[]}]}`, `{"results":[{"GENDER":"f"}]}`,
	`{"results":[{"Gender":"f","gender":"m"}]}`, `{"results":[{"gender":"m","Gender":"f"}]}`, `{"results":[{"gend\u0065r":"f"}]}`,
	`{"results":[{"name":{"first":"A"},"name":{"last":"B"}}]}`, `{"results":[{"name":{"first":"A"},"name":null}]}`,
	`{"results":[{"name":"x"}]}`, `{"results":[{"name":[1]}]}`, `{"results":[{"name":{"first":"\u00e9\ud83d\ude00\ud800x\udc00\\\/\b\f\n\r\t\""}}]}`,
	"{\"results\":[{\"name\":{\"first\":\"a\xffb\xc3\"}}]}", `{"results":[{"name":{"first":"\ud800\u0041"}}]}`,
	`{"results":[{"location":{"street":{"number":12}}}]}`, `{"results":[{"location":{"street":{"number":-0}}}]}`,
	`{"results":[{"location":{"street":{"number":1.5}}}]}`, `{"results":[{"location":{"street":{"number":1e2}}}]}`,
	`{"results":[{"location":{"street":{"number":9223372036854775807}}}]}`, `{"results":[{"location":{"street":{"number":9223372036854775808}}}]}`,
	`{"results":[{"location":{"street":{"number":-9223372036854775808}}}]}`, `{"results":[{"location":{"street":{"number":"12"}}}]}`,
	`{"results":[{"location":{"street":{"number":null}}}]}`, `{"results":[{"location":{"street":{"number":1,"number":null}}}]}`,
	`{"results":[{"location":{"postcode":"0150"}}]}`, `{"results":[{"location":{"postcode":10021}}]}`, `{"results":[{"location":{"postcode":-0.5e-3}}]}`,
	`{"results":[{"location":{"postcode":null}}]}`, `{"results":[{"location":{"postcode":"A","postcode":null}}]}`,
	`{"results":[{"location":{"postcode":{"a":1}}}]}`, `{"results":[{"location":{"postcode":[1,2,3,4,5,6,7,8,9,10,11,12]}}]}`,
	`{"results":[{"location":{"postcode":true}}]}`, `{"results":[{"location":{"postcode":"\u0041\n"}}]}`, "{\"results\":[{\"location\":{\"postcode\":\"\xff\"}}]}",
	`{"results":[{"location":{"postcode":{}},"gender":5}]}`, `{"results":[{"gender":5,"location":{"postcode":{}}}]}`,
	`{"results":[{"location":{"country":"X"}}]}`, `{"results":[{"location":{"coordinates":{"latitude":1.5}}}]}`,
	`{"results":[{"dob":{"date":"1952-12-25T09:25:24.013Z","age":73}}]}`, `{"results":[{"dob":{"date":"1952-12-25T09:25:24Z"}}]}`,
	`{"results":[{"dob":{"date":"1952-12-25T09:25:24.013+01:30"}}]}`, `{"results":[{"dob":{"date":"1952-12-25T09:25:24.013\u005a"}}]}`,
	`{"results":[{"dob":{"date":"25/12/1952"}}]}`, `{"results":[{"dob":{"date":null}}]}`, `{"results":[{"dob":{"date":5}}]}`,
	`{"results":[{"dob":{"date":{"a":"b"}}}]}`, `{"results":[{"dob":{"date":["x"]}}]}`, `{"results":[{"dob":{"date":true}}]}`,
	`{"results":[{"dob":{"date":"1952-12-25T09:25:24.013Z","date":null}}]}`, `{"results":[{"dob":{"date":""}}]}`,
	`{"results":[{"dob":{"date":"2000-02-30T00:00:00Z"}}]}`, `{"results":[{"dob":{"date":"0000-01-01T00:00:00Z","age":-5}}]}`,
	`{"results":[{"id":{"name":"","value":null}}]}`, `{"results":[{"id":{"value":"1"}}]}`, `{"results":[{"id":{"value":"1","value":null}}]}`,
	`{"results":[{"id":{"value":null,"value":"2"}}]}`, `{"results":[{"id":{"value":5}}]}`, `{"results":[{"id":{"value":{}}}]}`,
	`{"results":[{"id":{"value":"a"},"id":{"name":"N"}}]}`, `{"results":[{"id":null}]}`,
	`{"results":[{"login":{"password":5}}]}`, `{"results":[{"login":{"PASSWORD":"x","Salt":5}}]}`, `{"results":[{"login":{"md5":0}}]}`,
	`{"results":[{"login":{"uuid":"u","UUID":"v"}}]}`, `{"results":[{"login":{"ſalt":"x","uuid":"K"}}]}`, `{"results":[{"ſtate":1,"nat":"K"}]}`,
	`{"results":[{"location":{"ſtate":"S","\u017ftreet":{"number":3}}}]}`, `{"results":[{"\u212aey":1,"na\u0074":"x"}]}`,
	`{"results":[{"extra":{"deep":[[[[{"x":"y"}]]]]},"nat":"US"}]}`, `{"results":[{"picture":{"large":"a","medium":"b","thumbnail":"c"}}]}`,
	`{"results":[{"gender":"m"},{"gender":"f"}],"info":{"results":3}}`, `{"results":[{"gender":"m"}],"info":{"results":1},"extra":1}`,
	`{"results":[{"gender":"m"`, `{"results":[{"gender":"m",`, `{"results":[{"gender":"m","name"`, `{"results":[{"gender":"m","name":`,
	`{"results":[{"gender":5,"name":`, `{"results":[{"gender":5,"name":{"first":"A"}`, `{"results":[{"location":{"postcode":{}},"x":`,
	`{"results":[{"gender":5,"name":{"first":"A"}}x`, `{"results":[{"gender":5}]`, `{"results":[{"gender":"m"}]}  x`,
}

func readBodies(t testing.TB) map[string][]byte {
	t.Helper()
	bodies := map[string][]byte{}
	files, err := filepath.Glob(filepath.Join("testdata", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		bodies[name] = b
	}
	for i, s := range edgeBodies {
		bodies[fmt.Sprintf("edge %d", i)] = []byte(s)
	}
	return bodies
}

func TestDecodeMatchesReference(t *testing.T) {
	for name, body := range readBodies(t) {
		t.Run(name, func(t *testing.T) {
			for _, dl := range deliveries(body) {
				for _, creds := range []bool{false, true} {
					compareDecoders(t, body, creds, dl)
				}
			}
		})
	}
}

// generatedPages returns pages of the offline server for queries that
// cover its nationalities, formats and options.
func generatedPages(t testing.TB) map[string][]byte {
	t.Helper()
	h, err := randomusertest.NewHandler()
	if err != nil {
		t.Fatal(err)
	}
	queries := []string{
		"seed=diff&results=200",
		"seed=diff&results=50&format=pretty",
		"seed=lego&results=5&lego",
		"seed=pw&results=30&password=special,upper,lower,number,1-64",
		"seed=pw2&results=30&password=special,32",
		"seed=inc&results=10&inc=name,location,id",
		"seed=exc&results=10&exc=login,dob",
		"seed=noinfo&results=10&noinfo",
		"seed=one&results=1",
	}
	for _, nat := range Nationalities {
		queries = append(queries, "seed=nat&results=20&nat="+strings.ToLower(string(nat)))
	}
	pages := map[string][]byte{}
	for _, q := range queries {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/api/1.4/?"+q, nil))
		if rec.Code != http.StatusOK {
			t.Fatalf("%s: status %d", q, rec.Code)
		}
		pages[q] = rec.Body.Bytes()
	}
	return pages
}

func TestDecodeMatchesReferenceOnGeneratedPages(t *testing.T) {
	for q, body := range generatedPages(t) {
		t.Run(q, func(t *testing.T) {
			for _, dl := range deliveries(body) {
				for _, creds := range []bool{false, true} {
					compareDecoders(t, body, creds, dl)
				}
			}
		})
	}
}

// The nesting limit is encoding/json's: 10,000 levels in one value (a
// user, or the value of a top-level key).
func TestDecodeDepthLimitMatchesReference(t *testing.T) {
	for _, depth := range []int{maxDepth - 2, maxDepth - 1, maxDepth, maxDepth + 1} {
		nested := strings.Repeat("[", depth) + strings.Repeat("]", depth)
		for _, body := range []string{
			`{"results":[{"extra":` + nested + `}]}`,      // the user is one level
			`{"results":[{"name":{"x":` + nested + `}}]}`, // and name another
			`{"results":[` + nested + `]}`,
			`{"extra":` + nested + `,"results":[]}`,
			`{"info":{"x":` + nested + `},"results":[]}`,
		} {
			compareDecoders(t, []byte(body), false, delivery{})
			compareDecoders(t, []byte(body), true, delivery{readSize: 100, window: 16})
		}
	}
}

// Tokens longer than the window make it grow; nothing else does.
func TestDecodeLongTokens(t *testing.T) {
	long := strings.Repeat("abcdefghé", 100000)
	body := `{"results":[{"name":{"first":"` + long + `"},"location":{"postcode":` + strings.Repeat("1", 5000) + `},"x":"` + long + `"}]}`
	compareDecoders(t, []byte(body), false, delivery{})
	compareDecoders(t, []byte(body), false, delivery{readSize: 1000, window: 4})
	d := newDecoderWindow(strings.NewReader(body), 4)
	var u User
	if err := d.Decode(&u); err != nil || u.Name.First != long {
		t.Fatalf("Decode: %v", err)
	}
	if c := cap(d.s.buf); c > 4*len(long) {
		t.Errorf("window grew to %d bytes for a %d-byte token", c, len(long))
	}
}

// A page is read through a window of fixed size, not held whole.
func TestDecodeWindowStaysSmall(t *testing.T) {
	body := generatedPages(t)["seed=diff&results=200"]
	d := NewDecoder(bytes.NewReader(body))
	o := decodeWith(t, d, true)
	if o.err != nil || len(o.users) != 200 {
		t.Fatalf("%d users, %v", len(o.users), o.err)
	}
	if c := cap(d.s.buf); c != windowSize {
		t.Errorf("window of %d bytes after a %d-byte page, want %d", c, len(body), windowSize)
	}
}

// Decoding costs one allocation per user for its strings, plus one for
// ID.Value when it is not null.
func TestDecodeAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector changes allocation counts")
	}
	body := generatedPages(t)["seed=diff&results=200"]
	for _, creds := range []bool{false, true} {
		allocs := testing.AllocsPerRun(10, func() {
			d := NewDecoder(bytes.NewReader(body))
			d.SetCredentials(creds)
			var u User
			for d.Decode(&u) == nil {
			}
		})
		if perUser := allocs / 200; perUser > 2.1 {
			t.Errorf("creds %v: %.2f allocations per user, want at most 2", creds, perUser)
		}
	}
}

func TestSyntaxErrorMessages(t *testing.T) {
	tests := []struct {
		where string
		c     byte
		want  string
	}{
		{inValue, ']', "invalid character ']' looking for beginning of value"},
		{inObjectKey, '}', "invalid character '}' looking for beginning of object key string"},
		{afterKey, ',', "invalid character ',' after object key"},
		{afterPair, ']', "invalid character ']' after object key:value pair"},
		{afterPair, '"', "invalid character '\"' after object key:value pair"},
		{afterPair, '1', "invalid character '1' after object key:value pair"},
		{afterElem, '}', "invalid character '}' after array element"},
		{inString, 0x01, `invalid character '\x01' in string literal`},
		{inEscape, 'x', "invalid character 'x' in string escape code"},
		{inHex, 'g', `invalid character 'g' in \u hexadecimal character escape`},
		{inNumber, 'x', "invalid character 'x' in numeric literal"},
		{afterDot, 'e', "invalid character 'e' after decimal point in numeric literal"},
		{inExponent, '.', "invalid character '.' in exponent of numeric literal"},
		{"nu", 'x', "invalid character 'x' in literal null (expecting 'l')"},
		{"t", 'x', "invalid character 'x' in literal true (expecting 'r')"},
		{tooDeep, '[', "invalid character '[' exceeded max depth"},
	}
	for _, tt := range tests {
		s := scanner{buf: []byte("ab" + string(tt.c)), pos: 2, off: 100}
		var syn *json.SyntaxError
		if err := s.syntax(tt.where); !errors.As(err, &syn) || syn.Error() != tt.want || syn.Offset != 103 {
			t.Errorf("syntax(%q) at %q = %v (offset %d), want %q at 103", tt.where, tt.c, err, syn.Offset, tt.want)
		}
	}
}

func TestPlain8(t *testing.T) {
	for c := range 256 {
		for pos := range 8 {
			b := []byte("abcdefgh")
			b[pos] = byte(c)
			x := uint64(0)
			for i := 7; i >= 0; i-- {
				x = x<<8 | uint64(b[i])
			}
			if want := strByte[c] && c < 0x80; plain8(x) != want {
				t.Fatalf("plain8 with byte %#x at %d = %v, want %v", c, pos, !want, want)
			}
		}
	}
}

// FuzzDecodeDifferential decodes arbitrary bodies, delivered in arbitrary
// pieces, with Decoder and with the encoding/json-based refDecoder, and
// requires the same outcome (see sameOutcome).
//
// chunk picks the delivery: 0 is the whole body at once, otherwise its low
// five bits give the bytes per Read and the high three the initial window.
// cut, if not 0, makes the reader fail after that many bytes.
func FuzzDecodeDifferential(f *testing.F) {
	for _, body := range readBodies(f) {
		f.Add(body, false, uint8(0), uint16(0))
		f.Add(body, true, uint8(0x43), uint16(0))
	}
	for _, body := range generatedPages(f) {
		if len(body) < 8<<10 {
			f.Add(body, true, uint8(0), uint16(len(body)/2))
		}
	}
	f.Fuzz(func(t *testing.T, body []byte, creds bool, chunk uint8, cut uint16) {
		dl := delivery{cutAt: int(cut)}
		if chunk != 0 {
			dl.readSize, dl.window = int(chunk&31)+1, int(chunk>>5)+1
		}
		compareDecoders(t, body, creds, dl)
	})
}
