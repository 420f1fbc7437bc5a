package console

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// maxValueRunes caps one JSON value in a preview, so that one long field
// (a 900 KB name) leaves room for the others.
const maxValueRunes = 24

// Preview returns a redacted preview of a payload, at most n characters:
// what the console shows of a dead letter. It shows no user data:
//
//   - JSON keeps its keys (the schema, not the data) and the shape of
//     every value: letters become x and digits 9, punctuation stays, so
//     that "jane.doe@example.com" shows as "xxxx.xxx@xxxxxxx.xxx" and a
//     missing @ is visible; a long value is cut, with its length;
//   - the value of an "id" key is kept when it is made of hex digits and
//     dashes (a UUID: what operators search for, not personal data);
//   - other text is shaped the same way; bytes that are not UTF-8 text
//     show as their size only.
func Preview(value []byte, n int) string {
	switch {
	case len(value) == 0:
		return "(empty)"
	case !utf8.Valid(value):
		return fmt.Sprintf("(%d bytes, not UTF-8 text)", len(value))
	case json.Valid(value):
		if s, ok := previewJSON(value, n); ok {
			return s
		}
	}
	r := []rune(string(value[:min(len(value), 4*n)]))
	return clip(shape(string(r[:min(len(r), n)]))+tail(len(r) > n || 4*n < len(value)), n)
}

func tail(cut bool) string {
	if cut {
		return "…"
	}
	return ""
}

// frame is an open JSON object or array.
type frame struct {
	object    bool
	expectKey bool
	count     int
	key       string // the key of the value being read
}

// previewJSON re-emits a valid JSON document with every value shaped,
// stopping once the preview is long enough.
func previewJSON(value []byte, n int) (string, bool) {
	dec := json.NewDecoder(bytes.NewReader(value))
	dec.UseNumber()
	var b strings.Builder
	var stack []*frame
	for b.Len() < 4*n {
		tok, err := dec.Token()
		if err != nil {
			break // the end: the document was valid
		}
		var top *frame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		if d, ok := tok.(json.Delim); ok && (d == '}' || d == ']') {
			stack = stack[:len(stack)-1]
			b.WriteRune(rune(d))
			continue
		}
		if top != nil && top.object && top.expectKey {
			if top.count > 0 {
				b.WriteByte(',')
			}
			top.count++
			top.key, _ = tok.(string)
			b.WriteString(strconv.Quote(safeKey(top.key)))
			b.WriteByte(':')
			top.expectKey = false
			continue
		}
		if top != nil && !top.object {
			if top.count > 0 {
				b.WriteByte(',')
			}
			top.count++
		}
		key := ""
		if top != nil {
			key = top.key
			top.expectKey = top.object
		}
		switch v := tok.(type) {
		case json.Delim:
			b.WriteRune(rune(v))
			stack = append(stack, &frame{object: v == '{', expectKey: v == '{'})
		case string:
			if key == "id" && isHexID(v) {
				b.WriteString(strconv.Quote(v))
			} else {
				b.WriteString(strconv.Quote(shapeValue(v)))
			}
		case json.Number:
			b.WriteString(shapeValue(v.String()))
		case bool:
			b.WriteString(strconv.FormatBool(v))
		case nil:
			b.WriteString("null")
		}
	}
	return clip(b.String(), n), true
}

// shapeValue shapes s and cuts it at maxValueRunes, giving the length of a
// value cut.
func shapeValue(s string) string {
	if n := utf8.RuneCountInString(s); n > maxValueRunes {
		r := []rune(s)
		return shape(string(r[:maxValueRunes])) + fmt.Sprintf("…(%d chars)", n)
	}
	return shape(s)
}

// shape replaces letters with x and digits with 9, keeps punctuation and
// spaces, and shows any other character (controls, symbols) as ?.
func shape(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case unicode.IsLetter(r):
			return 'x'
		case unicode.IsDigit(r):
			return '9'
		case r == ' ' || (r < utf8.RuneSelf && unicode.IsPunct(r)) || strings.ContainsRune("<>=+$^`|~", r):
			return r
		case unicode.IsSpace(r):
			return ' '
		}
		return '?'
	}, s)
}

// safeKey keeps a key that looks like a field name and shapes any other:
// in a payload that is not a row, a key may be data.
func safeKey(k string) string {
	if len(k) == 0 || len(k) > 40 {
		return shapeValue(k)
	}
	for i, r := range k {
		if !(r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || i > 0 && (r >= '0' && r <= '9' || r == '-' || r == '.')) {
			return shapeValue(k)
		}
	}
	return k
}

func isHexID(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for _, r := range s {
		if !(r == '-' || r >= '0' && r <= '9' || r >= 'a' && r <= 'f' || r >= 'A' && r <= 'F') {
			return false
		}
	}
	return true
}
