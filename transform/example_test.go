package transform_test

import (
	"errors"
	"fmt"
	"time"

	"github.com/userstream/userstream/randomuser"
	"github.com/userstream/userstream/transform"
)

func ExampleFromUser() {
	user := randomuser.User{
		Gender: "female",
		Name:   randomuser.Name{Title: "Ms", First: "Siren", Last: "Vestvik"},
		Location: randomuser.Location{
			Street:   randomuser.Street{Number: 6036, Name: "Nybyggerveien"},
			City:     "Skre",
			State:    "Trøndelag",
			Country:  "Norway",
			Postcode: "0150",
		},
		Email:      "siren.vestvik@example.com",
		Login:      randomuser.Login{UUID: "DEF099BD-9448-4F77-9E97-DB88FDF7E9D3", Username: "lazysnake750"},
		DOB:        randomuser.Dated{Date: time.Date(1976, 3, 2, 2, 20, 42, 654e6, time.UTC)},
		Registered: randomuser.Dated{Date: time.Date(2012, 9, 10, 22, 42, 18, 625e6, time.UTC)},
		Phone:      "89485828",
		Picture:    randomuser.Picture{Medium: "https://randomuser.me/api/portraits/med/women/93.jpg"},
	}
	row := transform.FromUser(user)
	fmt.Println(row.ID)
	fmt.Println(row.Address)
	fmt.Println(row.PostCode)
	fmt.Println(row.DOB)
	fmt.Println(row.Validate())
	// Output:
	// def099bd-9448-4f77-9e97-db88fdf7e9d3
	// 6036 Nybyggerveien, Skre, Trøndelag, Norway
	// 0150
	// 1976-03-02T02:20:42.654Z
	// <nil>
}

func ExampleMarshal() {
	row := transform.Row{
		ID:             "f7b2b61a-b9d9-4665-a3b1-01a90fa75606",
		FirstName:      "Vera",
		LastName:       "Jenkins",
		Gender:         "female",
		Address:        "7038 Homestead Rd, Bathurst, Tasmania, Australia",
		PostCode:       "3183",
		Email:          "vera.jenkins@example.com",
		Username:       "bigbird192",
		RegisteredDate: "2014-08-22T11:04:12.022Z",
		Phone:          "09-6433-0499",
		Picture:        "https://randomuser.me/api/portraits/med/women/3.jpg",
	}
	payload, err := transform.Marshal(row)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(string(payload))
	// Headers for the record:
	fmt.Println(transform.SchemaVersion, transform.ContentType)
	// Output:
	// {"id":"f7b2b61a-b9d9-4665-a3b1-01a90fa75606","first_name":"Vera","last_name":"Jenkins","gender":"female","address":"7038 Homestead Rd, Bathurst, Tasmania, Australia","post_code":"3183","email":"vera.jenkins@example.com","username":"bigbird192","registered_date":"2014-08-22T11:04:12.022Z","phone":"09-6433-0499","picture":"https://randomuser.me/api/portraits/med/women/3.jpg"}
	// 1 application/json
}

// A message from the seed's producer: Python json.dumps, a numeric
// post_code, escaped non-ASCII, and no dob.
func ExampleUnmarshal() {
	msg := []byte(`{"id": "4f3a1c2e-8b7d-4e6f-a1b2-c3d4e5f60718", "first_name": "Kl\u00e1ra", "last_name": "M\u00fcller", "post_code": 70963, "email": "klara.muller@example.com", "registered_date": "2014-08-22T11:04:12.022Z", "nat": "DE"}`)
	row, err := transform.Unmarshal(msg)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%s %s, post code %s, dob %q\n", row.FirstName, row.LastName, row.PostCode, row.DOB)
	fmt.Println(row.Validate())

	_, err = transform.Unmarshal([]byte(`{"id": 42}`))
	var derr *transform.DecodeError
	if errors.As(err, &derr) {
		fmt.Println(derr.Field, derr.Offset, errors.Is(err, transform.ErrFieldType))
	}
	fmt.Println(err)
	// Output:
	// Klára Müller, post code 70963, dob ""
	// <nil>
	// id 7 true
	// transform: decode payload: field "id" at offset 7: wrong JSON type: got number, want string
}

func ExampleRow_Validate() {
	row := transform.Row{
		ID:             "not-a-uuid",
		FirstName:      "Isaac",
		Email:          "isaac.chambers(at)example.com",
		RegisteredDate: "2011-10-01T07:33:00.626Z",
		DOB:            "1974-05-23",
	}
	err := row.Validate()
	var verr *transform.ValidationError
	if errors.As(err, &verr) {
		for _, f := range verr.Fields {
			fmt.Printf("%s: %s\n", f.Field, f.Reason)
		}
	}
	// Output:
	// id: not a UUID (want 8-4-4-4-12 hex digits)
	// last_name: missing
	// email: malformed email address
	// dob: not an RFC 3339 date-time
}
