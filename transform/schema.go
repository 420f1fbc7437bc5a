package transform

import _ "embed"

// PayloadSchema is the JSON Schema (draft 2020-12) of the payload that
// [Marshal] writes for [SchemaVersion] "1", the file
// schema/users_created.v1.json of this package. The package's tests check
// the encoder's output against it.
//
// It is shared: treat it as read-only and copy it before changing it.
//
//go:embed schema/users_created.v1.json
var PayloadSchema []byte
