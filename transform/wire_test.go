package transform_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/userstream/userstream/transform"
)

// seedMessage is what the seed's producer sends once its uuid bug is fixed
// (data['id'] = str(uuid.uuid4())): Python json.dumps with its default
// separators ", " and ": ", ensure_ascii escapes, and the API's numeric
// postcode passed through unchanged. Generated with CPython 3.
const seedMessage = `{"id": "9f1c5b0e-6a51-4c8e-9d0a-3f2b7c1d4e5f", "first_name": "Kl\u00e1ra", "last_name": "M\u00fcller", "gender": "female", "address": "4525 K\u00f6nigsberger Stra\u00dfe, Bad Kreuznach, Sachsen, Germany", "post_code": 70963, "email": "klara.muller@example.com", "username": "bigbird192", "dob": "1982-05-28T17:30:22.416Z", "registered_date": "2014-08-22T11:04:12.022Z", "phone": "0123-4567890", "picture": "https://randomuser.me/api/portraits/med/women/3.jpg"}`

var seedRow = transform.Row{
	ID:             "9f1c5b0e-6a51-4c8e-9d0a-3f2b7c1d4e5f",
	FirstName:      "Klára",
	LastName:       "Müller",
	Gender:         "female",
	Address:        "4525 Königsberger Straße, Bad Kreuznach, Sachsen, Germany",
	PostCode:       "70963",
	Email:          "klara.muller@example.com",
	Username:       "bigbird192",
	DOB:            "1982-05-28T17:30:22.416Z",
	RegisteredDate: "2014-08-22T11:04:12.022Z",
	Phone:          "0123-4567890",
	Picture:        "https://randomuser.me/api/portraits/med/women/3.jpg",
}

func TestUnmarshalSeedProducerMessage(t *testing.T) {
	got, err := transform.Unmarshal([]byte(seedMessage))
	if err != nil {
		t.Fatal(err)
	}
	if got != seedRow {
		t.Errorf("Unmarshal() =\n%+v\nwant\n%+v", got, seedRow)
	}
	if err := got.Validate(); err != nil {
		t.Errorf("Validate() = %v", err)
	}
}

func TestMarshalGolden(t *testing.T) {
	tests := []struct {
		name string
		row  transform.Row
		want string
	}{
		{
			name: "complete",
			row:  validRow(),
			want: `{"id":"d0f9cfc2-9463-4742-8090-7295dc7cd41f","first_name":"Sebastian","last_name":"Bailey","gender":"male",` +
				`"address":"5968 Springfield Road, Worcester, South Yorkshire, United Kingdom","post_code":"C4S 0YR",` +
				`"email":"sebastian.bailey@example.com","username":"orangebird527","dob":"1952-12-25T09:25:24.013Z",` +
				`"registered_date":"2014-04-28T10:33:14.790Z","phone":"016974 29084","picture":"https://randomuser.me/api/portraits/med/men/33.jpg"}`,
		},
		{
			name: "no dob, escapes",
			row: func() transform.Row {
				r := validRow()
				r.DOB = ""
				r.Address = "1 \"Quote\" Rd\\Back\n\t\x01<&>\u2028\u2029 Straße 😀"
				return r
			}(),
			want: `{"id":"d0f9cfc2-9463-4742-8090-7295dc7cd41f","first_name":"Sebastian","last_name":"Bailey","gender":"male",` +
				`"address":"1 \"Quote\" Rd\\Back\n\t\u0001<&>\u2028\u2029 Straße 😀","post_code":"C4S 0YR",` +
				`"email":"sebastian.bailey@example.com","username":"orangebird527",` +
				`"registered_date":"2014-04-28T10:33:14.790Z","phone":"016974 29084","picture":"https://randomuser.me/api/portraits/med/men/33.jpg"}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := transform.Marshal(tt.row)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("Marshal() =\n%s\nwant\n%s", got, tt.want)
			}
			if app := transform.AppendJSON([]byte("prefix"), tt.row); string(app) != "prefix"+tt.want {
				t.Errorf("AppendJSON() = %s", app)
			}
		})
	}
}

// roundTripRows are rows whose strings exercise the encoder's escaping.
func roundTripRows() []transform.Row {
	rows := []transform.Row{validRow(), seedRow}
	for _, s := range []string{
		"", `"`, `\`, `\"`, "/", "\x00\x1f\x7f", "\b\f\n\r\t", "<script>&amp;</script>",
		"\u2028\u2029", "😀 surrogate pair", "آیناز کریمی", "Klára Müller", "\ufffd",
		strings.Repeat("é", transform.MaxFieldBytes/2-1), // +1 byte: the cap
	} {
		r := validRow()
		r.Address, r.Gender, r.Phone = s, s+"x", "x"+s
		rows = append(rows, r)
	}
	r := validRow()
	r.DOB = ""
	return append(rows, r)
}

func TestRoundTrip(t *testing.T) {
	for _, row := range roundTripRows() {
		b, err := transform.Marshal(row)
		if err != nil {
			t.Fatalf("Marshal(%+v): %v", row, err)
		}
		if !json.Valid(b) {
			t.Fatalf("Marshal wrote invalid JSON: %s", b)
		}
		got, err := transform.Unmarshal(b)
		if err != nil {
			t.Fatalf("Unmarshal(%s): %v", b, err)
		}
		if got != row {
			t.Errorf("round trip:\n got %+v\nwant %+v", got, row)
		}
		// encoding/json reads the payload into the same Row.
		var std transform.Row
		if err := json.Unmarshal(b, &std); err != nil || std != row {
			t.Errorf("encoding/json read %s as %+v, %v", b, std, err)
		}
		// And Unmarshal reads what encoding/json writes.
		stdb, _ := json.Marshal(row)
		if got, err := transform.Unmarshal(stdb); err != nil || got != row {
			t.Errorf("Unmarshal(json.Marshal(row)) = %+v, %v", got, err)
		}
	}
}

// AppendJSON writes any string, valid UTF-8 or not, as valid JSON meaning
// what encoding/json's output means.
func TestAppendJSONInvalidUTF8(t *testing.T) {
	for _, s := range []string{"\xff", "a\xc3", "\xed\xa0\x80x", "ok\x80\x80ok", "\xf4\x90\x80\x80"} {
		row := validRow()
		row.LastName = s
		b := transform.AppendJSON(nil, row)
		if !json.Valid(b) || !utf8.Valid(b) {
			t.Fatalf("AppendJSON(%q) wrote invalid JSON or UTF-8: %q", s, b)
		}
		var ours, std transform.Row
		stdb, _ := json.Marshal(row)
		if err := json.Unmarshal(b, &ours); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(stdb, &std); err != nil {
			t.Fatal(err)
		}
		if ours != std {
			t.Errorf("%q: AppendJSON means %q, encoding/json means %q", s, ours.LastName, std.LastName)
		}
	}
}

func TestUnmarshalAccepts(t *testing.T) {
	base := validRow()
	tests := []struct {
		name   string
		in     string
		change func(r *transform.Row) // changes to validRow(); nil: want Row{}
	}{
		{"empty object", `{}`, nil},
		{"white space around", " \t\r\n{ \"id\" \n: \"x\" \t}\r\n", func(r *transform.Row) { *r = transform.Row{ID: "x"} }},
		{"no dob (seed table fields only)", strings.Replace(string(transform.AppendJSON(nil, base)), `"dob":"1952-12-25T09:25:24.013Z",`, "", 1),
			func(r *transform.Row) { r.DOB = "" }},
		{"unknown fields of every type", `{"x":1,"id":"a","nested":{"a":[1,2.5e-3,{"b":null}],"c":"\"}"},"t":true,"f":false,"n":null,"arr":[],"obj":{},"s":"\u00e9"}`,
			func(r *transform.Row) { *r = transform.Row{ID: "a"} }},
		{"numeric post_code", `{"post_code":70963}`, func(r *transform.Row) { *r = transform.Row{PostCode: "70963"} }},
		{"small numeric post_code", `{"post_code":200}`, func(r *transform.Row) { *r = transform.Row{PostCode: "200"} }},
		{"zero post_code", `{"post_code":0}`, func(r *transform.Row) { *r = transform.Row{PostCode: "0"} }},
		{"number literal kept as written", `{"post_code":-1.50E+3}`, func(r *transform.Row) { *r = transform.Row{PostCode: "-1.50E+3"} }},
		{"string post_code with leading zero", `{"post_code":"0150"}`, func(r *transform.Row) { *r = transform.Row{PostCode: "0150"} }},
		{"null leaves fields empty", `{"id":null,"dob":null,"post_code":null}`, nil},
		{"null after a value keeps it (as encoding/json)", `{"id":"a","id":null}`, func(r *transform.Row) { *r = transform.Row{ID: "a"} }},
		{"repeated key: last wins", `{"id":"a","id":"b"}`, func(r *transform.Row) { *r = transform.Row{ID: "b"} }},
		{"escaped key", `{"\u0069d":"a","first\u005fname":"b"}`, func(r *transform.Row) { *r = transform.Row{ID: "a", FirstName: "b"} }},
		{"keys match case-sensitively", `{"ID":"a","Email":"b"}`, nil},
		{"all simple escapes", `{"address":"\"\\\/\b\f\n\r\t"}`, func(r *transform.Row) { *r = transform.Row{Address: "\"\\/\b\f\n\r\t"} }},
		{"surrogate pair", `{"address":"\ud83d\ude00"}`, func(r *transform.Row) { *r = transform.Row{Address: "😀"} }},
		{"lone high surrogate", `{"address":"a\ud83db"}`, func(r *transform.Row) { *r = transform.Row{Address: "a\ufffdb"} }},
		{"high surrogate then non-low escape", `{"address":"\ud83d\u0041"}`, func(r *transform.Row) { *r = transform.Row{Address: "\ufffdA"} }},
		{"lone low surrogate", `{"address":"\ude00"}`, func(r *transform.Row) { *r = transform.Row{Address: "\ufffd"} }},
		{"invalid UTF-8 becomes U+FFFD", "{\"address\":\"a\xffb\xc3\"}", func(r *transform.Row) { *r = transform.Row{Address: "a\ufffdb\ufffd"} }},
		{"raw UTF-8", `{"first_name":"آیناز"}`, func(r *transform.Row) { *r = transform.Row{FirstName: "آیناز"} }},
		{"value longer than the scratch buffer", `{"address":"` + strings.Repeat("x", 2000) + `"}`,
			func(r *transform.Row) { *r = transform.Row{Address: strings.Repeat("x", 2000)} }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := transform.Row{}
			if tt.change != nil {
				want = base
				tt.change(&want)
			}
			got, err := transform.Unmarshal([]byte(tt.in))
			if err != nil {
				t.Fatalf("Unmarshal(%q): %v", tt.in, err)
			}
			if got != want {
				t.Errorf("Unmarshal(%q) =\n%+v\nwant\n%+v", tt.in, got, want)
			}
		})
	}
}

func TestUnmarshalErrors(t *testing.T) {
	tests := []struct {
		name   string
		in     string
		is     error
		offset int64
		field  string
	}{
		{"empty", ``, transform.ErrSyntax, 0, ""},
		{"only space", "  \n", transform.ErrSyntax, 3, ""},
		{"truncated", `{"id":"a`, transform.ErrSyntax, 8, "id"},
		{"truncated after comma", `{"id":"a",`, transform.ErrSyntax, 10, ""},
		{"truncated unknown value", `{"x":[1,`, transform.ErrSyntax, 8, ""},
		{"not JSON", `hello`, transform.ErrSyntax, 0, ""},
		{"single quotes", `{'id':'a'}`, transform.ErrSyntax, 1, ""},
		{"trailing comma", `{"id":"a",}`, transform.ErrSyntax, 10, ""},
		{"missing colon", `{"id" "a"}`, transform.ErrSyntax, 6, ""},
		{"missing comma", `{"id":"a" "gender":"b"}`, transform.ErrSyntax, 10, ""},
		{"trailing data", `{"id":"a"} {}`, transform.ErrSyntax, 11, ""},
		{"two objects", `{}{}`, transform.ErrSyntax, 2, ""},
		{"raw newline in string", "{\"id\":\"a\nb\"}", transform.ErrSyntax, 8, "id"},
		{"bad escape", `{"id":"\x41"}`, transform.ErrSyntax, 8, "id"},
		{"bad unicode escape", `{"id":"\u12G4"}`, transform.ErrSyntax, 11, "id"},
		{"bad second surrogate escape", `{"id":"\ud83d\uZZZZ"}`, transform.ErrSyntax, 15, "id"},
		{"bad literal", `{"id":nul}`, transform.ErrSyntax, 9, "id"},
		{"bad literal in unknown field", `{"x":tru}`, transform.ErrSyntax, 8, ""},
		{"leading zero number", `{"post_code":0150}`, transform.ErrSyntax, 14, ""},
		{"plus number", `{"post_code":+1}`, transform.ErrSyntax, 13, "post_code"},
		{"number without digits after dot", `{"post_code":1.}`, transform.ErrSyntax, 15, "post_code"},
		{"number without exponent digits", `{"post_code":1e}`, transform.ErrSyntax, 15, "post_code"},
		{"NaN", `{"post_code":NaN}`, transform.ErrSyntax, 13, "post_code"},
		{"unquoted key", `{id:"a"}`, transform.ErrSyntax, 1, ""},
		{"unclosed array in unknown field", `{"x":[1 2]}`, transform.ErrSyntax, 8, ""},
		{"array", `[{"id":"a"}]`, transform.ErrNotObject, 0, ""},
		{"string", ` "id"`, transform.ErrNotObject, 1, ""},
		{"null", `null`, transform.ErrNotObject, 0, ""},
		{"number id", `{"id":12345}`, transform.ErrFieldType, 6, "id"},
		{"boolean email", `{"email":true}`, transform.ErrFieldType, 9, "email"},
		{"object dob (API shape)", `{"dob":{"date":"1992-03-08T15:13:16.688Z","age":33}}`, transform.ErrFieldType, 7, "dob"},
		{"array picture", `{"picture":["a"]}`, transform.ErrFieldType, 11, "picture"},
		{"boolean post_code", `{"post_code":false}`, transform.ErrFieldType, 13, "post_code"},
		{"malformed beats type", `{"id":[1,}`, transform.ErrSyntax, 9, "id"},
		{"syntax error after a type error wins", `{"id":0`, transform.ErrSyntax, 7, ""},
		{"first type error is reported", `{"id":0,"email":true}`, transform.ErrFieldType, 6, "id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			row, err := transform.Unmarshal([]byte(tt.in))
			var derr *transform.DecodeError
			if !errors.As(err, &derr) {
				t.Fatalf("Unmarshal(%q) = %+v, %v; want a *DecodeError", tt.in, row, err)
			}
			if row != (transform.Row{}) {
				t.Errorf("Unmarshal(%q) returned a non-zero row %+v with its error", tt.in, row)
			}
			if !errors.Is(err, tt.is) {
				t.Errorf("Unmarshal(%q) = %v, want errors.Is %v", tt.in, err, tt.is)
			}
			if derr.Offset != tt.offset || derr.Field != tt.field {
				t.Errorf("Unmarshal(%q) = %v: offset %d field %q, want offset %d field %q", tt.in, err, derr.Offset, derr.Field, tt.offset, tt.field)
			}
			if !strings.HasPrefix(err.Error(), "transform: decode payload") {
				t.Errorf("Error() = %q", err)
			}
			// Our syntax verdict agrees with encoding/json's.
			if valid := json.Valid([]byte(tt.in)); valid == (tt.is == transform.ErrSyntax) {
				t.Errorf("json.Valid(%q) = %v, but we say %v", tt.in, valid, err)
			}
		})
	}
}

func TestUnmarshalDepth(t *testing.T) {
	for _, depth := range []int{9999, 10000, 10001} {
		// The top-level object is depth 1.
		in := `{"x":` + strings.Repeat("[", depth-1) + strings.Repeat("]", depth-1) + `}`
		_, err := transform.Unmarshal([]byte(in))
		if (err == nil) != json.Valid([]byte(in)) {
			t.Errorf("depth %d: Unmarshal error %v, json.Valid %v", depth, err, json.Valid([]byte(in)))
		}
		if depth <= 10000 && err != nil {
			t.Errorf("depth %d: %v", depth, err)
		}
	}
}

func TestUnmarshalDoesNotAlias(t *testing.T) {
	in := transform.AppendJSON(nil, validRow())
	row, err := transform.Unmarshal(in)
	if err != nil {
		t.Fatal(err)
	}
	for i := range in {
		in[i] = 'X'
	}
	if row != validRow() {
		t.Errorf("row changed with its input: %+v", row)
	}
}

func FuzzUnmarshal(f *testing.F) {
	f.Add([]byte(seedMessage))
	f.Add(transform.AppendJSON(nil, validRow()))
	for _, r := range roundTripRows() {
		f.Add(transform.AppendJSON(nil, r))
	}
	for _, s := range []string{
		``, `{}`, `[]`, `null`, `{"id":1}`, `{"post_code":-0.5e+7}`, `{"a":[{"b":[]}],"id":"x"}`,
		`{"address":"\ud83d\ude00\ud83d"}`, "{\"x\":\"\xff\"}", `{"id":"a","id":null}`, `{"id":"a"`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		row, err := transform.Unmarshal(data)
		if err != nil {
			var derr *transform.DecodeError
			if !errors.As(err, &derr) {
				t.Fatalf("error %v is not a *DecodeError", err)
			}
			if derr.Offset < 0 || derr.Offset > int64(len(data)) {
				t.Fatalf("offset %d outside the input (%d bytes)", derr.Offset, len(data))
			}
			switch {
			case errors.Is(err, transform.ErrSyntax):
				if json.Valid(data) {
					t.Fatalf("we say %v; encoding/json says valid", err)
				}
			case errors.Is(err, transform.ErrNotObject), errors.Is(err, transform.ErrFieldType):
				if !json.Valid(data) {
					t.Fatalf("we say %v; encoding/json says invalid JSON", err)
				}
			default:
				t.Fatalf("error %v wraps no known cause", err)
			}
			return
		}

		// Accepted: encoding/json agrees on the syntax and the values.
		if !json.Valid(data) {
			t.Fatalf("accepted JSON that encoding/json rejects")
		}
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.UseNumber()
		var m map[string]any
		if err := dec.Decode(&m); err != nil || m == nil {
			t.Fatalf("accepted a payload encoding/json cannot decode as an object: %v", err)
		}
		fields := rowFields(row)
		for i, name := range transform.FieldNames {
			switch v := m[name].(type) {
			case string:
				if fields[i] != v {
					t.Fatalf("%s = %q, encoding/json says %q", name, fields[i], v)
				}
			case json.Number:
				if name != "post_code" || fields[i] != v.String() {
					t.Fatalf("%s = %q, encoding/json says number %s", name, fields[i], v)
				}
			case nil: // missing, or null (which keeps an earlier value)
			default:
				t.Fatalf("accepted %s of type %T", name, v)
			}
			if !utf8.ValidString(fields[i]) {
				t.Fatalf("%s is not valid UTF-8: %q", name, fields[i])
			}
		}

		// What it accepts round-trips.
		enc := transform.AppendJSON(nil, row)
		again, err := transform.Unmarshal(enc)
		if err != nil {
			t.Fatalf("Unmarshal(AppendJSON(row)) = %v; payload %q", err, enc)
		}
		if again != row {
			t.Fatalf("round trip changed the row:\n%+v\n%+v", row, again)
		}
		if row.Validate() == nil {
			b, err := transform.Marshal(row)
			if err != nil || !bytes.Equal(b, enc) {
				t.Fatalf("Marshal = %q, %v; AppendJSON = %q", b, err, enc)
			}
			if errs := checkPayload(t, b); len(errs) > 0 {
				t.Fatalf("Marshal output %s breaks the schema: %v", b, errs)
			}
		}
	})
}

// rowFields returns r's fields in field order.
func rowFields(r transform.Row) []string {
	return []string{r.ID, r.FirstName, r.LastName, r.Gender, r.Address, r.PostCode,
		r.Email, r.Username, r.DOB, r.RegisteredDate, r.Phone, r.Picture}
}
