package randomuser_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/userstream/userstream/randomuser"
)

// FuzzDecodePage feeds arbitrary bodies to the decoder. It must never
// panic, every error must be one of the documented types with an offset
// inside the body, a successful decode must agree with info.results, and
// skipping credentials must not change the other fields.
func FuzzDecodePage(f *testing.F) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.json"))
	if err != nil {
		f.Fatal(err)
	}
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"results":[{"location":{"postcode":-0}}],"info":{"results":1}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		all, dec, errAll := decodeAll(t, body, true)
		public, _, errPublic := decodeAll(t, body, false)
		// Skipped credential fields are not type-checked, so a body may
		// fail only when they are decoded, never the other way round.
		if len(public) < len(all) || errAll == nil && (errPublic != nil || len(public) != len(all)) {
			t.Fatalf("credentials changed the outcome: %v (%d users) vs %v (%d users)", errAll, len(all), errPublic, len(public))
		}
		for i := range all {
			want := all[i]
			want.Login = randomuser.Login{UUID: want.Login.UUID, Username: want.Login.Username}
			if string(mustMarshal(t, want)) != string(mustMarshal(t, public[i])) {
				t.Fatalf("user %d differs without credentials", i)
			}
		}
		if errAll == nil {
			if info, ok := dec.Info(); ok && len(all) < info.Results {
				t.Fatalf("%d users, info.results %d, but no error", len(all), info.Results)
			}
			return
		}
		var de *randomuser.DecodeError
		var re *randomuser.ResponseError
		switch {
		case errors.As(errAll, &de):
			if de.Offset < 0 || de.Offset > int64(len(body)) {
				t.Fatalf("offset %d outside the %d-byte body: %v", de.Offset, len(body), errAll)
			}
			if de.Kind == nil || !errors.Is(errAll, de.Kind) {
				t.Fatalf("DecodeError without kind: %v", errAll)
			}
		case errors.As(errAll, &re):
			if !errors.Is(errAll, randomuser.ErrUnavailable) {
				t.Fatalf("error body does not match ErrUnavailable: %v", errAll)
			}
		default:
			t.Fatalf("untyped error %T: %v", errAll, errAll)
		}
		_ = errAll.Error()
	})
}
