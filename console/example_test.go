package console_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/userstream/userstream/console"
)

// A service serves the page beside its own routes, over its registry. A
// program would also pass its run ledger (console.WithRuns(ledger)) and a
// dead-letter queue (console.WithDeadLetters(q), q a *dlq.Queue).
func Example() {
	reg := prometheus.NewRegistry()
	stored := prometheus.NewCounter(prometheus.CounterOpts{Name: "userstream_rows_stored_total", Help: "Rows written to Cassandra."})
	reg.MustRegister(stored)
	stored.Add(1200)

	c, err := console.New(console.WithGatherer(reg), console.WithTitle("users service"))
	if err != nil {
		log.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = c.Run(ctx) }() // the chart's history, sampled every second

	mux := http.NewServeMux()
	mux.Handle("/console/", http.StripPrefix("/console", c))
	srv := httptest.NewServer(mux)
	defer srv.Close()

	// What the page's script polls.
	resp, err := http.Get(srv.URL + "/console/status.json")
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	var st struct {
		Title  string
		Stages []struct {
			Name  string
			Total *float64
		}
	}
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		log.Fatal(err)
	}
	fmt.Println(st.Title)
	for _, s := range st.Stages {
		if s.Total != nil {
			fmt.Printf("%s: %.0f\n", s.Name, *s.Total)
		}
	}
	// Output:
	// users service
	// stored: 1200
}

// A dead letter's payload is shown only as a redacted preview.
func ExamplePreview() {
	fmt.Println(console.Preview([]byte(`{"id":"1f0c6a52-7c55-4b2e-9d7e-2f4a8f3b1c6d","email":"jane.doe@example","phone":"(555) 123-4567"}`), 240))
	fmt.Println(console.Preview([]byte("<html>502 Bad Gateway</html>"), 240))
	// Output:
	// {"id":"1f0c6a52-7c55-4b2e-9d7e-2f4a8f3b1c6d","email":"xxxx.xxx@xxxxxxx","phone":"(999) 999-9999"}
	// <xxxx>999 xxx xxxxxxx</xxxx>
}
