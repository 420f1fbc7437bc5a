// Package testrows makes valid transform.Row values with fresh ids for the
// tests and benchmarks of the packages that move rows around.
package testrows

import (
	"crypto/rand"
	"fmt"

	"github.com/userstream/userstream/transform"
)

// UUID returns a random version 4 UUID in canonical form.
func UUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// Row returns a valid row with a fresh id; i varies its names and email.
func Row(i int) transform.Row {
	return transform.Row{
		ID:             UUID(),
		FirstName:      "Ada",
		LastName:       fmt.Sprintf("Lovelace %d", i),
		Gender:         "female",
		Address:        "12 Analytical St, London, Greater London, United Kingdom",
		PostCode:       "N1 9GU",
		Email:          fmt.Sprintf("ada%d@example.com", i),
		Username:       fmt.Sprintf("ada%d", i),
		DOB:            "1815-12-10T08:00:00.000Z",
		RegisteredDate: "2015-03-08T15:13:16.688Z",
		Phone:          "020 7946 0000",
		Picture:        "https://randomuser.me/api/portraits/med/women/1.jpg",
	}
}

// Rows returns n valid rows with fresh ids.
func Rows(n int) []transform.Row {
	rows := make([]transform.Row, n)
	for i := range rows {
		rows[i] = Row(i)
	}
	return rows
}
