package randomuser

import (
	"bytes"
	"reflect"
	"time"
)

// The Decoder decodes users with the table below rather than with
// reflection: each JSON object of a User is a list of fields, giving the
// JSON name, how the value is decoded and where it goes.

// kind is how a field's value is decoded.
type kind uint8

const (
	kindString   kind = iota // a string; null leaves it as it is
	kindNullable             // a *string (ID.Value); null makes it nil
	kindPostcode             // a Postcode: string, or number kept as text; null makes it ""
	kindInt                  // an int; null leaves it as it is
	kindDate                 // a time.Time, decoded by its UnmarshalJSON; null leaves it as it is
	kindObject               // a nested object; null leaves it as it is
	kindSkip                 // a field not decoded: its value is skipped, whatever its type
)

type field struct {
	name   string
	kind   kind
	slot   int     // kindString, kindNullable, kindPostcode: a slot*; kindInt: an int*; kindDate: a date*
	fields []field // kindObject: the nested object's fields

	// For *json.UnmarshalTypeError, as encoding/json fills it in.
	typ    reflect.Type
	parent string // the name of the Go struct holding the field
	path   string // the JSON path, such as "location.street.number"
}

// Slots of the string fields; see userState.store.
const (
	slotGender = iota
	slotTitle
	slotFirst
	slotLast
	slotStreetName
	slotCity
	slotState
	slotCountry
	slotPostcode
	slotLatitude
	slotLongitude
	slotOffset
	slotDescription
	slotEmail
	slotUUID
	slotUsername
	slotPassword
	slotSalt
	slotMD5
	slotSHA1
	slotSHA256
	slotPhone
	slotCell
	slotIDName
	slotIDValue
	slotLarge
	slotMedium
	slotThumbnail
	slotNat
	numSlots
)

// Slots of the int and time.Time fields; see User.intField and
// User.dateField.
const (
	intStreetNumber = iota
	intDOBAge
	intRegisteredAge
)

const (
	dateDOB = iota
	dateRegistered
)

// The string slots must fit in userState.set.
var _ [32 - numSlots]struct{}

// dateField and intField return the field of u for a slot of a kindDate or
// kindInt field.
func (u *User) dateField(slot int) *time.Time {
	if slot == dateRegistered {
		return &u.Registered.Date
	}
	return &u.DOB.Date
}

func (u *User) intField(slot int) *int {
	switch slot {
	case intDOBAge:
		return &u.DOB.Age
	case intRegisteredAge:
		return &u.Registered.Age
	}
	return &u.Location.Street.Number
}

// publicUserFields and credUserFields describe a User in API order, without
// and with the credential fields of login. Without them, password, salt and
// the hashes are skipped without looking at their type, as encoding/json
// skipped them when decoding into a User without those fields.
var (
	publicUserFields = userFields(false)
	credUserFields   = userFields(true)
	// userField stands for the user itself in type errors.
	userField = field{typ: reflect.TypeFor[User]()}
)

func userFields(creds bool) []field {
	login := []field{
		str("uuid", slotUUID), str("username", slotUsername),
		str("password", slotPassword), str("salt", slotSalt),
		str("md5", slotMD5), str("sha1", slotSHA1), str("sha256", slotSHA256),
	}
	if !creds {
		// Known, so that they are found quickly, but skipped as unknown
		// keys are.
		for i := 2; i < len(login); i++ {
			login[i].kind = kindSkip
		}
	}
	fields := []field{
		str("gender", slotGender),
		object[Name]("name",
			str("title", slotTitle), str("first", slotFirst), str("last", slotLast)),
		object[Location]("location",
			object[Street]("street", integer("number", intStreetNumber), str("name", slotStreetName)),
			str("city", slotCity),
			str("state", slotState),
			str("country", slotCountry),
			field{name: "postcode", kind: kindPostcode, slot: slotPostcode, typ: reflect.TypeFor[Postcode]()},
			object[Coordinates]("coordinates", str("latitude", slotLatitude), str("longitude", slotLongitude)),
			object[Timezone]("timezone", str("offset", slotOffset), str("description", slotDescription))),
		str("email", slotEmail),
		object[Login]("login", login...),
		object[Dated]("dob", date("date", dateDOB), integer("age", intDOBAge)),
		object[Dated]("registered", date("date", dateRegistered), integer("age", intRegisteredAge)),
		str("phone", slotPhone),
		str("cell", slotCell),
		object[ID]("id",
			str("name", slotIDName),
			field{name: "value", kind: kindNullable, slot: slotIDValue, typ: reflect.TypeFor[string]()}),
		object[Picture]("picture",
			str("large", slotLarge), str("medium", slotMedium), str("thumbnail", slotThumbnail)),
		str("nat", slotNat),
	}
	setPaths(fields, "User", "")
	return fields
}

func str(name string, slot int) field {
	return field{name: name, kind: kindString, slot: slot, typ: reflect.TypeFor[string]()}
}

func integer(name string, slot int) field {
	return field{name: name, kind: kindInt, slot: slot, typ: reflect.TypeFor[int]()}
}

func date(name string, slot int) field {
	return field{name: name, kind: kindDate, slot: slot, typ: reflect.TypeFor[time.Time]()}
}

func object[T any](name string, fields ...field) field {
	return field{name: name, kind: kindObject, fields: fields, typ: reflect.TypeFor[T]()}
}

func setPaths(fields []field, parent, prefix string) {
	for i := range fields {
		f := &fields[i]
		f.parent, f.path = parent, prefix+f.name
		if f.kind == kindObject {
			setPaths(f.fields, f.typ.Name(), f.path+".")
		}
	}
}

// lookup returns the index in fields of the field named key, or -1. Like
// encoding/json, it prefers an exact match but accepts one that differs
// only in case (with Unicode case folding: "ſtate" is "state"). hint is
// tried first: the API sends keys in field order.
func lookup(fields []field, key []byte, hint int) int {
	if hint < len(fields) && string(key) == fields[hint].name {
		return hint
	}
	for i := range fields {
		if string(key) == fields[i].name {
			return i
		}
	}
	for i := range fields {
		if bytes.EqualFold(key, []byte(fields[i].name)) {
			return i
		}
	}
	return -1
}
