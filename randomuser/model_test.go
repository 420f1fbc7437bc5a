package randomuser_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/userstream/userstream/randomuser"
)

func TestPostcodeUnmarshal(t *testing.T) {
	tests := []struct {
		in      string
		want    string
		wantErr bool
	}{
		{`"C4S 0YR"`, "C4S 0YR", false}, // GB
		{`"0150"`, "0150", false},       // NO: the leading zero survives
		{`"T2P 4R4"`, "T2P 4R4", false}, // CA
		{`10021`, "10021", false},       // US: a number becomes its digits
		{`200`, "200", false},           // AU: three digits
		{` 75668 `, "75668", false},
		{`null`, "", false},
		{`12.5`, "12.5", false}, // not seen, but kept literally rather than rounded
		{`{"a":1}`, "", true},
		{`true`, "", true},
		{`[1]`, "", true},
		{`"unterminated`, "", true},
	}
	for _, tt := range tests {
		var p randomuser.Postcode
		err := json.Unmarshal([]byte(tt.in), &p)
		if (err != nil) != tt.wantErr {
			t.Errorf("Unmarshal(%s) error = %v, want error %v", tt.in, err, tt.wantErr)
			continue
		}
		if err == nil && p.String() != tt.want {
			t.Errorf("Unmarshal(%s) = %q, want %q", tt.in, p, tt.want)
		}
	}
}

func TestUserJSONRoundTrip(t *testing.T) {
	var u randomuser.User
	in := `{"gender":"female","location":{"postcode":2345,"country":"Australia"},"id":{"name":"","value":null},"dob":{"date":"1952-12-25T09:25:24.013Z","age":73}}`
	if err := json.Unmarshal([]byte(in), &u); err != nil {
		t.Fatal(err)
	}
	if u.ID.Value != nil || u.ID.String() != "" {
		t.Errorf("null id.value decoded as %v", u.ID.Value)
	}
	if want := time.Date(1952, 12, 25, 9, 25, 24, 13e6, time.UTC); !u.DOB.Date.Equal(want) {
		t.Errorf("dob = %v, want %v", u.DOB.Date, want)
	}
	out, err := json.Marshal(u)
	if err != nil {
		t.Fatal(err)
	}
	// The postcode is re-encoded as a string, credentials are omitted, the
	// null id value stays null.
	for _, want := range []string{`"postcode":"2345"`, `"value":null`, `"date":"1952-12-25T09:25:24.013Z"`} {
		if !bytes.Contains(out, []byte(want)) {
			t.Errorf("Marshal = %s, missing %s", out, want)
		}
	}
	if bytes.Contains(out, []byte("password")) {
		t.Errorf("Marshal = %s, has an empty password field", out)
	}
}

func TestLoginNeverPrintsCredentials(t *testing.T) {
	u := randomuser.User{Login: randomuser.Login{
		UUID: "d0f9cfc2-9463-4742-8090-7295dc7cd41f", Username: "orangebird527",
		Password: "hunter2", Salt: "LsAmCqjI", MD5: "md5hex", SHA1: "sha1hex", SHA256: "sha256hex",
	}}
	var logged bytes.Buffer
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("user", "user", u, "login", u.Login)
	for _, s := range []string{fmt.Sprintf("%v", u), fmt.Sprintf("%+v", u), u.Login.String(), logged.String()} {
		for _, secret := range []string{"hunter2", "LsAmCqjI", "md5hex", "sha1hex", "sha256hex"} {
			if strings.Contains(s, secret) {
				t.Errorf("%q leaks %q", s, secret)
			}
		}
		if !strings.Contains(s, "orangebird527") {
			t.Errorf("%q lacks the username", s)
		}
	}
}

func TestCoordinatesFloat(t *testing.T) {
	lat, lng, err := randomuser.Coordinates{Latitude: "-69.8246", Longitude: "179.9999"}.Float()
	if err != nil || lat != -69.8246 || lng != 179.9999 {
		t.Errorf("Float() = %v, %v, %v", lat, lng, err)
	}
	if _, _, err := (randomuser.Coordinates{Latitude: "north", Longitude: "1"}).Float(); err == nil {
		t.Error("Float() of a non-number: no error")
	}
}
