package transform

// The schema checker in schema_test.go asserts the "uuid", "email" and
// "date-time" formats with the same parsers Validate uses.
var (
	ParseUUID  = parseUUID
	ValidEmail = validEmail
	ParseTime  = parseTime
	FieldNames = fieldNames
)
