package randomusertest

import (
	"math/rand/v2"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/userstream/userstream/randomuser"
)

// The JSON writers copy table strings verbatim, so none may need escaping.
func TestDataNeedsNoEscaping(t *testing.T) {
	check := func(where, s string) {
		if !utf8.ValidString(s) || strings.ContainsAny(s, "\"\\") || strings.IndexFunc(s, func(r rune) bool { return r < 0x20 }) >= 0 {
			t.Errorf("%s: %q needs JSON escaping", where, s)
		}
		if s == "" || strings.TrimSpace(s) != s {
			t.Errorf("%s: %q is empty or padded", where, s)
		}
	}
	for _, n := range append(slices.Clone(nats), lego) {
		for _, list := range [][]entry{n.male, n.female, n.last} {
			for _, e := range list {
				check(n.code, e.s)
			}
		}
		for _, list := range [][]string{n.streets, n.cities, n.states} {
			for _, s := range list {
				check(n.code, s)
			}
		}
		if n != lego {
			check(n.code, n.country)
		}
	}
	for _, tz := range timezones {
		check("timezone", tz[0])
		check("timezone", tz[1])
	}
	for _, w := range slices.Concat(adjectives, animals, commonPasswords) {
		check("words", w)
	}
}

func TestNationalitiesMatchClient(t *testing.T) {
	var codes []string
	for _, n := range nats {
		codes = append(codes, n.code)
	}
	if !slices.Equal(codes, randomuser.Nationalities) {
		t.Errorf("server nats %v, client %v", codes, randomuser.Nationalities)
	}
}

func TestEmailParts(t *testing.T) {
	ascii := regexp.MustCompile(`^[a-z0-9]+$`)
	for _, n := range append(slices.Clone(nats), lego) {
		for _, list := range [][]entry{n.male, n.female, n.last} {
			for _, e := range list {
				if !ascii.MatchString(e.email) {
					t.Errorf("%s %q: email part %q", n.code, e.s, e.email)
				}
			}
		}
	}
	// The API's own example of its transliteration.
	if got := transliterate("آیناز") + "." + transliterate("کریمی"); got != "aynz.khrymy" {
		t.Errorf("Persian transliteration = %q, want aynz.khrymy", got)
	}
}

func TestCivilMatchesTime(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 10000 {
		ms := dobMin + r.Int64N(regMax-dobMin)
		got := appendISO(nil, toCivil(ms))
		want := time.UnixMilli(ms).UTC().Format("2006-01-02T15:04:05.000Z")
		if string(got) != want {
			t.Fatalf("toCivil(%d) = %s, want %s", ms, got, want)
		}
	}
	ref := toCivil(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli())
	for _, tt := range []struct {
		date string
		want int
	}{
		{"1952-12-25T09:25:24.013Z", 73},
		{"2000-01-01T00:00:00.000Z", 26},
		{"2000-01-01T00:00:00.001Z", 25},
		{"1999-12-31T23:59:59.999Z", 26},
	} {
		d, _ := time.Parse(time.RFC3339, tt.date)
		if got := age(toCivil(d.UnixMilli()), ref); got != tt.want {
			t.Errorf("age(%s) = %d, want %d", tt.date, got, tt.want)
		}
	}
}

func TestPasswordSpec(t *testing.T) {
	for _, tt := range []struct {
		in       string
		chars    string
		min, max int
	}{
		{"", "", 8, 64},
		{"upper,lower", upperChars + lowerChars, 8, 64},
		{"special,32", specialChars, 32, 32},
		{"number,4-6", numberChars, 4, 6},
		{"UPPER,0-80", upperChars, 8, 64},
		{"upper,10-5", upperChars, 10, 64},
		{"upper,upper", upperChars, 8, 64},
		{"bogus,12", "", 12, 12},
	} {
		p := parsePassword(tt.in)
		if p.chars != tt.chars || p.min != tt.min || p.max != tt.max {
			t.Errorf("parsePassword(%q) = %+v", tt.in, p)
		}
	}
}

// BenchmarkGenerate5000 measures rendering a 5,000-user JSON page without
// HTTP.
func BenchmarkGenerate5000(b *testing.B) { benchmarkGenerate(b) }

// BenchmarkGenerate5000Changes is BenchmarkGenerate5000 on day 30 of a
// change share of 1/3: every user's revision is counted over 30 days, and
// nearly all users are at a revision > 0.
func BenchmarkGenerate5000Changes(b *testing.B) {
	benchmarkGenerate(b, WithChangeShare(1.0/3), WithDay(30))
}

func benchmarkGenerate(b *testing.B, opts ...Opt) {
	h, err := NewHandler(opts...)
	if err != nil {
		b.Fatal(err)
	}
	req, err := h.parse(url.Values{"seed": {"bench"}, "results": {"5000"}})
	if err != nil {
		b.Fatal(err)
	}
	var buf []byte
	b.ReportAllocs()
	for b.Loop() {
		buf = h.render(buf[:0], &req)
	}
	b.SetBytes(int64(len(buf)))
	b.ReportMetric(float64(b.N)*5000/b.Elapsed().Seconds(), "users/s")
}
