package transform_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	"github.com/userstream/userstream/transform"
)

// No JSON Schema module is available, so this file holds a checker for the
// subset of draft 2020-12 that schema/users_created.v1.json uses. It refuses
// a schema with any other keyword, so the schema cannot grow a constraint
// that the tests silently ignore. Formats are asserted with the parsers
// Row.Validate uses.

// keywords lists the keywords the checker understands.
var keywords = map[string]bool{
	// annotations
	"$schema": true, "$id": true, "title": true, "description": true,
	// assertions
	"type": true, "required": true, "properties": true, "additionalProperties": true,
	"format": true, "pattern": true, "minLength": true, "maxLength": true,
}

var formats = map[string]func(string) bool{
	"uuid":      func(s string) bool { _, ok := transform.ParseUUID(s); return ok },
	"email":     transform.ValidEmail,
	"date-time": func(s string) bool { _, ok := transform.ParseTime(s); return ok },
}

var loadSchema = sync.OnceValues(func() (map[string]any, error) {
	var s map[string]any
	if err := json.Unmarshal(transform.PayloadSchema, &s); err != nil {
		return nil, fmt.Errorf("PayloadSchema is not JSON: %w", err)
	}
	if err := checkSupported(s, "#"); err != nil {
		return nil, err
	}
	return s, nil
})

// checkSupported reports a keyword or keyword value the checker does not
// implement.
func checkSupported(node map[string]any, path string) error {
	for k, v := range node {
		if !keywords[k] {
			return fmt.Errorf("%s: keyword %q is not implemented by the test checker", path, k)
		}
		var ok bool
		switch k {
		case "type":
			ok = v == "object" || v == "string"
		case "format":
			_, ok = formats[v.(string)]
		case "pattern":
			s, isStr := v.(string)
			_, err := regexp.Compile(s)
			ok = isStr && err == nil
		case "additionalProperties":
			_, ok = v.(bool)
		case "minLength", "maxLength":
			f, isNum := v.(float64)
			ok = isNum && f >= 0 && f == float64(int(f))
		case "required":
			var arr []any
			if arr, ok = v.([]any); ok {
				for _, e := range arr {
					if _, isStr := e.(string); !isStr {
						ok = false
					}
				}
			}
		case "properties":
			var props map[string]any
			if props, ok = v.(map[string]any); ok {
				for name, sub := range props {
					subNode, isObj := sub.(map[string]any)
					if !isObj {
						return fmt.Errorf("%s/properties/%s: not a schema object", path, name)
					}
					if err := checkSupported(subNode, path+"/properties/"+name); err != nil {
						return err
					}
				}
			}
		default:
			ok = true
		}
		if !ok {
			return fmt.Errorf("%s: unsupported value for %q: %v", path, k, v)
		}
	}
	return nil
}

// validate returns the schema violations of instance v.
func validate(node map[string]any, v any, path string) []string {
	var errs []string
	fail := func(format string, args ...any) { errs = append(errs, path+": "+fmt.Sprintf(format, args...)) }
	switch node["type"] {
	case "object":
		if _, ok := v.(map[string]any); !ok {
			fail("want an object, got %T", v)
			return errs
		}
	case "string":
		if _, ok := v.(string); !ok {
			fail("want a string, got %T", v)
			return errs
		}
	}
	if obj, ok := v.(map[string]any); ok {
		if req, ok := node["required"].([]any); ok {
			for _, name := range req {
				if _, ok := obj[name.(string)]; !ok {
					fail("required property %q is missing", name)
				}
			}
		}
		props, _ := node["properties"].(map[string]any)
		for name, val := range obj {
			sub, declared := props[name]
			if !declared {
				if node["additionalProperties"] == false {
					fail("property %q is not allowed", name)
				}
				continue
			}
			errs = append(errs, validate(sub.(map[string]any), val, path+"/"+name)...)
		}
	}
	if s, ok := v.(string); ok {
		if f, ok := node["format"].(string); ok && !formats[f](s) {
			fail("not a valid %q", f)
		}
		if p, ok := node["pattern"].(string); ok && !regexp.MustCompile(p).MatchString(s) {
			fail("does not match pattern %q", p)
		}
		n := float64(utf8.RuneCountInString(s))
		if m, ok := node["minLength"].(float64); ok && n < m {
			fail("shorter than %v characters", m)
		}
		if m, ok := node["maxLength"].(float64); ok && n > m {
			fail("longer than %v characters", m)
		}
	}
	sort.Strings(errs)
	return errs
}

// checkPayload returns the violations of the schema by payload.
func checkPayload(tb testing.TB, payload []byte) []string {
	tb.Helper()
	schema, err := loadSchema()
	if err != nil {
		tb.Fatal(err)
	}
	var v any
	if err := json.Unmarshal(payload, &v); err != nil {
		return []string{"not JSON: " + err.Error()}
	}
	return validate(schema, v, "#")
}

func TestSchemaFile(t *testing.T) {
	onDisk, err := os.ReadFile("schema/users_created.v1.json")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(onDisk, transform.PayloadSchema) {
		t.Error("PayloadSchema differs from schema/users_created.v1.json")
	}
	schema, err := loadSchema()
	if err != nil {
		t.Fatal(err)
	}
	if got := schema["$schema"]; got != "https://json-schema.org/draft/2020-12/schema" {
		t.Errorf("$schema = %v, want draft 2020-12", got)
	}
	if !strings.Contains(schema["$id"].(string), "v"+transform.SchemaVersion+".json") {
		t.Errorf("$id %v does not name SchemaVersion %s", schema["$id"], transform.SchemaVersion)
	}
}

// The schema, the Row type, the decoder and the encoder name the same fields.
func TestSchemaFieldsMatchEncoder(t *testing.T) {
	schema, err := loadSchema()
	if err != nil {
		t.Fatal(err)
	}
	keysOf := func(m map[string]any) []string {
		var ks []string
		for k := range m {
			ks = append(ks, k)
		}
		slices.Sort(ks)
		return ks
	}
	writtenKeys := func(r transform.Row) []string {
		var m map[string]any
		if err := json.Unmarshal(transform.AppendJSON(nil, r), &m); err != nil {
			t.Fatal(err)
		}
		return keysOf(m)
	}

	properties := keysOf(schema["properties"].(map[string]any))
	var tags []string
	rt := reflect.TypeFor[transform.Row]()
	for i := range rt.NumField() {
		tags = append(tags, strings.Split(rt.Field(i).Tag.Get("json"), ",")[0])
	}
	slices.Sort(tags)
	decoded := slices.Sorted(slices.Values(transform.FieldNames[:]))

	if got := writtenKeys(validRow()); !slices.Equal(got, properties) {
		t.Errorf("encoder writes %v; schema properties are %v", got, properties)
	}
	if !slices.Equal(tags, properties) {
		t.Errorf("Row's json tags are %v; schema properties are %v", tags, properties)
	}
	if !slices.Equal(decoded, properties) {
		t.Errorf("decoder knows %v; schema properties are %v", decoded, properties)
	}

	var required []string
	for _, r := range schema["required"].([]any) {
		required = append(required, r.(string))
	}
	slices.Sort(required)
	// Required = what the encoder writes even for an empty row.
	if got := writtenKeys(transform.Row{}); !slices.Equal(got, required) {
		t.Errorf("encoder always writes %v; schema requires %v", got, required)
	}
}

func TestMarshalConformsToSchema(t *testing.T) {
	rows := append(roundTripRows(), transform.FromUser(apiUser()))
	rng := rand.New(rand.NewPCG(1, 2))
	for range 500 {
		rows = append(rows, randomValidRow(rng))
	}
	for _, r := range rows {
		b, err := transform.Marshal(r)
		if err != nil {
			t.Fatalf("Marshal(%+v): %v", r, err)
		}
		if errs := checkPayload(t, b); len(errs) > 0 {
			t.Errorf("Marshal wrote %s, which breaks the schema: %v", b, errs)
		}
	}
}

// randomValidRow returns a row that passes Validate, with random text.
func randomValidRow(rng *rand.Rand) transform.Row {
	text := func(maxRunes int) string {
		alphabet := []rune("aZ09 -'.,/\\\"\n\t\x00é€😀آ\u2028<>&")
		var b strings.Builder
		for n := rng.IntN(maxRunes + 1); n > 0; n-- {
			b.WriteRune(alphabet[rng.IntN(len(alphabet))])
		}
		return b.String()
	}
	var id [16]byte
	for i := range id {
		id[i] = byte(rng.IntN(256))
	}
	id[0] |= 1 // never the nil UUID
	ts := func() string {
		return fmt.Sprintf("%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", 1900+rng.IntN(200), 1+rng.IntN(12),
			1+rng.IntN(28), rng.IntN(24), rng.IntN(60), rng.IntN(60), rng.IntN(1000))
	}
	r := transform.Row{
		ID:        fmt.Sprintf("%x-%x-%x-%x-%x", id[0:4], id[4:6], id[6:8], id[8:10], id[10:]),
		FirstName: "F" + text(20), LastName: text(20) + "L", Gender: text(10), Address: text(100),
		PostCode: text(10), Email: "user" + fmt.Sprint(rng.IntN(1000)) + "@example.com", Username: text(20),
		RegisteredDate: ts(), Phone: text(20), Picture: text(60),
	}
	if rng.IntN(2) == 0 {
		r.DOB = ts()
	}
	return r
}

// The checker itself finds each kind of violation, so a passing
// TestMarshalConformsToSchema means something.
func TestSchemaCheckerRejects(t *testing.T) {
	valid := func() map[string]any {
		var m map[string]any
		if err := json.Unmarshal(transform.AppendJSON(nil, validRow()), &m); err != nil {
			t.Fatal(err)
		}
		return m
	}
	tests := []struct {
		name   string
		change func(m map[string]any)
		want   string
	}{
		{"unknown field", func(m map[string]any) { m["nat"] = "GB" }, `"nat" is not allowed`},
		{"missing id", func(m map[string]any) { delete(m, "id") }, `required property "id"`},
		{"missing registered_date", func(m map[string]any) { delete(m, "registered_date") }, `required property "registered_date"`},
		{"numeric id", func(m map[string]any) { m["id"] = 12 }, "#/id: want a string"},
		{"numeric post_code (the decoder's leniency is not the encoder's output)", func(m map[string]any) { m["post_code"] = 70963 }, "#/post_code: want a string"},
		{"null phone", func(m map[string]any) { m["phone"] = nil }, "#/phone: want a string"},
		{"bad uuid", func(m map[string]any) { m["id"] = "not-a-uuid" }, `#/id: not a valid "uuid"`},
		{"bad email", func(m map[string]any) { m["email"] = "nobody" }, `#/email: not a valid "email"`},
		{"bad dob", func(m map[string]any) { m["dob"] = "1952-12-25" }, `#/dob: not a valid "date-time"`},
		{"bad registered_date", func(m map[string]any) { m["registered_date"] = "yesterday" }, `#/registered_date: not a valid "date-time"`},
		{"blank first_name", func(m map[string]any) { m["first_name"] = " " }, "#/first_name: does not match pattern"},
		{"empty last_name", func(m map[string]any) { m["last_name"] = "" }, "#/last_name: does not match pattern"},
		{"overlong address", func(m map[string]any) { m["address"] = strings.Repeat("é", 1025) }, "#/address: longer than 1024"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := valid()
			tt.change(m)
			b, err := json.Marshal(m)
			if err != nil {
				t.Fatal(err)
			}
			errs := checkPayload(t, b)
			if !slices.ContainsFunc(errs, func(e string) bool { return strings.Contains(e, tt.want) }) {
				t.Errorf("violations %v, want one containing %q", errs, tt.want)
			}
		})
	}
	if errs := checkPayload(t, []byte(`[]`)); len(errs) == 0 {
		t.Error("an array passes the schema")
	}
	if errs := checkPayload(t, transform.AppendJSON(nil, validRow())); len(errs) != 0 {
		t.Errorf("the valid row breaks the schema: %v", errs)
	}
}

func TestCheckerRefusesUnknownKeywords(t *testing.T) {
	for _, s := range []string{
		`{"type":"object","minProperties":1}`,
		`{"properties":{"id":{"type":"string","enum":["a"]}}}`,
		`{"type":"integer"}`,
		`{"properties":{"id":{"format":"ipv4"}}}`,
	} {
		var node map[string]any
		if err := json.Unmarshal([]byte(s), &node); err != nil {
			t.Fatal(err)
		}
		if err := checkSupported(node, "#"); err == nil {
			t.Errorf("checkSupported(%s) = nil, want an error", s)
		}
	}
}
