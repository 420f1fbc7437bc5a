package main

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/userstream/userstream/randomuser/randomusertest"
)

// everyTenthEmailBroken serves the offline API with every tenth user's email
// made invalid, as an API bug would.
func everyTenthEmailBroken(t *testing.T) string {
	h, err := randomusertest.NewHandler()
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		parts := strings.Split(rec.Body.String(), `"email":"`)
		for i := 1; i < len(parts); i++ {
			if i%10 == 0 {
				parts[i] = "not an email " + parts[i]
			}
		}
		for k, v := range rec.Header() {
			if k != "Content-Length" {
				w.Header()[k] = v
			}
		}
		w.WriteHeader(rec.Code)
		_, _ = w.Write([]byte(strings.Join(parts, `"email":"`)))
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/api/"
}

// Invalid users are counted, logged and left out; the rest of their page
// is staged and stored, and verification holds.
func TestInvalidUsersAreLeftOut(t *testing.T) {
	cfg := testConfig(t, 1000)
	cfg.offline, cfg.apiURL, cfg.pageSize = false, everyTenthEmailBroken(t), 100
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var out bytes.Buffer
	reports, err := run(ctx, cfg, quiet, &out)
	if err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	r := reports[0]
	if r.Fetched != 1000 || r.Invalid != 100 || r.Staged != 900 || r.Stored != 900 {
		t.Errorf("fetched %d, invalid %d, staged %d, stored %d; want 1000, 100, 900, 900", r.Fetched, r.Invalid, r.Staged, r.Stored)
	}
	if v := r.Verification; v == nil || v.Unique != 900 || v.Found != 900 || r.TableRows != 900 {
		t.Errorf("verification %+v, table rows %d; want the 900 valid users", v, r.TableRows)
	}
}
