package transform_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/userstream/userstream/randomuser"
	"github.com/userstream/userstream/transform"
)

// userFromJSON decodes one API user, as the randomuser client does.
func userFromJSON(t *testing.T, s string) randomuser.User {
	t.Helper()
	var u randomuser.User
	if err := json.Unmarshal([]byte(s), &u); err != nil {
		t.Fatalf("decode user: %v", err)
	}
	return u
}

func TestFromUser(t *testing.T) {
	tests := []struct {
		name string
		user func(t *testing.T) randomuser.User
		want func(r *transform.Row) // changes to validRow()
	}{
		{
			name: "fact sheet user",
			user: func(*testing.T) randomuser.User { return apiUser() },
			want: func(*transform.Row) {},
		},
		{
			name: "numeric postcode from JSON",
			user: func(t *testing.T) randomuser.User {
				u := apiUser()
				u.Location.Postcode = userFromJSON(t, `{"location":{"postcode":70963}}`).Location.Postcode
				return u
			},
			want: func(r *transform.Row) { r.PostCode = "70963" },
		},
		{
			name: "string postcode with leading zero from JSON",
			user: func(t *testing.T) randomuser.User {
				u := apiUser()
				u.Location.Postcode = userFromJSON(t, `{"location":{"postcode":"0150"}}`).Location.Postcode
				return u
			},
			want: func(r *transform.Row) { r.PostCode = "0150" },
		},
		{
			name: "missing country (LEGO)",
			user: func(*testing.T) randomuser.User {
				u := apiUser()
				u.Location.Country = ""
				return u
			},
			want: func(r *transform.Row) { r.Address = "5968 Springfield Road, Worcester, South Yorkshire" },
		},
		{
			name: "missing street",
			user: func(*testing.T) randomuser.User {
				u := apiUser()
				u.Location.Street = randomuser.Street{}
				return u
			},
			want: func(r *transform.Row) { r.Address = "Worcester, South Yorkshire, United Kingdom" },
		},
		{
			name: "street number without name, blank state",
			user: func(*testing.T) randomuser.User {
				u := apiUser()
				u.Location.Street.Name = ""
				u.Location.State = "  "
				return u
			},
			want: func(r *transform.Row) { r.Address = "5968, Worcester, United Kingdom" },
		},
		{
			name: "no location at all",
			user: func(*testing.T) randomuser.User {
				u := apiUser()
				u.Location = randomuser.Location{}
				return u
			},
			want: func(r *transform.Row) { r.Address, r.PostCode = "", "" },
		},
		{
			name: "upper-case uuid is lower-cased",
			user: func(*testing.T) randomuser.User {
				u := apiUser()
				u.Login.UUID = "D0F9CFC2-9463-4742-8090-7295DC7CD41F"
				return u
			},
			want: func(*transform.Row) {},
		},
		{
			name: "invalid uuid is kept for Validate to report",
			user: func(*testing.T) randomuser.User {
				u := apiUser()
				u.Login.UUID = "NOT-A-UUID"
				return u
			},
			want: func(r *transform.Row) { r.ID = "NOT-A-UUID" },
		},
		{
			name: "times in another zone become UTC with milliseconds",
			user: func(*testing.T) randomuser.User {
				u := apiUser()
				u.DOB.Date = time.Date(1952, 12, 25, 11, 25, 24, 13_999_999, time.FixedZone("", 2*3600))
				u.Registered.Date = time.Date(2014, 4, 28, 10, 33, 14, 0, time.UTC)
				return u
			},
			want: func(r *transform.Row) { r.RegisteredDate = "2014-04-28T10:33:14.000Z" },
		},
		{
			name: "times from JSON",
			user: func(t *testing.T) randomuser.User {
				u := apiUser()
				j := userFromJSON(t, `{"dob":{"date":"1992-03-08T15:13:16.688Z","age":33},"registered":{"date":"2007-07-09T05:51:59.390Z","age":18}}`)
				u.DOB, u.Registered = j.DOB, j.Registered
				return u
			},
			want: func(r *transform.Row) {
				r.DOB, r.RegisteredDate = "1992-03-08T15:13:16.688Z", "2007-07-09T05:51:59.390Z"
			},
		},
		{
			name: "zero times are left empty",
			user: func(*testing.T) randomuser.User {
				u := apiUser()
				u.DOB, u.Registered = randomuser.Dated{}, randomuser.Dated{}
				return u
			},
			want: func(r *transform.Row) { r.DOB, r.RegisteredDate = "", "" },
		},
		{
			name: "non-ASCII names are copied as they are",
			user: func(*testing.T) randomuser.User {
				u := apiUser()
				u.Name.First, u.Name.Last = "آیناز", "کریمی"
				u.Email = "aynz.khrymy@example.com"
				return u
			},
			want: func(r *transform.Row) {
				r.FirstName, r.LastName, r.Email = "آیناز", "کریمی", "aynz.khrymy@example.com"
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := validRow()
			tt.want(&want)
			got := transform.FromUser(tt.user(t))
			if got != want {
				t.Errorf("FromUser() =\n%+v\nwant\n%+v", got, want)
			}
		})
	}
}

// A complete API user maps to a valid row.
func TestFromUserValidates(t *testing.T) {
	if err := transform.FromUser(apiUser()).Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestFromUsers(t *testing.T) {
	errUpstream := errors.New("upstream failed")
	bad := apiUser()
	bad.Email = "nope"
	users := func(yield func(randomuser.User, error) bool) {
		_ = yield(apiUser(), nil) && yield(randomuser.User{}, errUpstream) && yield(bad, nil) && yield(apiUser(), nil)
	}

	var got []string
	for r, err := range transform.FromUsers(users) {
		var verr *transform.ValidationError
		switch {
		case err == nil:
			if r != validRow() {
				t.Errorf("row = %+v", r)
			}
			got = append(got, "ok")
		case errors.Is(err, errUpstream):
			if r != (transform.Row{}) {
				t.Errorf("row with upstream error = %+v", r)
			}
			got = append(got, "upstream")
		case errors.As(err, &verr):
			if r.Email != "nope" || verr.Fields[0].Field != "email" {
				t.Errorf("invalid row = %+v, %v", r, err)
			}
			got = append(got, "invalid")
		default:
			t.Errorf("unexpected error %v", err)
		}
	}
	if want := "[ok upstream invalid ok]"; fmt.Sprint(got) != want {
		t.Errorf("yielded %v, want %s", got, want)
	}

	// Breaking out stops the upstream iterator too.
	n := 0
	for range transform.FromUsers(users) {
		n++
		break
	}
	if n != 1 {
		t.Errorf("iterations after break = %d", n)
	}
}
