package console

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/userstream/userstream/explain"
	"github.com/userstream/userstream/kafkasink/outbox"
)

// fakeExplainer answers for the ids it knows, fails with err otherwise.
type fakeExplainer struct {
	reports map[string]*explain.Report
	err     error
}

func (f fakeExplainer) User(_ context.Context, id string) (*explain.Report, error) {
	if r, ok := f.reports[id]; ok {
		return r, nil
	}
	if f.err != nil {
		return nil, f.err
	}
	return nil, &outbox.InvalidIDError{ID: id}
}

// explain.json answers the search box: the report of a known id (its
// letters' errors clipped), 400 for an id that is not one, 502 with the
// clipped error when a server fails, and 404 without an Explainer; the
// status says whether the page shows the box.
func TestExplainSearch(t *testing.T) {
	const id = "7a0eed16-9430-4d68-901f-c0d4c1c3bf00"
	long := strings.Repeat("e", 1000)
	rep := &explain.Report{ID: id, Verdict: explain.DeadLettered, Summary: "dead-lettered",
		DeadLetters: explain.DeadLetterHop{Checked: true, Letters: []explain.Letter{{Reason: "decode", Error: long}}}}
	ex := fakeExplainer{reports: map[string]*explain.Report{id: rep}, err: errors.New("cassandra: " + long)}
	c, err := New(WithGatherer(prometheus.NewRegistry()), WithExplainer(ex))
	if err != nil {
		t.Fatal(err)
	}
	if st := c.status(context.Background(), time.Now()); !st.HasExplain {
		t.Error("status: has_explain false with an Explainer")
	}
	srv := httptest.NewServer(c)
	defer srv.Close()
	get := func(q string) (int, map[string]any) {
		t.Helper()
		resp, err := http.Get(srv.URL + "/explain.json" + q)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		var body map[string]any
		if resp.StatusCode != 404 {
			if err := json.Unmarshal(b, &body); err != nil || resp.Header.Get("Cache-Control") != "no-store" {
				t.Fatalf("GET %s: %d %s: %v", q, resp.StatusCode, b, err)
			}
		}
		return resp.StatusCode, body
	}

	code, body := get("?id=" + strings.ToUpper(id))
	if code != 200 || body["verdict"] != "dead-lettered" || body["id"] != id {
		t.Errorf("known id: %d %v", code, body)
	}
	letters := body["dead_letters"].(map[string]any)["letters"].([]any)
	if e := letters[0].(map[string]any)["error"].(string); len(e) > maxErrorText+10 {
		t.Errorf("a letter's error of %d bytes shown whole", len(e))
	}
	if code, body := get("?id=nope"); code != 400 || body["error"] == "" {
		t.Errorf("short id: %d %v", code, body)
	}
	if code, body := get("?id=zzzzzzzz-9430-4d68-901f-c0d4c1c3bf00"); code != 502 || len(body["error"].(string)) > maxErrorText+10 {
		t.Errorf("failing explainer: %d %v", code, body)
	}

	bare, err := New(WithGatherer(prometheus.NewRegistry()))
	if err != nil {
		t.Fatal(err)
	}
	srv2 := httptest.NewServer(bare)
	defer srv2.Close()
	resp, err := http.Get(srv2.URL + "/explain.json?id=" + id)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 {
		t.Errorf("without an Explainer: %d, want 404", resp.StatusCode)
	}
	if bare.status(context.Background(), time.Now()).HasExplain {
		t.Error("status: has_explain true without an Explainer")
	}
}
