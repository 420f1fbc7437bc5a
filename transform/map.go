package transform

import (
	"iter"
	"strconv"
	"strings"
	"time"

	"github.com/userstream/userstream/randomuser"
)

// FromUser maps a Random User API user to a row:
//
//   - ID is u.Login.UUID, lower-cased when it is a UUID (any other value is
//     kept as it is, for [Row.Validate] to report);
//   - Address is "number street, city, state, country", the seed's format;
//     a part the API did not send (Country for the LEGO nationality, or a
//     field left out by the query) is omitted with its separator, and a
//     street number of 0 counts as missing;
//   - PostCode is the postcode as text, leading zeros kept ("0150");
//   - Picture is the medium portrait URL;
//   - DOB and RegisteredDate are u.DOB.Date and u.Registered.Date in UTC,
//     formatted with [TimeLayout], or "" for a zero time;
//   - the other fields are copied unchanged.
//
// FromUser does not validate: call [Row.Validate] (or [Marshal], which does)
// on the result.
func FromUser(u randomuser.User) Row {
	id := u.Login.UUID
	if _, ok := parseUUID(id); ok {
		id = strings.ToLower(id) // no allocation when already lower case
	}
	return Row{
		ID:             id,
		FirstName:      u.Name.First,
		LastName:       u.Name.Last,
		Gender:         u.Gender,
		Address:        address(u.Location),
		PostCode:       u.Location.Postcode.String(),
		Email:          u.Email,
		Username:       u.Login.Username,
		DOB:            formatTime(u.DOB.Date),
		RegisteredDate: formatTime(u.Registered.Date),
		Phone:          u.Phone,
		Picture:        u.Picture.Medium,
	}
}

// FromUsers maps a stream of users, such as the one randomuser's
// Client.Users returns, to a stream of rows, without buffering. Each user
// is yielded as [FromUser](u) with the result of [Row.Validate] (nil or a
// *[ValidationError]), so the caller decides whether to skip, dead-letter or
// stop on an invalid row. An error from users is passed through with a zero
// Row. Iteration stops when the caller stops or users ends.
func FromUsers(users iter.Seq2[randomuser.User, error]) iter.Seq2[Row, error] {
	return func(yield func(Row, error) bool) {
		for u, err := range users {
			if err != nil {
				if !yield(Row{}, err) {
					return
				}
				continue
			}
			r := FromUser(u)
			if !yield(r, r.Validate()) {
				return
			}
		}
	}
}

// address formats "number street, city, state, country", leaving out the
// parts that are empty.
func address(l randomuser.Location) string {
	street := strings.TrimSpace(l.Street.Name)
	if l.Street.Number > 0 {
		n := strconv.Itoa(l.Street.Number)
		if street == "" {
			street = n
		} else {
			street = n + " " + street
		}
	}
	parts := [4]string{street, strings.TrimSpace(l.City), strings.TrimSpace(l.State), strings.TrimSpace(l.Country)}
	var b strings.Builder
	b.Grow(len(parts[0]) + len(parts[1]) + len(parts[2]) + len(parts[3]) + 6)
	for _, p := range parts {
		if p == "" {
			continue
		}
		if b.Len() > 0 {
			b.WriteString(", ")
		}
		b.WriteString(p)
	}
	return b.String()
}

func formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(TimeLayout)
}
