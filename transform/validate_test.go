package transform_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/userstream/userstream/transform"
)

func TestValidateValid(t *testing.T) {
	tests := []struct {
		name   string
		change func(r *transform.Row)
	}{
		{"complete", func(*transform.Row) {}},
		{"no dob", func(r *transform.Row) { r.DOB = "" }},
		{"optional fields empty", func(r *transform.Row) {
			r.Gender, r.Address, r.PostCode, r.Username, r.Phone, r.Picture = "", "", "", "", "", ""
		}},
		{"upper-case uuid", func(r *transform.Row) { r.ID = strings.ToUpper(r.ID) }},
		{"dates without fraction", func(r *transform.Row) {
			r.DOB, r.RegisteredDate = "1952-12-25T09:25:24Z", "2014-04-28T10:33:14Z"
		}},
		{"dates with offsets and nanoseconds", func(r *transform.Row) {
			r.DOB, r.RegisteredDate = "1952-12-25T09:25:24.123456789+05:45", "2014-04-28T10:33:14.7-10:00"
		}},
		{"leap day", func(r *transform.Row) { r.DOB = "2000-02-29T00:00:00Z" }},
		{"lower-case t and z", func(r *transform.Row) { r.DOB = "1952-12-25t09:25:24.013z" }},
		{"email with atext and subdomains", func(r *transform.Row) { r.Email = "o'connell+tag_1@mail.example-1.co.uk" }},
		{"non-ASCII name", func(r *transform.Row) { r.FirstName, r.LastName = "Klára", "آیناز" }},
		{"field of exactly MaxFieldBytes", func(r *transform.Row) { r.Address = strings.Repeat("é", transform.MaxFieldBytes/2) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := validRow()
			tt.change(&r)
			if err := r.Validate(); err != nil {
				t.Errorf("Validate() = %v, want nil", err)
			}
		})
	}
}

func TestValidateFieldErrors(t *testing.T) {
	long := strings.Repeat("x", transform.MaxFieldBytes+1)
	tests := []struct {
		name   string
		change func(r *transform.Row)
		want   []transform.FieldError // Reason matched as a substring
	}{
		{"missing id", func(r *transform.Row) { r.ID = "" }, []transform.FieldError{{"id", "missing"}}},
		{"id not a uuid", func(r *transform.Row) { r.ID = "user-42" }, []transform.FieldError{{"id", "not a UUID"}}},
		{"id without dashes", func(r *transform.Row) { r.ID = "d0f9cfc294634742809072 95dc7cd41f" }, []transform.FieldError{{"id", "not a UUID"}}},
		{"id with braces", func(r *transform.Row) { r.ID = "{d0f9cfc2-9463-4742-8090-7295dc7cd41f}" }, []transform.FieldError{{"id", "not a UUID"}}},
		{"id with non-hex digit", func(r *transform.Row) { r.ID = "g0f9cfc2-9463-4742-8090-7295dc7cd41f" }, []transform.FieldError{{"id", "not a UUID"}}},
		{"id with dash misplaced", func(r *transform.Row) { r.ID = "d0f9cfc29-463-4742-8090-7295dc7cd41f" }, []transform.FieldError{{"id", "not a UUID"}}},
		{"nil uuid", func(r *transform.Row) { r.ID = "00000000-0000-0000-0000-000000000000" }, []transform.FieldError{{"id", "nil UUID"}}},
		{"empty first name", func(r *transform.Row) { r.FirstName = "" }, []transform.FieldError{{"first_name", "missing"}}},
		{"blank first name", func(r *transform.Row) { r.FirstName = " \t\u00a0" }, []transform.FieldError{{"first_name", "white space"}}},
		{"empty last name", func(r *transform.Row) { r.LastName = "" }, []transform.FieldError{{"last_name", "missing"}}},
		{"missing email", func(r *transform.Row) { r.Email = "" }, []transform.FieldError{{"email", "missing"}}},
		{"email without at", func(r *transform.Row) { r.Email = "sebastian.example.com" }, []transform.FieldError{{"email", "malformed"}}},
		{"email with name", func(r *transform.Row) { r.Email = "Seb <sebastian@example.com>" }, []transform.FieldError{{"email", "malformed"}}},
		{"email with space", func(r *transform.Row) { r.Email = "seb astian@example.com" }, []transform.FieldError{{"email", "malformed"}}},
		{"email with double dot", func(r *transform.Row) { r.Email = "seb..astian@example.com" }, []transform.FieldError{{"email", "malformed"}}},
		{"email with leading dot", func(r *transform.Row) { r.Email = ".sebastian@example.com" }, []transform.FieldError{{"email", "malformed"}}},
		{"email with dotless domain", func(r *transform.Row) { r.Email = "sebastian@localhost" }, []transform.FieldError{{"email", "malformed"}}},
		{"email with empty label", func(r *transform.Row) { r.Email = "sebastian@example..com" }, []transform.FieldError{{"email", "malformed"}}},
		{"email with hyphen at label end", func(r *transform.Row) { r.Email = "sebastian@example-.com" }, []transform.FieldError{{"email", "malformed"}}},
		{"email with numeric tld", func(r *transform.Row) { r.Email = "sebastian@10.0.0.1" }, []transform.FieldError{{"email", "malformed"}}},
		{"email with non-ASCII", func(r *transform.Row) { r.Email = "klára@example.com" }, []transform.FieldError{{"email", "malformed"}}},
		{"email two ats", func(r *transform.Row) { r.Email = "a@b@example.com" }, []transform.FieldError{{"email", "malformed"}}},
		{"email local part over 64", func(r *transform.Row) { r.Email = strings.Repeat("a", 65) + "@example.com" }, []transform.FieldError{{"email", "malformed"}}},
		{"dob not a date", func(r *transform.Row) { r.DOB = "yesterday" }, []transform.FieldError{{"dob", "RFC 3339"}}},
		{"dob date only", func(r *transform.Row) { r.DOB = "1952-12-25" }, []transform.FieldError{{"dob", "RFC 3339"}}},
		{"dob without zone", func(r *transform.Row) { r.DOB = "1952-12-25T09:25:24.013" }, []transform.FieldError{{"dob", "RFC 3339"}}},
		{"dob with space separator", func(r *transform.Row) { r.DOB = "1952-12-25 09:25:24Z" }, []transform.FieldError{{"dob", "RFC 3339"}}},
		{"dob February 30", func(r *transform.Row) { r.DOB = "1952-02-30T09:25:24Z" }, []transform.FieldError{{"dob", "RFC 3339"}}},
		{"dob Feb 29 not leap", func(r *transform.Row) { r.DOB = "1900-02-29T09:25:24Z" }, []transform.FieldError{{"dob", "RFC 3339"}}},
		{"dob hour 24", func(r *transform.Row) { r.DOB = "1952-12-25T24:00:00Z" }, []transform.FieldError{{"dob", "RFC 3339"}}},
		{"dob empty fraction", func(r *transform.Row) { r.DOB = "1952-12-25T09:25:24.Z" }, []transform.FieldError{{"dob", "RFC 3339"}}},
		{"dob comma fraction", func(r *transform.Row) { r.DOB = "1952-12-25T09:25:24,013Z" }, []transform.FieldError{{"dob", "RFC 3339"}}},
		{"dob offset without colon", func(r *transform.Row) { r.DOB = "1952-12-25T09:25:24+0100" }, []transform.FieldError{{"dob", "RFC 3339"}}},
		{"dob offset out of range", func(r *transform.Row) { r.DOB = "1952-12-25T09:25:24+24:00" }, []transform.FieldError{{"dob", "RFC 3339"}}},
		{"dob unix seconds (API 1.0)", func(r *transform.Row) { r.DOB = "932871968" }, []transform.FieldError{{"dob", "RFC 3339"}}},
		{"dob API 1.1 form", func(r *transform.Row) { r.DOB = "1983-07-14 07:29:45" }, []transform.FieldError{{"dob", "RFC 3339"}}},
		{"missing registered_date", func(r *transform.Row) { r.RegisteredDate = "" }, []transform.FieldError{{"registered_date", "missing"}}},
		{"malformed registered_date", func(r *transform.Row) { r.RegisteredDate = "2014-13-28T10:33:14.790Z" }, []transform.FieldError{{"registered_date", "RFC 3339"}}},
		{"overlong address", func(r *transform.Row) { r.Address = long }, []transform.FieldError{{"address", "longer than 1024 bytes"}}},
		{"overlong id", func(r *transform.Row) { r.ID = long }, []transform.FieldError{{"id", "longer than"}}},
		{"overlong phone", func(r *transform.Row) { r.Phone = long }, []transform.FieldError{{"phone", "longer than"}}},
		{"invalid UTF-8 in gender", func(r *transform.Row) { r.Gender = "ma\xffle" }, []transform.FieldError{{"gender", "UTF-8"}}},
		{"invalid UTF-8 in last name", func(r *transform.Row) { r.LastName = "B\xc3" }, []transform.FieldError{{"last_name", "UTF-8"}}},
		{"invalid UTF-8 in picture", func(r *transform.Row) { r.Picture = "\xed\xa0\x80" }, []transform.FieldError{{"picture", "UTF-8"}}},
		{"invalid UTF-8 in post_code, username", func(r *transform.Row) { r.PostCode, r.Username = "\x80", "\xfe" }, []transform.FieldError{{"post_code", "UTF-8"}, {"username", "UTF-8"}}},
		{
			name:   "every required field, in field order",
			change: func(r *transform.Row) { *r = transform.Row{} },
			want: []transform.FieldError{
				{"id", "missing"}, {"first_name", "missing"}, {"last_name", "missing"},
				{"email", "missing"}, {"registered_date", "missing"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := validRow()
			tt.change(&r)
			err := r.Validate()
			var verr *transform.ValidationError
			if !errors.As(err, &verr) {
				t.Fatalf("Validate() = %v, want a *ValidationError", err)
			}
			if len(verr.Fields) != len(tt.want) {
				t.Fatalf("Validate() fields = %+v, want %+v", verr.Fields, tt.want)
			}
			for i, f := range verr.Fields {
				if f.Field != tt.want[i].Field || !strings.Contains(f.Reason, tt.want[i].Reason) {
					t.Errorf("field %d = %+v, want field %q with reason containing %q", i, f, tt.want[i].Field, tt.want[i].Reason)
				}
				if !strings.Contains(err.Error(), f.Error()) {
					t.Errorf("Error() = %q does not list %q", err, f.Error())
				}
			}
			// Marshal refuses the row with the same error.
			if b, merr := transform.Marshal(r); b != nil || merr == nil || merr.Error() != err.Error() {
				t.Errorf("Marshal() = %q, %v; want nil, %v", b, merr, err)
			}
		})
	}
}

// The error message never carries the values, which may be personal data.
func TestValidationErrorHidesValues(t *testing.T) {
	r := validRow()
	r.Email = "secret.person@@example.com"
	r.DOB = "secret-date"
	err := r.Validate()
	if err == nil {
		t.Fatal("Validate() = nil")
	}
	const want = "transform: invalid row: email: malformed email address; dob: not an RFC 3339 date-time"
	if err.Error() != want {
		t.Errorf("Error() = %q, want %q", err, want)
	}
}
