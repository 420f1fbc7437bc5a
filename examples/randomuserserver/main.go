// Command randomuserserver serves an offline imitation of the Random User
// API 1.4 (https://randomuser.me/api/) with optional fault injection, for
// demos and load tests on machines without internet access.
//
//	go run ./examples/randomuserserver -addr :8080 -error-rate 0.05 -truncate-rate 0.01
//	curl 'http://localhost:8080/api/1.4/?results=5&seed=demo&nat=gb,no'
//
// With -change-share, a later -day returns that share of each day's users
// changed (new email, phone, location and picture, same login.uuid), so a
// pipeline fed again with the same seeds has updates to carry:
//
//	go run ./examples/randomuserserver -change-share 0.1 -day 2
//
// Point a client at it with randomuser.WithBaseURL("http://localhost:8080/api/").
// See package randomusertest for what is emulated.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/userstream/userstream/randomuser/randomusertest"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "randomuserserver:", err)
		os.Exit(1)
	}
}

// config holds the flags; each defaults to an environment variable.
type config struct {
	addr          string
	latency       time.Duration
	errorRate     float64
	errorStatus   int
	errorBodyRate float64
	truncateRate  float64
	emptyRate     float64
	tooManyRate   float64
	retryAfter    time.Duration
	rateLimit     int
	rateWindow    time.Duration
	faultSeed     uint64
	gzip          bool
	debug         bool
	changeShare   float64
	day           int
}

func parseFlags(args []string) (config, error) {
	var c config
	fs := flag.NewFlagSet("randomuserserver", flag.ContinueOnError)
	fs.StringVar(&c.addr, "addr", env("USERSTREAM_RANDOMUSER_ADDR", ":8080"), "listen address ($USERSTREAM_RANDOMUSER_ADDR)")
	fs.DurationVar(&c.latency, "latency", envDuration("USERSTREAM_RANDOMUSER_LATENCY", 0), "delay added to every response ($USERSTREAM_RANDOMUSER_LATENCY)")
	fs.Float64Var(&c.errorRate, "error-rate", envFloat("USERSTREAM_RANDOMUSER_ERROR_RATE", 0), "fraction of requests answered with -error-status and a non-JSON body")
	fs.IntVar(&c.errorStatus, "error-status", 503, "status of -error-rate faults (500 plain text; 502, 503, 504 nginx HTML)")
	fs.Float64Var(&c.errorBodyRate, "error-body-rate", 0, `fraction of requests answered 200 {"error": "Uh oh, ..."}`)
	fs.Float64Var(&c.truncateRate, "truncate-rate", envFloat("USERSTREAM_RANDOMUSER_TRUNCATE_RATE", 0), "fraction of responses cut in half, connection dropped")
	fs.Float64Var(&c.emptyRate, "empty-rate", 0, "fraction of responses with the empty-results outage body")
	fs.Float64Var(&c.tooManyRate, "429-rate", 0, "fraction of requests answered 429 with Retry-After -retry-after")
	fs.DurationVar(&c.retryAfter, "retry-after", time.Second, "Retry-After of -429-rate faults")
	fs.IntVar(&c.rateLimit, "rate-limit", 0, "emulate the API's per-IP limit of this many users per -rate-window (the public API: 20000); 0 disables")
	fs.DurationVar(&c.rateWindow, "rate-window", 5*time.Minute, "window of -rate-limit")
	fs.Uint64Var(&c.faultSeed, "fault-seed", 1, "seed of the random fault sequence")
	fs.BoolVar(&c.gzip, "gzip", false, "gzip responses for clients that accept it")
	fs.Float64Var(&c.changeShare, "change-share", envFloat("USERSTREAM_RANDOMUSER_CHANGE_SHARE", 0), "share of users (0-1) that change email, phone, location and picture on each day from 1 on; 0: users never change ($USERSTREAM_RANDOMUSER_CHANGE_SHARE)")
	fs.IntVar(&c.day, "day", envInt("USERSTREAM_RANDOMUSER_DAY", 0), "day to serve: 0 is the users as first generated; day d has the changes of days 1 to d ($USERSTREAM_RANDOMUSER_DAY)")
	fs.BoolVar(&c.debug, "debug", false, "log every request")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	return c, nil
}

func run(ctx context.Context, args []string) error {
	c, err := parseFlags(args)
	if err != nil {
		return err
	}
	level := slog.LevelInfo
	if c.debug {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: level}))

	opts := []randomusertest.Opt{
		randomusertest.WithLatency(c.latency),
		randomusertest.WithFaultSeed(c.faultSeed),
		randomusertest.WithLogger(log),
	}
	for _, f := range []struct {
		rate  float64
		fault randomusertest.Fault
	}{
		{c.errorRate, randomusertest.Status(c.errorStatus)},
		{c.errorBodyRate, randomusertest.ErrorBody(http.StatusOK)},
		{c.truncateRate, randomusertest.Truncate(0.5)},
		{c.emptyRate, randomusertest.EmptyResults()},
		{c.tooManyRate, randomusertest.TooManyRequests(c.retryAfter)},
	} {
		if f.rate > 0 {
			opts = append(opts, randomusertest.WithFaultRate(f.rate, f.fault))
		}
	}
	if c.rateLimit > 0 {
		opts = append(opts, randomusertest.WithRateLimit(c.rateLimit, c.rateWindow))
	}
	if c.gzip {
		opts = append(opts, randomusertest.WithGzip())
	}
	opts = append(opts, randomusertest.WithChangeShare(c.changeShare), randomusertest.WithDay(c.day))
	h, err := randomusertest.NewHandler(opts...)
	if err != nil {
		return err
	}

	ln, err := net.Listen("tcp", c.addr)
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	log.Info("serving the Random User API 1.4", "url", "http://"+ln.Addr().String()+"/api/", "day", c.day, "change_share", c.changeShare)

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return err
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	log.Info("stopped", "stats", fmt.Sprintf("%+v", h.Stats()))
	return nil
}

func env(key, def string) string {
	if v, ok := os.LookupEnv(key); ok {
		return v
	}
	return def
}

func envDuration(key string, def time.Duration) time.Duration {
	if d, err := time.ParseDuration(os.Getenv(key)); err == nil {
		return d
	}
	return def
}

func envInt(key string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(key)); err == nil {
		return n
	}
	return def
}

func envFloat(key string, def float64) float64 {
	if f, err := strconv.ParseFloat(os.Getenv(key), 64); err == nil {
		return f
	}
	return def
}
