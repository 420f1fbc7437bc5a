package randomusertest_test

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/userstream/userstream/randomuser"
	"github.com/userstream/userstream/randomuser/randomusertest"
)

func newHandler(t testing.TB, opts ...randomusertest.Opt) *randomusertest.Handler {
	t.Helper()
	h, err := randomusertest.NewHandler(opts...)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// get serves one request in memory.
func get(t testing.TB, h http.Handler, target string) *httptest.ResponseRecorder {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, target, nil))
	return rec
}

type page struct {
	Results []json.RawMessage `json:"results"`
	Info    *struct {
		Seed    string          `json:"seed"`
		Results int             `json:"results"`
		Page    json.RawMessage `json:"page"`
		Version string          `json:"version"`
	} `json:"info"`
}

func getPage(t testing.TB, h http.Handler, query string) page {
	t.Helper()
	rec := get(t, h, "/api/1.4/?"+query)
	if rec.Code != 200 {
		t.Fatalf("%s: status %d: %s", query, rec.Code, rec.Body)
	}
	var p page
	if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return p
}

func users(t testing.TB, p page) []randomuser.User {
	t.Helper()
	out := make([]randomuser.User, len(p.Results))
	for i, raw := range p.Results {
		if err := json.Unmarshal(raw, &out[i]); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

func TestDeterminism(t *testing.T) {
	h := newHandler(t)
	a := get(t, h, "/api/1.4/?seed=det&results=500&page=3").Body.String()
	b := get(t, newHandler(t), "/api/?results=500&page=3&seed=det").Body.String()
	if a != b {
		t.Error("the same seed and page gave different bodies")
	}
	if c := get(t, h, "/api/1.4/?seed=det&results=500&page=4").Body.String(); c == a {
		t.Error("different pages gave the same body")
	}
	// A smaller page is a prefix of a larger one, and pages generated on
	// several cores (5000) match those generated on one (999).
	seq := getPage(t, h, "seed=det&results=999")
	par := getPage(t, h, "seed=det&results=5000")
	for i := range seq.Results {
		if !bytes.Equal(seq.Results[i], par.Results[i]) {
			t.Fatalf("user %d differs between sequential and parallel generation", i)
		}
	}
	// A smaller page is a prefix of a larger one.
	small := getPage(t, h, "seed=det&results=10&page=3")
	large := getPage(t, h, "seed=det&results=500&page=3")
	for i := range small.Results {
		if !bytes.Equal(small.Results[i], large.Results[i]) {
			t.Fatalf("user %d differs between results=10 and results=500", i)
		}
	}
}

func TestUUIDsUniqueAcrossPages(t *testing.T) {
	h := newHandler(t)
	v4 := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	uuidRE := regexp.MustCompile(`"uuid":"([^"]+)"`)
	seen := map[string]bool{}
	for pg := 1; pg <= 10; pg++ {
		body := get(t, h, fmt.Sprintf("/api/1.4/?seed=uniq&results=1000&page=%d&inc=login", pg)).Body.String()
		for _, m := range uuidRE.FindAllStringSubmatch(body, -1) {
			if !v4.MatchString(m[1]) {
				t.Fatalf("%q is not a version 4 UUID", m[1])
			}
			if seen[m[1]] {
				t.Fatalf("uuid %s repeated", m[1])
			}
			seen[m[1]] = true
		}
	}
	if len(seen) != 10000 {
		t.Errorf("%d uuids, want 10000", len(seen))
	}
}

// natFormats are the formats of the fact sheet, per nationality.
var natFormats = map[string]struct {
	country, postcode, phone, cell, idName, idValue string
	numericPostcode                                 bool
}{
	"AU": {"Australia", `^\d{3,4}$`, `^0\d-\d{4}-\d{4}$`, `^04\d\d-\d{3}-\d{3}$`, "TFN", `^\d{9}$`, true},
	"BR": {"Brazil", `^\d{5}$`, `^\(\d\d\) \d{4}-\d{4}$`, `^\(\d\d\) \d{4}-\d{4}$`, "CPF", `^\d{3}\.\d{3}\.\d{3}-\d\d$`, true},
	"CA": {"Canada", `^[A-Z]\d[A-Z] \d[A-Z]\d$`, `^[A-Z]\d\d [A-Z]\d\d-\d{4}$`, `^[A-Z]\d\d [A-Z]\d\d-\d{4}$`, "SIN", `^\d{9}$`, false},
	"CH": {"Switzerland", `^\d{4}$`, `^07[5-9] \d{3} \d\d \d\d$`, `^07[5-9] \d{3} \d\d \d\d$`, "AVS", `^756\.\d{4}\.\d{4}\.\d\d$`, true},
	"DE": {"Germany", `^\d{5}$`, `^0\d{3}-\d{7}$`, `^017\d-\d{7}$`, "SVNR", `^\d\d \d{6,7} [A-Z] \d{3}$`, true},
	"DK": {"Denmark", `^\d{5}$`, `^\d{8}$`, `^\d{8}$`, "CPR", `^\d{6,7}-\d{4}$`, true},
	"ES": {"Spain", `^\d{5}$`, `^9\d\d-\d{3}-\d{3}$`, `^6\d\d-\d{3}-\d{3}$`, "DNI", `^\d{8}-[A-Z]$`, true},
	"FI": {"Finland", `^\d{5}$`, `^0[2-9]-\d{3}-\d{3}$`, `^04\d-\d{3}-\d\d-\d\d$`, "HETU", `^NaNNA\d{3}undefined$`, true},
	"FR": {"France", `^\d{5}$`, `^0[1-5]-\d\d-\d\d-\d\d-\d\d$`, `^06-\d\d-\d\d-\d\d-\d\d$`, "INSEE", `^[12]\d{12} \d\d$`, true},
	"GB": {"United Kingdom", `^[A-Z]{1,2}\d[A-Z\d]? \d[ABDEFGHJLNPQRSTUWXYZ]{2}$`, `^0\d{2,5} \d{3,6}( \d{4})?$`, `^07\d{3} \d{6}$`, "NINO", `^[A-Z]{2} \d\d \d\d \d\d [A-D]$`, false},
	"IE": {"Ireland", `^\d{5}$`, `^0[1-7]1-\d{3}-\d{4}$`, `^081-\d{3}-\d{4}$`, "PPS", `^\d{7}T$`, true},
	"IN": {"India", `^\d{5}$`, `^[789]\d{9}$`, `^[789]\d{9}$`, "UIDAI", `^\d{12}$`, true},
	"IR": {"Iran", `^\d{5}$`, `^0\d\d-\d{8}$`, `^09\d\d-\d{3}-\d{4}$`, "", ``, true},
	"MX": {"Mexico", `^\d{5}$`, `^\(6\d\d\) \d{3} \d{4}$`, `^\(6\d\d\) \d{3} \d{4}$`, "NSS", `^\d\d \d\d \d\d \d{4} \d$`, true},
	"NL": {"Netherlands", `^\d{5}$`, `^\(\d{3}\)-\d{3}-\d{4}$`, `^\(\d{3}\)-\d{3}-\d{4}$`, "BSN", `^\d{8}$`, true},
	"NO": {"Norway", `^\d{4}$`, `^[235678]\d{7}$`, `^[49]\d{7}$`, "FN", `^\d{11}$`, false},
	"NZ": {"New Zealand", `^\d{5}$`, `^\(\d{3}\)-\d{3}-\d{4}$`, `^\(\d{3}\)-\d{3}-\d{4}$`, "", ``, true},
	"RS": {"Serbia", `^\d{5}$`, `^0[1-3]\d-\d{4}-\d{3}$`, `^06\d-\d{4}-\d{3}$`, "SID", `^\d{9}$`, true},
	"TR": {"Turkey", `^\d{5}$`, `^\(\d{3}\)-\d{3}-\d{4}$`, `^\(\d{3}\)-\d{3}-\d{4}$`, "", ``, true},
	"UA": {"Ukraine", `^\d{5}$`, `^\(0(66|67|68|96|97|98|99)\) [A-Z]\d\d-\d{4}$`, `^\(0(66|67|68|96|97|98|99)\) [A-Z]\d\d-\d{4}$`, "", ``, true},
	"US": {"United States", `^\d{5}$`, `^\([2-9]\d\d\) [2-9]\d\d-\d{4}$`, `^\([2-9]\d\d\) [2-9]\d\d-\d{4}$`, "SSN", `^\d{3}-\d\d-\d{4}$`, true},
}

func TestNationalityFormats(t *testing.T) {
	h := newHandler(t)
	email := regexp.MustCompile(`^[a-z0-9]+\.[a-z0-9]+@example\.com$`)
	coord := regexp.MustCompile(`^-?\d{1,3}\.\d{4}$`)
	picture := regexp.MustCompile(`^https://randomuser\.me/api/portraits/(med/|thumb/)?(men|women)/\d{1,2}\.jpg$`)
	username := regexp.MustCompile(`^[a-z]+[1-9]\d\d$`)
	if len(natFormats) != len(randomuser.Nationalities) {
		t.Fatalf("formats for %d nats, want %d", len(natFormats), len(randomuser.Nationalities))
	}
	for _, code := range randomuser.Nationalities {
		t.Run(code, func(t *testing.T) {
			f := natFormats[code]
			p := getPage(t, h, "seed=formats&results=300&nat="+strings.ToLower(code))
			firsts := map[string]bool{}
			failures := 0
			for i, u := range users(t, p) {
				raw := p.Results[i]
				fail := func(what string, v any) {
					if failures++; failures <= 3 {
						t.Errorf("user %d %s: %v\n%s", i, what, v, raw)
					}
				}
				if u.Nat != code || u.Location.Country != f.country {
					fail("nat/country", u.Nat+"/"+u.Location.Country)
				}
				isNum := bytes.Contains(raw, []byte(`"postcode":`+string(u.Location.Postcode)+`,`))
				if !regexp.MustCompile(f.postcode).MatchString(u.Location.Postcode.String()) || isNum != f.numericPostcode {
					fail("postcode", u.Location.Postcode)
				}
				if !regexp.MustCompile(f.phone).MatchString(u.Phone) {
					fail("phone", u.Phone)
				}
				if !regexp.MustCompile(f.cell).MatchString(u.Cell) {
					fail("cell", u.Cell)
				}
				if u.ID.Name != f.idName || (f.idValue == "") != (u.ID.Value == nil) ||
					u.ID.Value != nil && !regexp.MustCompile(f.idValue).MatchString(*u.ID.Value) {
					fail("id", fmt.Sprintf("%s %q", u.ID.Name, u.ID.String()))
				}
				if err := checkID(u); err != nil {
					fail("id check", err)
				}
				titles := map[string][]string{"male": {"Mr"}, "female": {"Miss", "Mrs", "Ms"}}
				if code == "CH" {
					titles = map[string][]string{"male": {"Monsieur"}, "female": {"Mademoiselle", "Madame"}}
				}
				if !slices.Contains(titles[u.Gender], u.Name.Title) {
					fail("title", u.Gender+" "+u.Name.Title)
				}
				if !email.MatchString(u.Email) || !username.MatchString(u.Login.Username) {
					fail("email/username", u.Email+" "+u.Login.Username)
				}
				if !coord.MatchString(u.Location.Coordinates.Latitude) || !coord.MatchString(u.Location.Coordinates.Longitude) {
					fail("coordinates", u.Location.Coordinates)
				}
				if lat, lng, err := u.Location.Coordinates.Float(); err != nil || lat < -90 || lat > 90 || lng < -180 || lng > 180 {
					fail("coordinates range", u.Location.Coordinates)
				}
				if n := u.Location.Street.Number; n < 1 || n > 9999 || u.Location.Street.Name == "" || u.Location.City == "" || u.Location.State == "" {
					fail("street", u.Location)
				}
				for _, pic := range []string{u.Picture.Large, u.Picture.Medium, u.Picture.Thumbnail} {
					if !picture.MatchString(pic) || !strings.Contains(pic, map[string]string{"male": "/men/", "female": "/women/"}[u.Gender]) {
						fail("picture", pic)
					}
				}
				if u.DOB.Date.Before(time.Date(1944, 8, 25, 0, 0, 0, 0, time.UTC)) || !u.DOB.Date.Before(u.Registered.Date) ||
					u.Registered.Date.After(time.Date(2022, 5, 24, 0, 0, 0, 0, time.UTC)) {
					fail("dates", []time.Time{u.DOB.Date, u.Registered.Date})
				}
				if want := 2025 - u.DOB.Date.Year(); u.DOB.Age != want && u.DOB.Age != want+1 {
					fail("age", u.DOB.Age)
				}
				firsts[u.Name.First] = true
			}
			if len(firsts) < 10 {
				t.Errorf("only %d distinct first names in 300 users", len(firsts))
			}
		})
	}
}

// checkID verifies the check digits and embedded data of the ids that
// have them.
func checkID(u randomuser.User) error {
	v := u.ID.String()
	dob := u.DOB.Date
	switch u.Nat {
	case "CA": // Luhn
		sum := 0
		for i := len(v) - 1; i >= 0; i-- {
			d := int(v[i] - '0')
			if (len(v)-1-i)%2 == 1 {
				if d *= 2; d > 9 {
					d -= 9
				}
			}
			sum += d
		}
		if sum%10 != 0 {
			return errors.New("Luhn check fails")
		}
	case "NO": // DDMMYY, individual number odd for men, two mod-11 digits
		if v[:6] != dob.Format("020106") {
			return errors.New("birth date mismatch")
		}
		if odd := (v[8]-'0')%2 == 1; odd != (u.Gender == "male") {
			return errors.New("individual number parity")
		}
		digit := func(w []int) int {
			s := 0
			for i, x := range w {
				s += x * int(v[i]-'0')
			}
			return (11 - s%11) % 11
		}
		if digit([]int{3, 7, 6, 1, 8, 9, 4, 5, 2}) != int(v[9]-'0') || digit([]int{5, 4, 3, 2, 7, 6, 5, 4, 3, 2}) != int(v[10]-'0') {
			return errors.New("check digits")
		}
	case "FR": // sex, year, 0-based month, key = 97 - n mod 97
		num, key, _ := strings.Cut(v, " ")
		n, _ := strconv.ParseUint(num, 10, 64)
		k, _ := strconv.Atoi(key)
		if uint64(k) != 97-n%97 || num[1:3] != dob.Format("06") || num[3:5] != fmt.Sprintf("%02d", dob.Month()-1) ||
			(num[0] == '1') != (u.Gender == "male") {
			return errors.New("INSEE fields")
		}
	case "US":
		area, _ := strconv.Atoi(v[:3])
		if area == 0 || area == 666 || area >= 900 || v[4:6] == "00" || v[7:] == "0000" {
			return errors.New("invalid SSN")
		}
	case "DE": // PP DDMMYY I NNd
		parts := strings.Split(v, " ")
		yy := fmt.Sprintf("%02d", dob.Year()-1900)
		nn, _ := strconv.Atoi(parts[3][:2])
		if parts[1] != dob.Format("0201")+yy || parts[2][0] != strings.ToUpper(u.Email[strings.IndexByte(u.Email, '.')+1:])[0] ||
			(nn < 50) != (u.Gender == "male") {
			return errors.New("SVNR fields")
		}
	case "DK":
		if v[:4] != dob.Format("0201") {
			return errors.New("CPR birth date")
		}
	}
	return nil
}

func TestParameters(t *testing.T) {
	h := newHandler(t)
	count := func(q string) int { return len(getPage(t, h, q).Results) }
	natsOf := func(q string) map[string]int {
		m := map[string]int{}
		for _, u := range users(t, getPage(t, h, q)) {
			m[u.Nat]++
		}
		return m
	}
	gendersOf := func(q string) map[string]int {
		m := map[string]int{}
		for _, u := range users(t, getPage(t, h, q)) {
			m[u.Gender]++
		}
		return m
	}
	t.Run("results", func(t *testing.T) {
		for q, want := range map[string]int{"results=5000": 5000, "results=6000": 1, "results=0": 1, "results=abc": 1, "results=-4": 1, "": 1, "results=5&results=2": 2} {
			if got := count(q); got != want {
				t.Errorf("%s: %d users, want %d", q, got, want)
			}
		}
	})
	t.Run("nat", func(t *testing.T) {
		if m := natsOf("seed=n&results=200&nat=GB,no"); len(m) != 2 || m["GB"] == 0 || m["NO"] == 0 {
			t.Errorf("nat=GB,no: %v", m)
		}
		if m := natsOf("seed=n&results=200&nationality=fr"); len(m) != 1 || m["FR"] != 200 {
			t.Errorf("nationality=fr: %v", m)
		}
		if m := natsOf("seed=n&results=200&nat=gb,xx"); len(m) < 15 {
			t.Errorf("an invalid nat should mean all nats: %v", m)
		}
	})
	t.Run("gender", func(t *testing.T) {
		if m := gendersOf("results=100&gender=female"); m["male"] != 0 {
			t.Errorf("gender=female: %v", m)
		}
		if m := gendersOf("results=100&gender=female&seed=g"); m["male"] == 0 {
			t.Errorf("gender must be ignored with a seed: %v", m)
		}
		if m := gendersOf("results=100&gender=Female"); m["male"] == 0 || m["female"] == 0 {
			t.Errorf("gender=Female is not exact and means both: %v", m)
		}
	})
	t.Run("page", func(t *testing.T) {
		for q, want := range map[string]string{"page=2": "2", "page=1.5": "1.5", "page=-3": "1", "page=20000": "1", "page=x": "1", "page=0": "1"} {
			if got := string(getPage(t, h, "seed=p&"+q).Info.Page); got != want {
				t.Errorf("%s: info.page %s, want %s", q, got, want)
			}
		}
		if bytes.Equal(getPage(t, h, "seed=p&page=1.5").Results[0], getPage(t, h, "seed=p&page=1").Results[0]) {
			t.Error("page 1.5 equals page 1")
		}
	})
	t.Run("seed", func(t *testing.T) {
		p := getPage(t, h, "results=50&seed=abcdefghijklmnop09")
		if p.Info.Seed != "abcdefghijklmnop0909" {
			t.Errorf("info.seed %q", p.Info.Seed)
		}
		for _, u := range users(t, p) {
			if u.Nat != "GB" {
				t.Fatalf("18-char seed ending in 09 gave nat %s", u.Nat)
			}
		}
		if rec := get(t, h, "/api/?seed=abcdefghijklmnopzz"); rec.Code != 500 {
			t.Errorf("invalid 18-char seed: status %d", rec.Code)
		}
		if s := getPage(t, h, "").Info.Seed; !regexp.MustCompile(`^[0-9a-f]{16}$`).MatchString(s) {
			t.Errorf("random seed %q", s)
		}
		if !bytes.Equal(getPage(t, h, "seed=%22quoted%5C").Results[0], getPage(t, h, "seed=%22quoted%5C").Results[0]) ||
			getPage(t, h, "seed=%22quoted%5C").Info.Seed != `"quoted\` {
			t.Error("a seed with JSON special characters is not echoed intact")
		}
	})
	t.Run("lego", func(t *testing.T) {
		p := getPage(t, h, "seed=l&lego&results=20")
		if p.Info.Seed != "l-1" {
			t.Errorf("info.seed %q", p.Info.Seed)
		}
		for i, u := range users(t, p) {
			if u.Nat != "LEGO" || bytes.Contains(p.Results[i], []byte(`"country"`)) || u.ID.Name != "SN" {
				t.Fatalf("lego user %s", p.Results[i])
			}
		}
		if m := natsOf("seed=l&lego=false&results=50"); m["LEGO"] != 0 {
			t.Errorf("lego=false: %v", m)
		}
	})
	t.Run("inc exc", func(t *testing.T) {
		keys := func(raw json.RawMessage) []string {
			var m map[string]json.RawMessage
			if err := json.Unmarshal(raw, &m); err != nil {
				t.Fatal(err)
			}
			var ks []string
			for k := range m {
				ks = append(ks, k)
			}
			slices.Sort(ks)
			return ks
		}
		for q, want := range map[string][]string{
			"inc=name,NAT":          {"name", "nat"},
			"inc=name,bogus&exc=id": {"name"},
			"exc=login,id,location,picture,dob,registered,phone,cell,email": {"gender", "name", "nat"},
			"inc=bogus": nil,
		} {
			if got := keys(getPage(t, h, "seed=i&"+q).Results[0]); !slices.Equal(got, want) {
				t.Errorf("%s: keys %v, want %v", q, got, want)
			}
		}
	})
	t.Run("noinfo", func(t *testing.T) {
		if p := getPage(t, h, "noinfo"); p.Info != nil || len(p.Results) != 1 {
			t.Errorf("noinfo: %+v", p)
		}
	})
	t.Run("password", func(t *testing.T) {
		for q, re := range map[string]string{
			"password=upper,number,6":  `^[A-Z0-9]{6}$`,
			"password=special,32":      `^[ -/:-@\[-` + "`" + `{-~]{32}$`,
			"password=lower,70":        `^[a-z]{8,64}$`,
			"password=lower,upper,3-5": `^[a-zA-Z]{3,5}$`,
		} {
			var p struct {
				Results []struct {
					Login struct{ Password string } `json:"login"`
				} `json:"results"`
			}
			if err := json.Unmarshal(get(t, h, "/api/?results=200&"+q).Body.Bytes(), &p); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
			for _, r := range p.Results {
				if !regexp.MustCompile(re).MatchString(r.Login.Password) {
					t.Errorf("%s: password %q", q, r.Login.Password)
				}
			}
		}
	})
	t.Run("formats", func(t *testing.T) {
		compact := get(t, h, "/api/?seed=f&results=3")
		pretty := get(t, h, "/api/?seed=f&results=3&fmt=PRETTY")
		var a, b bytes.Buffer
		_ = json.Compact(&a, compact.Body.Bytes())
		_ = json.Compact(&b, pretty.Body.Bytes())
		if a.String() != b.String() || !strings.Contains(pretty.Body.String(), "\n  \"results\": [") {
			t.Error("pretty output differs from compact or is not indented by 2")
		}
		cb := get(t, h, "/api/?seed=f&results=3&callback=cb")
		if body := cb.Body.String(); body != "cb("+compact.Body.String()+");" || !strings.HasPrefix(cb.Header().Get("Content-Type"), "application/json") {
			t.Errorf("JSONP body %.40q", body)
		}
		dl := get(t, h, "/api/?seed=f&format=csv&dl")
		if dl.Header().Get("Content-Type") != "application/octet-stream" || dl.Header().Get("Content-Disposition") != "attachment; filename=download.csv" {
			t.Errorf("dl headers %v", dl.Header())
		}
		for _, f := range []string{"yaml", "xml"} {
			if rec := get(t, h, "/api/?format="+f); rec.Code != http.StatusNotImplemented {
				t.Errorf("format %s: %d", f, rec.Code)
			}
		}
		if rec := get(t, h, "/api/?format=toml"); rec.Code != 200 || !json.Valid(rec.Body.Bytes()) {
			t.Errorf("an unknown format should be JSON")
		}
	})
	t.Run("csv", func(t *testing.T) {
		rec := get(t, h, "/api/?seed=c&results=50&format=csv")
		if ct := rec.Header().Get("Content-Type"); ct != "text/csv; charset=utf-8" {
			t.Errorf("Content-Type %q", ct)
		}
		if strings.HasSuffix(rec.Body.String(), "\n") {
			t.Error("CSV ends with a newline; the API's does not")
		}
		rows, err := csv.NewReader(rec.Body).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		const header = "gender,name.title,name.first,name.last,location.street.number,location.street.name,location.city,location.state,location.country,location.postcode,location.coordinates.latitude,location.coordinates.longitude,location.timezone.offset,location.timezone.description,email,login.uuid,login.username,login.password,login.salt,login.md5,login.sha1,login.sha256,dob.date,dob.age,registered.date,registered.age,phone,cell,id.name,id.value,picture.large,picture.medium,picture.thumbnail,nat"
		if len(rows) != 51 || strings.Join(rows[0], ",") != header {
			t.Fatalf("%d rows, header %v", len(rows), rows[0])
		}
		// The CSV holds the same users as the JSON.
		js := users(t, getPage(t, h, "seed=c&results=50"))
		for i, u := range js {
			r := rows[i+1]
			if r[2] != u.Name.First || r[9] != u.Location.Postcode.String() || r[15] != u.Login.UUID || r[13] != u.Location.Timezone.Description {
				t.Fatalf("row %d %v differs from %+v", i, r, u)
			}
			if u.ID.Value == nil && r[29] != "null" {
				t.Errorf("null id.value written as %q", r[29])
			}
		}
		inc, err := csv.NewReader(get(t, h, "/api/?results=2&format=csv&inc=email,nat").Body).ReadAll()
		if err != nil || strings.Join(inc[0], ",") != "email,nat" || len(inc[1]) != 2 {
			t.Errorf("inc with csv: %v %v", inc, err)
		}
	})
	t.Run("paths", func(t *testing.T) {
		for path, want := range map[string]int{"/api": 200, "/api/": 200, "/api/1.4": 200, "/api/1.4/": 200, "/api/1.3/": 404, "/api/9.9/": 404, "/": 404} {
			if rec := get(t, h, path); rec.Code != want {
				t.Errorf("%s: %d, want %d", path, rec.Code, want)
			}
		}
		if rec := get(t, h, "/api/2.0/"); rec.Body.String() != "Not Found" {
			t.Errorf("unknown version body %q", rec.Body)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/api/", nil))
		if rec.Code != http.StatusMethodNotAllowed {
			t.Errorf("POST: %d", rec.Code)
		}
		rec = get(t, h, "/api/")
		if rec.Header().Get("Access-Control-Allow-Origin") != "*" || rec.Header().Get("Cache-Control") != "no-cache" ||
			rec.Header().Get("Content-Type") != "application/json; charset=utf-8" {
			t.Errorf("headers %v", rec.Header())
		}
	})
}

func TestInjectedFaults(t *testing.T) {
	h := newHandler(t)
	h.Inject(
		randomusertest.Status(500),
		randomusertest.Status(502),
		randomusertest.ErrorBody(200),
		randomusertest.TooManyRequests(1500*time.Millisecond),
		randomusertest.Unavailable(0),
		randomusertest.EmptyResults(),
		randomusertest.Malformed(),
		randomusertest.Fault{},
		randomusertest.Status(42), // invalid: answered 500
	)
	tests := []struct {
		code        int
		contentType string
		body        string
		retryAfter  string
	}{
		{500, "text/plain; charset=utf-8", "Internal Server Error", ""},
		{502, "text/html", "<title>502 Bad Gateway</title>", ""},
		{200, "application/json; charset=utf-8", `{"error":"Uh oh, something has gone wrong. Please tweet us @randomapi about the issue. Thank you."}`, ""},
		{429, "application/json; charset=utf-8", `{"error":"Whoa, ease up there cowboy.`, "2"},
		{503, "text/html", "<h1>503 Service Unavailable</h1>", ""},
		{200, "application/json; charset=utf-8", `{"results":[],"info":{"seed":"d3adb33f","results":1,"page":1,"version":"1.4"}}`, ""},
		{200, "text/html; charset=utf-8", "<!DOCTYPE html>", ""},
		{200, "application/json; charset=utf-8", `{"results":[{"gender"`, ""},
		{500, "text/plain; charset=utf-8", "invalid status", ""},
		{200, "application/json; charset=utf-8", `{"results":[{"gender"`, ""}, // the queue is empty
	}
	for i, tt := range tests {
		rec := get(t, h, "/api/?seed=f")
		if rec.Code != tt.code || rec.Header().Get("Content-Type") != tt.contentType ||
			!strings.Contains(rec.Body.String(), tt.body) || rec.Header().Get("Retry-After") != tt.retryAfter {
			t.Errorf("request %d: %d %q Retry-After %q body %.80q", i, rec.Code, rec.Header().Get("Content-Type"), rec.Header().Get("Retry-After"), rec.Body)
		}
	}
	if st := h.Stats(); st.Requests != 10 || st.Faults != 8 || st.Users != 2 {
		t.Errorf("stats %+v", st)
	}
}

func TestTruncateAndDelayOverHTTP(t *testing.T) {
	srv, err := randomusertest.NewServer(randomusertest.WithLatency(20 * time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	srv.Inject(randomusertest.Truncate(0.25), randomusertest.Delay(200*time.Millisecond))

	resp, err := http.Get(srv.BaseURL() + "?seed=t&results=100")
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !errors.Is(err, io.ErrUnexpectedEOF) || int64(len(body)) != resp.ContentLength/4 {
		t.Errorf("truncated body: read %d of %d bytes, err %v", len(body), resp.ContentLength, err)
	}

	start := time.Now()
	resp, err = http.Get(srv.BaseURL() + "?seed=t")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if d := time.Since(start); d < 220*time.Millisecond {
		t.Errorf("delay + latency took %v, want at least 220ms", d)
	}
}

func TestFaultRate(t *testing.T) {
	run := func() []int {
		h := newHandler(t, randomusertest.WithFaultRate(0.3, randomusertest.Status(500)),
			randomusertest.WithFaultRate(0.2, randomusertest.Status(503)), randomusertest.WithFaultSeed(7))
		codes := make([]int, 400)
		for i := range codes {
			codes[i] = get(t, h, "/api/?inc=nat").Code
		}
		return codes
	}
	a, b := run(), run()
	if !slices.Equal(a, b) {
		t.Error("the same fault seed gave different faults")
	}
	n := map[int]int{}
	for _, c := range a {
		n[c]++
	}
	if n[500] < 80 || n[500] > 160 || n[503] < 45 || n[503] > 115 || n[200] < 150 {
		t.Errorf("status counts %v for rates 30%% and 20%% of 400", n)
	}
}

func TestRateLimitEmulation(t *testing.T) {
	h := newHandler(t, randomusertest.WithRateLimit(100, 300*time.Millisecond))
	req := func(ip string, results int) *httptest.ResponseRecorder {
		r := httptest.NewRequest(http.MethodGet, fmt.Sprintf("/api/?inc=nat&results=%d", results), nil)
		r.Header.Set("X-Forwarded-For", ip)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		return rec
	}
	// The count is checked before adding, so one request may overshoot.
	if req("10.0.0.1", 60).Code != 200 || req("10.0.0.1", 60).Code != 200 {
		t.Fatal("requests under the limit refused")
	}
	rec := req("10.0.0.1", 1)
	if rec.Code != 429 || rec.Header().Get("Retry-After") != "1" || !strings.Contains(rec.Body.String(), "You've requested 120 users") {
		t.Errorf("over the limit: %d Retry-After %q %s", rec.Code, rec.Header().Get("Retry-After"), rec.Body)
	}
	if req("10.0.0.2", 1).Code != 200 {
		t.Error("another IP is limited too")
	}
	time.Sleep(350 * time.Millisecond)
	if req("10.0.0.1", 1).Code != 200 {
		t.Error("the window did not reset")
	}
	if st := h.Stats(); st.RateLimited != 1 {
		t.Errorf("stats %+v", st)
	}
}

func TestGzip(t *testing.T) {
	srv, err := randomusertest.NewServer(randomusertest.WithGzip())
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	resp, err := http.Get(srv.BaseURL() + "?results=100")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var p page
	if err := json.NewDecoder(resp.Body).Decode(&p); err != nil || !resp.Uncompressed || len(p.Results) != 100 {
		t.Errorf("gzip: uncompressed=%v, %d users, %v", resp.Uncompressed, len(p.Results), err)
	}
}

func TestNewHandlerValidates(t *testing.T) {
	for _, opts := range [][]randomusertest.Opt{
		{randomusertest.WithLatency(-time.Second)},
		{randomusertest.WithFaultRate(1.5, randomusertest.Status(500))},
		{randomusertest.WithFaultRate(0.6, randomusertest.Status(500)), randomusertest.WithFaultRate(0.6, randomusertest.EmptyResults())},
		{randomusertest.WithFaultRate(0.1, randomusertest.Truncate(1))},
		{randomusertest.WithFaultRate(0.1, randomusertest.Status(1000))},
		{randomusertest.WithRateLimit(10, 0)},
	} {
		if _, err := randomusertest.NewHandler(opts...); err == nil {
			t.Errorf("NewHandler accepted invalid options")
		}
		if _, err := randomusertest.NewServer(opts...); err == nil {
			t.Errorf("NewServer accepted invalid options")
		}
	}
}
