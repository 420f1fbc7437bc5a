package randomuser_test

import (
	"errors"
	"net/url"
	"testing"

	"github.com/userstream/userstream/randomuser"
)

func TestQueryValidate(t *testing.T) {
	valid := []randomuser.Query{
		{},
		{Results: 1}, {Results: 5000}, {Page: 10000},
		{Gender: randomuser.Female},
		{Nat: []string{"gb", "US", "Ir"}},
		{Seed: "abc", Page: 3},
		{Seed: "0123456789abcdef09"}, // 18 chars ending in GB's index
		{Seed: "0123456789abcdef14"}, // US, the last one
		{Include: []randomuser.Field{randomuser.FieldName, "NAT"}, Exclude: []randomuser.Field{randomuser.FieldLogin}},
		{Password: randomuser.PasswordSpec{Charsets: []randomuser.Charset{randomuser.Upper, randomuser.Number}, Min: 8, Max: 16}},
		{Password: randomuser.PasswordSpec{Charsets: []randomuser.Charset{randomuser.Special}}},
		{Format: randomuser.FormatCSV}, {Format: "PrettyJSON"},
		{Lego: true},
	}
	for _, q := range valid {
		if err := q.Validate(); err != nil {
			t.Errorf("Validate(%+v) = %v, want nil", q, err)
		}
	}
	invalid := []randomuser.Query{
		{Results: -1}, {Results: 5001}, // the API would send 1 user
		{Page: -1}, {Page: 10001},
		{Gender: "Male"}, {Gender: "other"},
		{Gender: randomuser.Male, Seed: "x"}, // the API ignores gender with a seed
		{Nat: []string{"GB", "XX"}},          // the API would use all nats
		{Nat: []string{"LEGO"}},
		{Lego: true, Nat: []string{"US"}},
		{Seed: "0123456789abcdef15"}, // index 0x15 = 21: the API hangs
		{Seed: "0123456789abcdefzz"},
		{Include: []randomuser.Field{"email", "birthday"}},
		{Exclude: []randomuser.Field{"passwords"}},
		{Password: randomuser.PasswordSpec{Min: 8, Max: 8}},
		{Password: randomuser.PasswordSpec{Charsets: []randomuser.Charset{"emoji"}}},
		{Password: randomuser.PasswordSpec{Charsets: []randomuser.Charset{randomuser.Lower}, Min: 0, Max: 10}},
		{Password: randomuser.PasswordSpec{Charsets: []randomuser.Charset{randomuser.Lower}, Min: 10, Max: 65}},
		{Password: randomuser.PasswordSpec{Charsets: []randomuser.Charset{randomuser.Lower}, Min: 12, Max: 10}},
		{Format: "toml"},
	}
	for _, q := range invalid {
		err := q.Validate()
		if !errors.Is(err, randomuser.ErrInvalidQuery) {
			t.Errorf("Validate(%+v) = %v, want ErrInvalidQuery", q, err)
		}
	}
}

func TestQueryValues(t *testing.T) {
	q := randomuser.Query{
		Results: 50, Nat: []string{"GB", "us"}, Seed: "s", Page: 2,
		Include:  []randomuser.Field{randomuser.FieldName, randomuser.FieldLogin},
		Exclude:  []randomuser.Field{randomuser.FieldID},
		Password: randomuser.PasswordSpec{Charsets: []randomuser.Charset{randomuser.Upper, randomuser.Lower}, Min: 8, Max: 16},
		Format:   randomuser.FormatCSV, NoInfo: true, Lego: false, Download: true,
	}
	want := url.Values{
		"results": {"50"}, "nat": {"gb,us"}, "seed": {"s"}, "page": {"2"},
		"inc": {"name,login"}, "exc": {"id"}, "password": {"upper,lower,8-16"},
		"format": {"csv"}, "noinfo": {""}, "dl": {""},
	}
	if got := q.Values(); got.Encode() != want.Encode() {
		t.Errorf("Values() = %s\nwant       %s", got.Encode(), want.Encode())
	}
	if got := (randomuser.Query{}).Values(); len(got) != 0 {
		t.Errorf("zero Query has parameters %v", got)
	}
	exact := randomuser.PasswordSpec{Charsets: []randomuser.Charset{randomuser.Special}, Min: 32, Max: 32}
	if got := exact.String(); got != "special,32" {
		t.Errorf("exact length spec = %q, want special,32", got)
	}
}

func TestNewSeed(t *testing.T) {
	a, b := randomuser.NewSeed(), randomuser.NewSeed()
	if len(a) != 16 || a == b {
		t.Errorf("NewSeed() = %q, %q", a, b)
	}
	if err := (randomuser.Query{Seed: a}).Validate(); err != nil {
		t.Error(err)
	}
}
