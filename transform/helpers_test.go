package transform_test

import (
	"time"

	"github.com/userstream/userstream/randomuser"
	"github.com/userstream/userstream/transform"
)

// validRow returns a row that passes Validate, with every field set.
func validRow() transform.Row {
	return transform.Row{
		ID:             "d0f9cfc2-9463-4742-8090-7295dc7cd41f",
		FirstName:      "Sebastian",
		LastName:       "Bailey",
		Gender:         "male",
		Address:        "5968 Springfield Road, Worcester, South Yorkshire, United Kingdom",
		PostCode:       "C4S 0YR",
		Email:          "sebastian.bailey@example.com",
		Username:       "orangebird527",
		DOB:            "1952-12-25T09:25:24.013Z",
		RegisteredDate: "2014-04-28T10:33:14.790Z",
		Phone:          "016974 29084",
		Picture:        "https://randomuser.me/api/portraits/med/men/33.jpg",
	}
}

// apiUser is the user of the API fact sheet's example (seed=factsheet&nat=gb).
func apiUser() randomuser.User {
	return randomuser.User{
		Gender: "male",
		Name:   randomuser.Name{Title: "Mr", First: "Sebastian", Last: "Bailey"},
		Location: randomuser.Location{
			Street:   randomuser.Street{Number: 5968, Name: "Springfield Road"},
			City:     "Worcester",
			State:    "South Yorkshire",
			Country:  "United Kingdom",
			Postcode: "C4S 0YR",
		},
		Email:      "sebastian.bailey@example.com",
		Login:      randomuser.Login{UUID: "d0f9cfc2-9463-4742-8090-7295dc7cd41f", Username: "orangebird527"},
		DOB:        randomuser.Dated{Date: time.Date(1952, 12, 25, 9, 25, 24, 13e6, time.UTC), Age: 73},
		Registered: randomuser.Dated{Date: time.Date(2014, 4, 28, 10, 33, 14, 790e6, time.UTC), Age: 12},
		Phone:      "016974 29084",
		Cell:       "07760 414750",
		Picture: randomuser.Picture{
			Large:     "https://randomuser.me/api/portraits/men/33.jpg",
			Medium:    "https://randomuser.me/api/portraits/med/men/33.jpg",
			Thumbnail: "https://randomuser.me/api/portraits/thumb/men/33.jpg",
		},
		Nat: "GB",
	}
}
