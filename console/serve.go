package console

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
)

// Paths of the endpoints [Handle] registers.
const (
	PathMetrics = "/metrics"
	PathHealth  = "/healthz"
	PathPprof   = "/debug/pprof/"
)

// ShutdownTimeout is how long a [Server] gives the requests in flight to
// finish once its context ends.
const ShutdownTimeout = 2 * time.Second

// Handle registers on mux the operating endpoints a process of the pipeline
// serves beside its status page:
//
//	/metrics       g's metrics and the runtime's, in Prometheus's text format (promhttp)
//	/healthz       200 "ok\n" while the process serves
//	/debug/pprof/  the Go runtime's profiles (net/http/pprof), for go tool pprof
//
// g is usually the registry handed to the SDK's WithMetrics options.
// /metrics adds the Go runtime's and the process's series (go_*, process_*:
// the alert rules of examples/prometheus read process_start_time_seconds)
// from collectors of the package's own, unless g has a family of that name
// already (prometheus.DefaultGatherer has them): so the console, given g,
// does not gather them every second (the process collector reads /proc).
//
// The console itself is the caller's to mount, at "/" (mux.Handle("/", c))
// or under a prefix with http.StripPrefix, once its sources exist: a
// process may serve /metrics and /healthz while it is still connecting.
// Handle panics, as http.ServeMux.Handle does, when one of these paths is
// registered on mux already.
func Handle(mux *http.ServeMux, g prometheus.Gatherer) {
	mux.Handle(PathMetrics, promhttp.HandlerFor(withRuntime{g}, promhttp.HandlerOpts{}))
	mux.HandleFunc(PathHealth, func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	mux.HandleFunc(PathPprof, pprof.Index) // the named profiles: heap, goroutine, allocs…
	mux.HandleFunc(PathPprof+"cmdline", pprof.Cmdline)
	mux.HandleFunc(PathPprof+"profile", pprof.Profile)
	mux.HandleFunc(PathPprof+"symbol", pprof.Symbol)
	mux.HandleFunc(PathPprof+"trace", pprof.Trace)
}

// runtimeRegistry holds the Go runtime's and the process's collectors,
// shared by every Handle: collectors of the one process.
var runtimeRegistry = sync.OnceValue(func() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
})

// withRuntime gathers g, then the runtime's families g does not have.
type withRuntime struct{ g prometheus.Gatherer }

func (w withRuntime) Gather() ([]*dto.MetricFamily, error) {
	mfs, err := w.g.Gather()
	if err != nil && len(mfs) == 0 {
		return nil, err
	}
	have := make(map[string]bool, len(mfs))
	for _, mf := range mfs {
		have[mf.GetName()] = true
	}
	rt, rerr := runtimeRegistry().Gather()
	for _, mf := range rt {
		if !have[mf.GetName()] {
			mfs = append(mfs, mf)
		}
	}
	slices.SortFunc(mfs, func(a, b *dto.MetricFamily) int { return strings.Compare(a.GetName(), b.GetName()) })
	return mfs, errors.Join(err, rerr)
}

// Server is an HTTP server started by [Serve]; it stops when Serve's
// context ends.
type Server struct {
	addr net.Addr
	done chan struct{}
	err  error
}

// Serve listens on addr ("host:port"; port 0 picks a free one) and serves h
// there from a goroutine of its own until ctx ends; then it shuts the server
// down, giving requests in flight [ShutdownTimeout]. It returns once it
// listens, so that a taken port fails the caller at start, with an error
// naming addr. Requests get 5 seconds to send their headers.
func Serve(ctx context.Context, addr string, h http.Handler) (*Server, error) {
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("console: listen on %q: %w", addr, err)
	}
	s := &Server{addr: ln.Addr(), done: make(chan struct{})}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	stopped := context.AfterFunc(ctx, func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), ShutdownTimeout)
		defer cancel()
		_ = srv.Shutdown(sctx)
	})
	go func() {
		defer close(s.done)
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			s.err = err
			stopped()
			_ = srv.Close()
			return
		}
		<-ctx.Done() // Serve returned at Shutdown's start: wait for it
		s.waitShutdown(srv)
	}()
	return s, nil
}

// waitShutdown returns once the connections Shutdown closes are gone, at
// most ShutdownTimeout after the context ended.
func (s *Server) waitShutdown(srv *http.Server) {
	// Shutdown runs in the AfterFunc goroutine; a second call waits for the
	// same idle connections and returns when they are closed.
	ctx, cancel := context.WithTimeout(context.Background(), ShutdownTimeout)
	defer cancel()
	_ = srv.Shutdown(ctx)
}

// Addr returns the address the server listens on: the port chosen when
// Serve was given port 0.
func (s *Server) Addr() net.Addr { return s.addr }

// Done returns a channel closed once the server has stopped: its context
// ended and the requests in flight finished (or ShutdownTimeout passed), or
// serving failed.
func (s *Server) Done() <-chan struct{} { return s.done }

// Err returns, once Done is closed, the error that stopped the server other
// than its context ending (an accept that failed); nil before, and after
// a shutdown.
func (s *Server) Err() error {
	select {
	case <-s.done:
		return s.err
	default:
		return nil
	}
}
