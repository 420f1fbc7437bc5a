// Package transform turns Random User API users into rows of the
// created_users table and encodes those rows as the payload of the
// users_created Kafka topic.
//
// Every function in this package is pure: no I/O, no globals that change,
// no logging. All of them are safe for concurrent use.
//
// # The row
//
// [Row] is one row of spark_streams.created_users, the seed pipeline's
// table: its 11 text columns plus dob, which the seed fetched and then
// dropped. [FromUser] builds a Row from a [randomuser.User]. The row's id is
// the API's own login.uuid, not a freshly minted one, so redelivering or
// re-running anything upserts the same row.
//
//	row := transform.FromUser(user)
//	payload, err := transform.Marshal(row) // validates, then encodes
//
// [FromUsers] does the same to a stream of users (randomuser's
// Client.Users), yielding each row with its validation error.
//
// # Validation
//
// [Row.Validate] returns a *[ValidationError] listing each invalid field as a
// [FieldError]: a missing, malformed or nil UUID; an empty first or last
// name; a malformed email address; a dob or registered_date that is not an
// RFC 3339 date-time (dob may be empty); any field that is not valid UTF-8
// or is longer than [MaxFieldBytes] (1 KiB). Reasons never include the
// field's value, so they are safe to log.
//
// # Wire format
//
// The payload of a users_created record is a JSON object with the seed's
// field names. [Marshal] and [AppendJSON] write it; [Unmarshal] reads it,
// and also reads what the seed's producer (once its uuid bug is fixed)
// sends: id as a string, post_code as a JSON number or string, extra
// fields, no dob. kafkasink puts [SchemaVersion] and [ContentType] in the
// record headers and the row's id in the record key.
//
// [PayloadSchema] is the JSON Schema of the payload, the embedded file
// schema/users_created.v1.json; the tests check the encoder against it.
//
// # Errors
//
//   - [Marshal] and [Row.Validate]: *[ValidationError].
//   - [Unmarshal]: *[DecodeError], wrapping [ErrSyntax], [ErrNotObject] or
//     [ErrFieldType], with the byte offset of the problem.
//
// A consumer should treat both kinds as poison (dead-letter the record):
// retrying cannot fix them.
package transform
