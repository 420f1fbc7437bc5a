package devstack

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func (s *Stack) markStarted(svc Service) {
	for _, have := range s.started {
		if have == svc {
			return
		}
	}
	s.started = append(s.started, svc)
}

// alive: every process of svc exists (it may not answer yet).
func (s *Stack) alive(svc Service) bool {
	switch svc {
	case Postgres:
		return s.postgresAlive()
	case Kafka:
		for _, n := range s.kafka {
			if !s.pidAliveHere(pidFile(n.Dir)) {
				return false
			}
		}
		return true
	case Cassandra:
		for _, n := range s.cassandra {
			if !s.pidAliveHere(pidFile(n.Dir)) {
				return false
			}
		}
		return true
	case CassandraSecure:
		return s.pidAliveHere(pidFile(s.secure.Dir))
	case Registry:
		return s.pidAliveHere(pidFile(s.reg.Dir))
	case Toxiproxy:
		return s.pidAliveHere(pidFile(s.toxi.Dir))
	}
	return false
}

// pidAliveHere is pidAlive, and false for a child of ours that exited (the
// waiting goroutine may not have reaped it yet).
func (s *Stack) pidAliveHere(file string) bool {
	pid, ok := readPid(file)
	if !ok {
		return false
	}
	s.childMu.Lock()
	done := s.childDone[pid]
	s.childMu.Unlock()
	return !done && processAlive(pid)
}

// ready is the readiness check of svc.
func (s *Stack) ready(svc Service) func(context.Context) error {
	switch svc {
	case Kafka:
		return s.kafkaReady
	case Cassandra:
		return s.cassandraReady
	case Postgres:
		return s.postgresReady
	case CassandraSecure:
		return s.cassandraSecureReady
	case Registry:
		return s.registryReady
	case Toxiproxy:
		return s.toxiproxyReady
	}
	panic("devstack: no service " + svc)
}

// LogFiles returns the log file of each process of svc.
func (s *Stack) LogFiles(svc Service) []string {
	switch svc {
	case Kafka:
		var l []string
		for _, n := range s.kafka {
			l = append(l, filepath.Join(n.Dir, "kafka.log"))
		}
		return l
	case Cassandra:
		var l []string
		for _, n := range s.cassandra {
			l = append(l, filepath.Join(n.Dir, "cassandra.log"))
		}
		return l
	case CassandraSecure:
		return []string{filepath.Join(s.secure.Dir, "cassandra.log")}
	case Postgres:
		return []string{filepath.Join(s.pg.Dir, "postgres.log")}
	case Registry:
		return []string{filepath.Join(s.reg.Dir, "registry.log")}
	case Toxiproxy:
		return []string{filepath.Join(s.toxi.Dir, "toxiproxy.log")}
	}
	return nil
}

// StartError is a server that exited during start-up or did not answer in
// time. Its message ends with the last lines of the server's log.
type StartError struct {
	Service Service
	What    string // the check that failed: the service, or e.g. "kafka-secure"
	Reason  string // "exited during start-up", "did not answer within 180s"
	Log     string // the log file
	Tail    string // its last lines
	Err     error  // the last readiness error
}

func (e *StartError) Error() string {
	label := string(e.Service)
	if e.What != label {
		label += " (" + e.What + ")"
	}
	last := ""
	if e.Err != nil {
		last = " (last check: " + e.Err.Error() + ")"
	}
	return fmt.Sprintf("%s %s%s; last lines of %s:\n%s", label, e.Reason, last, e.Log, e.Tail)
}

func (e *StartError) Unwrap() error { return e.Err }

// await waits until ready answers (what names the check in messages: the
// service, or a check of its secured side). A server whose process died,
// or that did not answer within the timeout, is a *StartError.
func (s *Stack) await(ctx context.Context, svc Service, what string, ready func(context.Context) error) error {
	return s.awaitProc(ctx, svc, what, func() bool { return s.alive(svc) }, s.LogFiles(svc)[0], ready)
}

// awaitNode is await for node i of Kafka or Cassandra alone.
func (s *Stack) awaitNode(ctx context.Context, svc Service, i int, ready func(context.Context) error) error {
	dir := s.nodeDir(svc, i)
	return s.awaitProc(ctx, svc, fmt.Sprintf("%s-%d", svc, i+1), func() bool { return s.pidAliveHere(pidFile(dir)) },
		s.LogFiles(svc)[i], ready)
}

func (s *Stack) awaitProc(ctx context.Context, svc Service, what string, alive func() bool, logPath string, ready func(context.Context) error) error {
	start := time.Now()
	for {
		err := ready(ctx)
		if err == nil {
			s.logf("%s ready after %ds", what, int(time.Since(start).Seconds()))
			return nil
		}
		reason := ""
		switch {
		case !alive():
			reason = "exited during start-up"
		case time.Since(start) >= s.cfg.Timeout:
			reason = fmt.Sprintf("did not answer within %ds", int(s.cfg.Timeout.Seconds()))
		case ctx.Err() != nil:
			return ctx.Err()
		}
		if reason != "" {
			t, _ := tail(logPath, 40)
			return &StartError{Service: svc, What: what, Reason: reason, Log: logPath, Tail: t, Err: err}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

// CheckJava makes sure a JDK 17 or newer is there.
func (s *Stack) CheckJava() error {
	if _, err := exec.LookPath(s.cfg.Java); err != nil {
		return errors.New("java not found: install a JDK 17 (apt-get install openjdk-17-jdk-headless)")
	}
	out, _ := exec.Command(s.cfg.Java, "-version").CombinedOutput()
	v := ""
	if _, rest, ok := strings.Cut(string(out), `version "`); ok {
		v, _, _ = strings.Cut(rest, `"`)
	}
	major, _, _ := strings.Cut(v, ".")
	if n, err := strconv.Atoi(major); err != nil || n < 17 {
		return fmt.Errorf("Java 17 or newer is needed (found %s at %s)", v, s.cfg.Java)
	}
	return nil
}

// failed stops what this Stack started (leave nothing half-running) and
// returns err.
func (s *Stack) failed(err error) error {
	for i := len(s.started) - 1; i >= 0; i-- {
		// Not the caller's context: it may be what was cancelled.
		_ = s.stop(context.Background(), s.started[i], syscall.SIGTERM)
	}
	s.started = nil
	return err
}

// Up starts what is not running and waits until each server answers a real
// request: PostgreSQL, Kafka and Cassandra with their secured listeners,
// cassandra-secure in secure mode, the registry and Toxiproxy when asked
// for (a broker of this folder running without the listener behind its
// proxy is restarted with it). It is idempotent. On failure it stops what it started and returns the error (a
// *StartError when a server did not come up).
func (s *Stack) Up(ctx context.Context) error {
	t0 := time.Now()
	steps := []func() error{
		s.CheckJava,
		s.secureInit,
		func() error { return s.startPostgres(ctx) },
		func() error { return s.kafkaForProxy(ctx) },
		func() error { return s.startKafka(ctx) },
		func() error { return s.startCassandra(ctx) },
	}
	if s.cfg.Secure {
		steps = append(steps, func() error { return s.startCassandraSecure(ctx) })
	}
	if s.cfg.Registry {
		steps = append(steps, func() error { return s.startRegistry(ctx) })
	}
	if s.cfg.Toxiproxy {
		steps = append(steps, func() error { return s.startToxiproxy(ctx) })
	}
	steps = append(steps,
		func() error { return s.await(ctx, Postgres, string(Postgres), s.postgresReady) },
		func() error { return s.postgresSecure(ctx) },
		func() error { return s.await(ctx, Kafka, string(Kafka), s.kafkaReady) },
		func() error { return s.kafkaSecure(ctx) },
		func() error { return s.await(ctx, Cassandra, string(Cassandra), s.cassandraReady) },
	)
	if s.cfg.Secure {
		steps = append(steps, func() error { return s.await(ctx, CassandraSecure, string(CassandraSecure), s.cassandraSecureReady) })
	}
	if s.cfg.Registry {
		steps = append(steps, func() error { return s.await(ctx, Registry, string(Registry), s.registryReady) })
	}
	if s.cfg.Toxiproxy {
		steps = append(steps, func() error { return s.await(ctx, Toxiproxy, string(Toxiproxy), s.toxiproxyReady) })
	}
	for _, step := range steps {
		if err := step(); err != nil {
			return s.failed(err)
		}
	}
	s.logf("stack up in %ds (data in %s)", int(time.Since(t0).Seconds()), s.cfg.Dir)
	return nil
}

// Start starts one service (when it is not running) and waits until it
// answers, with its secured side. On failure it stops what it started.
func (s *Stack) Start(ctx context.Context, svc Service) error {
	if _, err := ParseService(string(svc)); err != nil {
		return err
	}
	if svc != Postgres && svc != Toxiproxy {
		if err := s.CheckJava(); err != nil {
			return err
		}
	}
	var start func(context.Context) error
	switch svc {
	case Kafka:
		start = s.startKafka
	case Cassandra:
		start = s.startCassandra
	case Postgres:
		start = s.startPostgres
	case CassandraSecure:
		start = s.startCassandraSecure
	case Registry:
		start = s.startRegistry
	case Toxiproxy:
		start = s.startToxiproxy
	}
	if err := start(ctx); err != nil {
		return s.failed(err)
	}
	if err := s.await(ctx, svc, string(svc), s.ready(svc)); err != nil {
		return s.failed(err)
	}
	var err error
	switch svc {
	case Kafka:
		err = s.kafkaSecure(ctx)
	case Postgres:
		err = s.postgresSecure(ctx)
	}
	if err != nil {
		return s.failed(err)
	}
	return nil
}

// Stop stops one service gracefully (SIGTERM, then SIGKILL after 30 s or
// when ctx is done; PostgreSQL's fast shutdown) and returns when it is
// gone. Its data is kept.
func (s *Stack) Stop(ctx context.Context, svc Service) error {
	if _, err := ParseService(string(svc)); err != nil {
		return err
	}
	return s.stop(ctx, svc, syscall.SIGTERM)
}

// Kill SIGKILLs one service, for fault-injection tests, and returns when it
// is gone.
func (s *Stack) Kill(ctx context.Context, svc Service) error {
	if _, err := ParseService(string(svc)); err != nil {
		return err
	}
	return s.stop(ctx, svc, syscall.SIGKILL)
}

func (s *Stack) stop(ctx context.Context, svc Service, sig syscall.Signal) error {
	switch svc {
	case Postgres:
		return s.stopPostgres(ctx, sig)
	case Kafka:
		// All at once: brokers stopped one by one would leave the last
		// without a controller quorum to shut down cleanly with.
		dirs := make([]string, len(s.kafka))
		for i, n := range s.kafka {
			dirs[i] = n.Dir
		}
		stopPid(ctx, sig, dirs...)
	case Cassandra:
		dirs := make([]string, len(s.cassandra))
		for i, n := range s.cassandra {
			dirs[i] = n.Dir
		}
		stopPid(ctx, sig, dirs...)
	case CassandraSecure:
		stopPid(ctx, sig, s.secure.Dir)
	case Registry:
		stopPid(ctx, sig, s.reg.Dir)
	case Toxiproxy:
		stopPid(ctx, sig, s.toxi.Dir)
	}
	return nil
}

// nodeDir is the folder of node i of Kafka or Cassandra.
func (s *Stack) nodeDir(svc Service, i int) string {
	if svc == Kafka {
		return s.kafka[i].Dir
	}
	return s.cassandra[i].Dir
}

// checkNode: svc has nodes (Kafka, Cassandra) and i is one of them.
func (s *Stack) checkNode(svc Service, i int) error {
	n := 0
	switch svc {
	case Kafka:
		n = len(s.kafka)
	case Cassandra:
		n = len(s.cassandra)
	default:
		return fmt.Errorf("devstack: %s has no nodes (kafka and cassandra do)", svc)
	}
	if i < 0 || i >= n {
		return fmt.Errorf("devstack: %s has nodes 0 to %d, not %d", svc, n-1, i)
	}
	return nil
}

// StartNode starts node i (from 0) of Kafka or Cassandra, when it is not
// running, and waits until the whole service answers again: every broker
// in the metadata, or every Cassandra node up in every node's view (a
// rolling restart takes the next node down only after that). The other
// nodes are left as they are; a node left down keeps the wait going until
// the timeout.
func (s *Stack) StartNode(ctx context.Context, svc Service, i int) error {
	if err := s.checkNode(svc, i); err != nil {
		return err
	}
	if err := s.CheckJava(); err != nil {
		return err
	}
	var err error
	if svc == Kafka {
		err = s.startKafkaNode(ctx, s.kafka[i])
	} else {
		err = s.startCassandraNode(ctx, s.cassandra[i])
	}
	if err != nil {
		return err
	}
	return s.awaitNode(ctx, svc, i, s.ready(svc))
}

// StopNode stops node i of Kafka or Cassandra gracefully, as Stop does.
func (s *Stack) StopNode(ctx context.Context, svc Service, i int) error {
	if err := s.checkNode(svc, i); err != nil {
		return err
	}
	stopPid(ctx, syscall.SIGTERM, s.nodeDir(svc, i))
	return nil
}

// KillNode SIGKILLs node i of Kafka or Cassandra and returns when it is
// gone.
func (s *Stack) KillNode(ctx context.Context, svc Service, i int) error {
	if err := s.checkNode(svc, i); err != nil {
		return err
	}
	stopPid(ctx, syscall.SIGKILL, s.nodeDir(svc, i))
	return nil
}

// Down stops every service; the data is kept.
func (s *Stack) Down(ctx context.Context) error {
	var errs []error
	for _, svc := range AllServices {
		errs = append(errs, s.stop(ctx, svc, syscall.SIGTERM))
	}
	s.logf("stopped (data kept in %s)", s.cfg.Dir)
	return errors.Join(errs...)
}

// State is what Status found of a service.
type State int

// The states of a service.
const (
	Down     State = iota // no process
	Starting              // the process runs but does not answer yet
	Up                    // it answers a real request
)

func (st State) String() string {
	switch st {
	case Up:
		return "up"
	case Starting:
		return "starting"
	}
	return "down"
}

// ServiceStatus is one service's state. Detail says, for a service that is
// up, what its secured side does ("SASL on 127.0.0.1:9094, ...").
type ServiceStatus struct {
	Service Service
	State   State
	Detail  string
}

// String is the line `devstack status` prints.
func (st ServiceStatus) String() string {
	switch st.State {
	case Up:
		extra := ""
		if st.Detail != "" {
			extra = " (" + st.Detail + ")"
		}
		return fmt.Sprintf("%-17s up%s", st.Service, extra)
	case Starting:
		return fmt.Sprintf("%-17s starting (process alive, not answering yet)", st.Service)
	}
	return fmt.Sprintf("%-17s down", st.Service)
}

// Status looks at each service of Services: it only looks (no SCRAM user
// or role set-up, no certificates made).
func (s *Stack) Status(ctx context.Context) []ServiceStatus {
	var out []ServiceStatus
	for _, svc := range s.Services() {
		ready := s.ready(svc)
		switch svc {
		case CassandraSecure:
			ready = s.cassandraSecureAnswers
		case Toxiproxy:
			ready = func(ctx context.Context) error { _, err := s.toxiproxyAnswers(ctx); return err }
		}
		st := ServiceStatus{Service: svc}
		switch {
		case ready(ctx) == nil:
			st.State = Up
			switch svc {
			case Kafka:
				n := s.kafka[0]
				if s.kafkaSASLAnswers(ctx) == nil {
					st.Detail = fmt.Sprintf("SASL on %s, SASL+TLS on %s", n.SASLAddr(), n.SASLTLSAddr())
				} else {
					st.Detail = "secured listeners not answering"
				}
				if len(s.kafka) > 1 {
					st.Detail = fmt.Sprintf("%d brokers on %s; %s", len(s.kafka), s.kafkaAddrs(KafkaNode.Addr), st.Detail)
				}
			case Cassandra:
				if len(s.cassandra) > 1 {
					st.Detail = fmt.Sprintf("%d nodes on %s, every one up in every node's view", len(s.cassandra), s.cassandraAddrs())
				}
			case Postgres:
				if s.postgresSecureReady(ctx) == nil {
					st.Detail = "TLS, role " + PostgresSecRole
				} else {
					st.Detail = "TLS not answering"
				}
			case CassandraSecure:
				st.Detail = "TLS + password on " + s.secure.Addr()
			case Registry:
				st.Detail = s.reg.URL()
			case Toxiproxy:
				names, _ := s.toxiproxyAnswers(ctx)
				st.Detail = fmt.Sprintf("%s, proxies %s", s.toxi.URL(), strings.Join(names, ", "))
			}
		case s.alive(svc):
			st.State = Starting
		default:
			st.State = Down
		}
		out = append(out, st)
	}
	return out
}

// Logs writes the last lines of each log of svc, or of every service of
// Services when svc is empty, each under a "==> FILE <==" line.
func (s *Stack) Logs(w io.Writer, svc Service, lines int) error {
	svcs := s.Services()
	if svc != "" {
		if _, err := ParseService(string(svc)); err != nil {
			return err
		}
		svcs = []Service{svc}
	}
	for _, sv := range svcs {
		for _, f := range s.LogFiles(sv) {
			fmt.Fprintf(w, "==> %s <==\n", f)
			t, err := tail(f, lines)
			if err != nil {
				if !os.IsNotExist(err) {
					return err
				}
				t = "(no log yet)\n"
			}
			if _, err := io.WriteString(w, t); err != nil {
				return err
			}
		}
	}
	return nil
}

// Process is one running server process and its resident memory.
type Process struct {
	Name string // kafka, kafka-2, cassandra-1, postgres, ...
	Pid  int
	// RSS is the resident memory in bytes (VmRSS). For PostgreSQL it is
	// the sum over the postmaster and its children of their proportional
	// share (Pss), so the shared buffers count once.
	RSS int64
}

// Processes returns the stack's running server processes.
func (s *Stack) Processes() []Process {
	var out []Process
	add := func(name, dir string) {
		if pid, ok := readPid(pidFile(dir)); ok && processAlive(pid) {
			out = append(out, Process{Name: name, Pid: pid, RSS: procMem(pid, "VmRSS:")})
		}
	}
	for _, n := range s.kafka {
		add(filepath.Base(n.Dir), n.Dir)
	}
	for _, n := range s.cassandra {
		add(filepath.Base(n.Dir), n.Dir)
	}
	add(string(CassandraSecure), s.secure.Dir)
	if pid, ok := readPid(filepath.Join(s.pg.dataDir(), "postmaster.pid")); ok && processAlive(pid) {
		var pss int64
		for _, p := range append([]int{pid}, ChildPids(pid)...) {
			pss += procMem(p, "Pss:")
		}
		out = append(out, Process{Name: string(Postgres), Pid: pid, RSS: pss})
	}
	add(string(Registry), s.reg.Dir)
	add(string(Toxiproxy), s.toxi.Dir)
	return out
}

// procMem reads a "Name:  N kB" field of /proc/pid/status (VmRSS) or
// /proc/pid/smaps_rollup (Pss), in bytes; 0 when it cannot.
func procMem(pid int, field string) int64 {
	file := "status"
	if field == "Pss:" {
		file = "smaps_rollup"
	}
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), file))
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, field); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}
