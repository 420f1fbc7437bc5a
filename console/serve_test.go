package console_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/userstream/userstream/console"
)

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// Handle and Serve give a process its operating endpoints beside the
// console, on its own mux, until its context ends.
func TestServeHandleAndStop(t *testing.T) {
	reg := prometheus.NewRegistry()
	stored := prometheus.NewCounter(prometheus.CounterOpts{Name: "userstream_rows_stored_total", Help: "Rows written."})
	reg.MustRegister(stored)
	stored.Add(42)
	c, err := console.New(console.WithGatherer(reg), console.WithTitle("serve test"))
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	console.Handle(mux, reg)
	mux.HandleFunc("/own", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("mine")) })

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	srv, err := console.Serve(ctx, "127.0.0.1:0", mux)
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + srv.Addr().String()
	if code, body := get(t, base+"/metrics"); code != 200 || !strings.Contains(body, "userstream_rows_stored_total 42") ||
		!strings.Contains(body, "\nprocess_start_time_seconds ") || !strings.Contains(body, "\ngo_goroutines ") {
		t.Errorf("/metrics: %d %q", code, body)
	}
	if code, body := get(t, base+"/healthz"); code != 200 || body != "ok\n" {
		t.Errorf("/healthz: %d %q", code, body)
	}
	if code, body := get(t, base+"/debug/pprof/"); code != 200 || !strings.Contains(body, "goroutine") {
		t.Errorf("/debug/pprof/: %d, %d bytes", code, len(body))
	}
	if code, body := get(t, base+"/debug/pprof/goroutine?debug=1"); code != 200 || !strings.Contains(body, "goroutine profile") {
		t.Errorf("/debug/pprof/goroutine: %d, %d bytes", code, len(body))
	}
	if code, body := get(t, base+"/own"); code != 200 || body != "mine" {
		t.Errorf("the caller's route: %d %q", code, body)
	}
	// Before the console is mounted, / is the mux's 404; after, the page.
	if code, _ := get(t, base+"/"); code != http.StatusNotFound {
		t.Errorf("/ before the console is mounted: %d, want 404", code)
	}
	mux.Handle("/", c)
	if code, body := get(t, base+"/"); code != 200 || !strings.Contains(body, "<html") {
		t.Errorf("/ once mounted: %d, %d bytes", code, len(body))
	}

	select {
	case <-srv.Done():
		t.Fatal("server stopped before its context ended")
	default:
	}
	cancel()
	<-srv.Done()
	if err := srv.Err(); err != nil {
		t.Errorf("Err after a shutdown: %v", err)
	}
	if conn, err := net.Dial("tcp", srv.Addr().String()); err == nil {
		conn.Close()
		t.Error("still listening after its context ended")
	}
}

// A taken address fails Serve at once, naming it.
func TestServeTakenAddress(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	srv, err := console.Serve(context.Background(), ln.Addr().String(), http.NewServeMux())
	if err == nil {
		t.Fatalf("Serve on a taken address succeeded: %v", srv.Addr())
	}
	if !strings.Contains(err.Error(), ln.Addr().String()) {
		t.Errorf("error %q does not name the address", err)
	}
}

// A service mounts the status page and the operating endpoints on its own
// mux, and serves them until its context ends.
func ExampleServe() {
	reg := prometheus.NewRegistry() // handed to the SDK's WithMetrics options
	c, err := console.New(console.WithGatherer(reg))
	if err != nil {
		panic(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = c.Run(ctx) }()

	mux := http.NewServeMux()
	console.Handle(mux, reg) // /metrics, /healthz, /debug/pprof/
	mux.Handle("/", c)       // the status page
	srv, err := console.Serve(ctx, "127.0.0.1:0", mux)
	if err != nil {
		panic(err)
	}
	resp, err := http.Get("http://" + srv.Addr().String() + "/healthz")
	if err != nil {
		panic(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	fmt.Print(string(b))

	cancel()
	<-srv.Done() // shut down
	// Output: ok
}

// A gatherer that has the runtime's collectors already (the default one)
// gets them once: a family served twice would fail every scrape.
func TestHandleDefaultGatherer(t *testing.T) {
	mux := http.NewServeMux()
	console.Handle(mux, prometheus.DefaultGatherer)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	code, body := get(t, srv.URL+"/metrics")
	if code != 200 || strings.Count(body, "\nprocess_start_time_seconds ") != 1 || strings.Count(body, "# TYPE go_goroutines ") != 1 {
		t.Errorf("/metrics over the default gatherer: %d %q", code, body)
	}
}
