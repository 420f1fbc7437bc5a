package randomuser_test

import (
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/userstream/userstream/randomuser"
)

// decodeAll reads every user of a body.
func decodeAll(t testing.TB, body []byte, creds bool) ([]randomuser.User, *randomuser.Decoder, error) {
	t.Helper()
	dec := randomuser.NewDecoder(strings.NewReader(string(body)))
	dec.SetCredentials(creds)
	var users []randomuser.User
	for {
		var u randomuser.User
		err := dec.Decode(&u)
		if err == io.EOF {
			return users, dec, nil
		}
		if err != nil {
			return users, dec, err
		}
		users = append(users, u)
	}
}

func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestDecodeFactsheet(t *testing.T) {
	users, dec, err := decodeAll(t, readTestdata(t, "factsheet_gb.json"), true)
	if err != nil {
		t.Fatal(err)
	}
	if len(users) != 1 {
		t.Fatalf("got %d users, want 1", len(users))
	}
	value := "NR 25 24 39 J"
	want := randomuser.User{
		Gender: "male",
		Name:   randomuser.Name{Title: "Mr", First: "Sebastian", Last: "Bailey"},
		Location: randomuser.Location{
			Street: randomuser.Street{Number: 5968, Name: "Springfield Road"},
			City:   "Worcester", State: "South Yorkshire", Country: "United Kingdom",
			Postcode:    "C4S 0YR",
			Coordinates: randomuser.Coordinates{Latitude: "86.2416", Longitude: "-142.9372"},
			Timezone:    randomuser.Timezone{Offset: "+10:00", Description: "Eastern Australia, Guam, Vladivostok"},
		},
		Email: "sebastian.bailey@example.com",
		Login: randomuser.Login{
			UUID: "d0f9cfc2-9463-4742-8090-7295dc7cd41f", Username: "orangebird527", Password: "1616",
			Salt: "LsAmCqjI", MD5: "0c01b07abc40fa528bf399e02fbb8171", SHA1: "7ac89c39d15aa24b9232dc714f49a2ad559012e6",
			SHA256: "3855849b0230fcb5413cb414ef21e2655fd7ed3571f2511ef293e832a96f81bb",
		},
		DOB:        randomuser.Dated{Date: time.Date(1952, 12, 25, 9, 25, 24, 13e6, time.UTC), Age: 73},
		Registered: randomuser.Dated{Date: time.Date(2014, 4, 28, 10, 33, 14, 790e6, time.UTC), Age: 12},
		Phone:      "016974 29084", Cell: "07760 414750",
		ID: randomuser.ID{Name: "NINO", Value: &value},
		Picture: randomuser.Picture{
			Large:     "https://randomuser.me/api/portraits/men/33.jpg",
			Medium:    "https://randomuser.me/api/portraits/med/men/33.jpg",
			Thumbnail: "https://randomuser.me/api/portraits/thumb/men/33.jpg",
		},
		Nat: "GB",
	}
	if got, _ := json.Marshal(users[0]); string(got) != string(mustMarshal(t, want)) {
		t.Errorf("decoded\n%s\nwant\n%s", got, mustMarshal(t, want))
	}
	info, ok := dec.Info()
	if !ok || info != (randomuser.Info{Seed: "factsheet", Results: 1, Page: 1, Version: "1.4"}) {
		t.Errorf("Info() = %+v, %v", info, ok)
	}
}

func mustMarshal(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestDecodeSkipsCredentialsByDefault(t *testing.T) {
	users, _, err := decodeAll(t, readTestdata(t, "factsheet_gb.json"), false)
	if err != nil {
		t.Fatal(err)
	}
	l := users[0].Login
	if l.Password != "" || l.Salt != "" || l.MD5 != "" || l.SHA1 != "" || l.SHA256 != "" {
		t.Errorf("credentials decoded without SetCredentials: %#v", l)
	}
	if l.UUID != "d0f9cfc2-9463-4742-8090-7295dc7cd41f" || l.Username != "orangebird527" {
		t.Errorf("login = %#v, want uuid and username kept", l)
	}
}

func TestDecodeEdgeCases(t *testing.T) {
	users, dec, err := decodeAll(t, readTestdata(t, "edge_cases.json"), false)
	if err != nil {
		t.Fatal(err)
	}
	if len(users) != 8 {
		t.Fatalf("got %d users, want 8", len(users))
	}
	info, _ := dec.Info()
	if info.Page != 1.5 || info.Results != 8 || info.Seed != "edge" {
		t.Errorf("info = %+v", info)
	}
	checks := []struct {
		name string
		ok   bool
	}{
		{"US numeric postcode", users[0].Location.Postcode == "10021"},
		{"US ms date at the lower bound", users[0].DOB.Date.Equal(time.Date(1944, 8, 25, 17, 46, 40, 0, time.UTC))},
		{"NO leading zero", users[1].Location.Postcode == "0150"},
		{"NO diacritics", users[1].Name.First == "Åse" && users[1].Location.City == "Tromsø"},
		{"coordinate strings", users[1].Location.Coordinates.Longitude == "-0.0001"},
		{"CA string postcode", users[2].Location.Postcode == "H0H 0H0"},
		{"CA letters in phone", users[2].Phone == "C12 B34-5678"},
		{"IR Persian name", users[3].Name.First == "آیناز"},
		{"IR null id", users[3].ID.Name == "" && users[3].ID.Value == nil},
		{"LEGO without country", users[4].Nat == "LEGO" && users[4].Location.Country == "" && users[4].Location.City == "Bricksburg"},
		{"inc user keeps its fields", users[5].Name.Last == "O'Brien" && users[5].Nat == "IE"},
		{"inc user has zero others", users[5].Gender == "" && users[5].DOB.Date.IsZero() && users[5].Location.Postcode == ""},
		{"FI broken id", users[6].ID.String() == "NaNNA337undefined"},
		{"FI 999 ms", users[6].DOB.Date.Nanosecond() == 999e6},
		{"AU 3-digit postcode", users[7].Location.Postcode == "200"},
	}
	for _, c := range checks {
		if !c.ok {
			t.Errorf("%s: failed", c.name)
		}
	}
	// The decoder resets the target: reusing one User must not leak fields
	// of the previous user into a user without them.
	d := randomuser.NewDecoder(strings.NewReader(string(readTestdata(t, "edge_cases.json"))))
	var u randomuser.User
	for range 6 {
		if err := d.Decode(&u); err != nil {
			t.Fatal(err)
		}
	}
	if u.Gender != "" || u.Email != "" {
		t.Errorf("reused User kept stale fields: %q %q", u.Gender, u.Email)
	}
}

func TestDecodeErrors(t *testing.T) {
	tests := []struct {
		file      string
		wantUsers int
		wantIs    error
		check     func(t *testing.T, err error)
	}{
		{file: "outage_empty_results.json", wantIs: randomuser.ErrEmptyResults, check: func(t *testing.T, err error) {
			var de *randomuser.DecodeError
			if !errors.As(err, &de) || de.Got != 0 || de.Want != 1 || !de.Retryable() {
				t.Errorf("DecodeError = %+v", de)
			}
		}},
		{file: "short_page.json", wantUsers: 1, wantIs: randomuser.ErrShortPage},
		{file: "error_body.json", wantIs: randomuser.ErrUnavailable, check: func(t *testing.T, err error) {
			var re *randomuser.ResponseError
			if !errors.As(err, &re) || !strings.HasPrefix(re.Message, "Uh oh, something has gone wrong") {
				t.Errorf("ResponseError = %+v", re)
			}
		}},
		{file: "truncated.json", wantIs: randomuser.ErrTruncated, check: func(t *testing.T, err error) {
			var de *randomuser.DecodeError
			if !errors.As(err, &de) || de.Offset != 900 || de.Index != 0 || !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Errorf("DecodeError = %+v", de)
			}
		}},
		{file: "malformed_syntax.json", wantIs: randomuser.ErrMalformed, check: func(t *testing.T, err error) {
			var se *json.SyntaxError
			var de *randomuser.DecodeError
			if !errors.As(err, &se) || !errors.As(err, &de) || de.Offset != 170 || de.Index != 0 || de.Retryable() {
				t.Errorf("DecodeError = %+v (syntax error %v)", de, se)
			}
		}},
		{file: "malformed_postcode.json", wantIs: randomuser.ErrMalformed},
		{file: "html_page.json", wantIs: randomuser.ErrMalformed, check: func(t *testing.T, err error) {
			var de *randomuser.DecodeError
			if !errors.As(err, &de) || de.Offset > 1 || de.Index != -1 {
				t.Errorf("DecodeError = %+v", de)
			}
		}},
		{file: "noinfo.json", wantUsers: 1},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			users, _, err := decodeAll(t, readTestdata(t, tt.file), false)
			if len(users) != tt.wantUsers {
				t.Errorf("decoded %d users before the error, want %d", len(users), tt.wantUsers)
			}
			if tt.wantIs == nil {
				if err != nil {
					t.Fatalf("err = %v", err)
				}
				return
			}
			if !errors.Is(err, tt.wantIs) {
				t.Fatalf("err = %v, want %v", err, tt.wantIs)
			}
			t.Logf("error text: %v", err)
			if tt.check != nil {
				tt.check(t, err)
			}
		})
	}
}

func TestDecodeSmallInputs(t *testing.T) {
	tests := []struct {
		in     string
		wantIs error
	}{
		{``, randomuser.ErrTruncated},
		{`{`, randomuser.ErrTruncated},
		{`{"results":[`, randomuser.ErrTruncated},
		{`{"results":[{"gender":"male"},`, randomuser.ErrTruncated},
		{`[]`, randomuser.ErrMalformed},
		{`{"results":{}}`, randomuser.ErrMalformed},
		{`{"results":[1]}`, randomuser.ErrMalformed},
		{`{"results":[],"results":[]}`, randomuser.ErrMalformed},
		{`{"results":[]} {}`, randomuser.ErrMalformed},
		{`{"results":[{"location":{"street":{"number":"12"}}}]}`, randomuser.ErrMalformed},
		{`{"results":[{"dob":{"date":"25/12/1952"}}]}`, randomuser.ErrMalformed},
		{`{"info":{"results":2}}`, randomuser.ErrEmptyResults},
		{`{"results":null,"info":{"results":1}}`, randomuser.ErrEmptyResults},
		{`{"error":{"code":503}}`, randomuser.ErrUnavailable},
		{`{}`, nil},
		{`{"results":[]}`, nil},
		{`{"results":[{}],"info":{"results":1}}`, nil},
	}
	for _, tt := range tests {
		_, _, err := decodeAll(t, []byte(tt.in), false)
		if tt.wantIs == nil && err != nil || tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
			t.Errorf("decode %q: err = %v, want %v", tt.in, err, tt.wantIs)
		}
	}
}

// The decoder's errors are sticky: after a failure every call returns it.
// Offsets point at the offending byte wherever the error is found: inside a
// user, between users, in a key.
func TestDecodeSyntaxOffsets(t *testing.T) {
	tests := []struct {
		in   string
		want int64
	}{
		{`{"results":[{}x]}`, 14},
		{`{"results":[{"gender":"male"}, {"name":{"first":"A"}}, {"nat":"US",}]}`, 67},
		{`{"results":[], "info":{"seed":?}}`, 30},
		{`{"results":[], bad}`, 15},
		{`{"info":{"seed":"s"},"results":[{"a":1},{"b":2}],x}`, 49},
		{`x`, 0},
	}
	for _, tt := range tests {
		_, _, err := decodeAll(t, []byte(tt.in), false)
		var de *randomuser.DecodeError
		if !errors.As(err, &de) || !errors.Is(err, randomuser.ErrMalformed) {
			t.Errorf("decode %q: err = %v, want a malformed DecodeError", tt.in, err)
			continue
		}
		if de.Offset != tt.want {
			t.Errorf("decode %q: offset %d (%q), want %d (%q)", tt.in, de.Offset, tt.in[de.Offset:], tt.want, tt.in[tt.want:])
		}
	}
}

func TestDecodeErrorIsSticky(t *testing.T) {
	dec := randomuser.NewDecoder(strings.NewReader(`{"results":[{"gender":1}]}`))
	var u randomuser.User
	err1 := dec.Decode(&u)
	err2 := dec.Decode(&u)
	if err1 == nil || err1 != err2 {
		t.Errorf("errors %v then %v", err1, err2)
	}
}
