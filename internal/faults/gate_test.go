//go:build faults || cluster || network

package faults_test

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"

	"github.com/userstream/userstream/randomuser/randomusertest"
)

// gate is the offline Random User API with a hand on the tap: it serves
// the pages up to its limit and holds every later page's request until the
// limit is raised. A scenario sets the limit to the share of users it
// wants through the pipeline before a fault, waits until that much has
// passed the stage it watches (nothing more can arrive, so no sampler can
// miss the moment), injects the fault and only then opens the gate. The
// fault so lands at the same point of the stream on a fast machine and a
// slow one.
type gate struct {
	srv *httptest.Server
	api *randomusertest.Handler // the API behind the tap: SetDay moves its users on

	mu      sync.Mutex
	allowed int           // pages served without waiting
	raised  chan struct{} // closed when limit is raised
	served  int           // highest page fully served
	notify  chan struct{} // closed when served grows
}

const unlimited = math.MaxInt

// newGate returns a gate serving limit pages, of an API made with opts.
func newGate(t *testing.T, limit int, opts ...randomusertest.Opt) *gate {
	t.Helper()
	h, err := randomusertest.NewHandler(opts...)
	if err != nil {
		t.Fatal(err)
	}
	g := &gate{api: h, allowed: limit, raised: make(chan struct{}), notify: make(chan struct{})}
	g.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		page := 1
		if p, err := strconv.Atoi(r.URL.Query().Get("page")); err == nil && p > 1 {
			page = p
		}
		if !g.await(r.Context(), page) {
			return // the client gave up; it will ask again
		}
		h.ServeHTTP(w, r)
		g.done(page)
	}))
	t.Cleanup(func() {
		g.set(unlimited) // let held requests go before Close waits for them
		g.srv.Close()
	})
	return g
}

// baseURL is the API's base URL, for the producer's -api-url.
func (g *gate) baseURL() string { return g.srv.URL + "/api/" }

// await blocks until page is within the limit or ctx ends.
func (g *gate) await(ctx context.Context, page int) bool {
	for {
		g.mu.Lock()
		ok, raised := page <= g.allowed, g.raised
		g.mu.Unlock()
		if ok {
			return true
		}
		select {
		case <-raised:
		case <-ctx.Done():
			return false
		}
	}
}

func (g *gate) done(page int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if page > g.served {
		g.served = page
		close(g.notify)
		g.notify = make(chan struct{})
	}
}

// set moves the limit to pages.
func (g *gate) set(pages int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.allowed = pages
	close(g.raised)
	g.raised = make(chan struct{})
}

// open lets every page through.
func (g *gate) open() { g.set(unlimited) }

// waitServed waits until page has been served in full: the producer holds
// users the gate let through after the fault.
func (g *gate) waitServed(ctx context.Context, page int) error {
	for {
		g.mu.Lock()
		ok, notify := g.served >= page, g.notify
		g.mu.Unlock()
		if ok {
			return nil
		}
		select {
		case <-notify:
		case <-ctx.Done():
			return fmt.Errorf("waiting for the API to serve page %d: %w", page, ctx.Err())
		}
	}
}

// limit returns the pages served without waiting.
func (g *gate) limit() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.allowed
}
