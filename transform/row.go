package transform

// Row is one row of spark_streams.created_users, the table the seed pipeline
// writes. Its JSON form is the payload of the users_created topic and uses the
// seed's field names, so a message from the seed's (fixed) producer decodes.
//
// ID is the Random User API's login.uuid in canonical text form. Using the
// API's own identifier rather than minting one makes every redelivery and
// every re-run of the pipeline an idempotent upsert of the same row.
//
// DOB and RegisteredDate keep the API's ISO 8601 text (for example
// "1992-03-08T15:13:16.688Z"): the seed's table stores them as text, and
// keeping the text avoids a lossy round trip. [Row.Validate] checks that they
// parse.
type Row struct {
	ID             string `json:"id" db:"id"`
	FirstName      string `json:"first_name" db:"first_name"`
	LastName       string `json:"last_name" db:"last_name"`
	Gender         string `json:"gender" db:"gender"`
	Address        string `json:"address" db:"address"`
	PostCode       string `json:"post_code" db:"post_code"`
	Email          string `json:"email" db:"email"`
	Username       string `json:"username" db:"username"`
	DOB            string `json:"dob" db:"dob"`
	RegisteredDate string `json:"registered_date" db:"registered_date"`
	Phone          string `json:"phone" db:"phone"`
	Picture        string `json:"picture" db:"picture"`
}
