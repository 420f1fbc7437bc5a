//go:build faults || cluster || network

package faults_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/userstream/userstream/internal/devstack"
	"github.com/userstream/userstream/kafkasink/outbox"
)

// Settings of the suite, from the environment.
const (
	usersEnv  = "USERSTREAM_FAULT_USERS"
	seedEnv   = "USERSTREAM_FAULT_SEED"
	reportEnv = "USERSTREAM_FAULT_REPORT"
	logsEnv   = "USERSTREAM_FAULT_LOGS" // keep the processes' logs in this folder
)

var (
	repoRoot string // the module's root
	binDir   string // where the example binaries are built, once
	build    struct {
		once sync.Once
		err  error
	}
	figMu   sync.Mutex
	figures []figure
)

func TestMain(m *testing.M) {
	root, err := findRoot()
	if err != nil {
		fmt.Fprintln(os.Stderr, "faults:", err)
		os.Exit(1)
	}
	repoRoot = root
	if binDir, err = os.MkdirTemp("", "userstream-faults-"); err != nil {
		fmt.Fprintln(os.Stderr, "faults:", err)
		os.Exit(1)
	}
	code := m.Run()
	_ = os.RemoveAll(binDir)
	writeFigures()
	os.Exit(code)
}

func findRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("go.mod not found above the working directory")
		}
		dir = parent
	}
}

// binaries builds examples/producer and examples/consumer once per run and
// returns the folder that holds them.
func binaries(t *testing.T) string {
	t.Helper()
	build.once.Do(func() {
		goBin, err := exec.LookPath("go")
		if err != nil {
			build.err = err
			return
		}
		start := time.Now()
		cmd := exec.Command(goBin, "build", "-o", binDir+string(os.PathSeparator), "./examples/producer", "./examples/consumer")
		cmd.Dir = repoRoot
		if out, err := cmd.CombinedOutput(); err != nil {
			build.err = fmt.Errorf("go build: %v\n%s", err, out)
			return
		}
		t.Logf("built examples/producer and examples/consumer in %v", time.Since(start).Round(time.Millisecond))
	})
	if build.err != nil {
		t.Fatal(build.err)
	}
	return binDir
}

// faultUsers returns the users each scenario pushes through.
func faultUsers(t *testing.T) int { return faultUsersOr(t, 100000) }

// faultUsersOr returns the users of a scenario whose default is def:
// USERSTREAM_FAULT_USERS when set.
func faultUsersOr(t *testing.T, def int) int {
	t.Helper()
	v := os.Getenv(usersEnv)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1000 {
		t.Fatalf("%s=%q: want a number of users, at least 1000", usersEnv, v)
	}
	return n
}

// newRand returns the source of the random kill moments; its seed is
// logged, so a run can be repeated with USERSTREAM_FAULT_SEED.
func newRand(t *testing.T) *rand.Rand {
	t.Helper()
	seed := uint64(time.Now().UnixNano())
	if v := os.Getenv(seedEnv); v != "" {
		s, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("%s=%q: want an unsigned integer", seedEnv, v)
		}
		seed = s
	}
	t.Logf("random kill moments: %s=%d", seedEnv, seed)
	return rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
}

// ---------------------------------------------------------------- the stack

// stack drives the local stack through package devstack: kill, stop and
// start one server, and make sure all three are up again. Each call reads
// the settings afresh (USERSTREAM_STACK_DIR, and the commit log mode a
// scenario sets with t.Setenv before restarting Cassandra).
type stack struct{}

var stackServices = []devstack.Service{devstack.Kafka, devstack.Cassandra, devstack.Postgres}

func newStack(t *testing.T) *stack {
	t.Helper()
	if _, err := devstack.ConfigFromEnv(); err != nil {
		t.Fatal(err)
	}
	return &stack{}
}

// dev returns the stack the environment names now, logging to t.
func (s *stack) dev(t *testing.T) *devstack.Stack {
	t.Helper()
	st, err := devstack.FromEnv()
	if err != nil {
		t.Fatal(err)
	}
	st.Log = tLog{t}
	return st
}

// tLog writes the stack's progress lines to the test log.
type tLog struct{ t *testing.T }

func (l tLog) Write(p []byte) (int, error) {
	l.t.Helper()
	l.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// kill SIGKILLs a server and returns when it is gone.
func (s *stack) kill(t *testing.T, svc devstack.Service) time.Time {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	at := time.Now()
	if err := s.dev(t).Kill(ctx, svc); err != nil {
		t.Error(err)
	}
	t.Logf("%s: SIGKILLed", svc)
	return at
}

// stop stops a server gracefully.
func (s *stack) stop(t *testing.T, svc devstack.Service) time.Time {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	at := time.Now()
	if err := s.dev(t).Stop(ctx, svc); err != nil {
		t.Error(err)
	}
	t.Logf("%s: stopped in %v", svc, time.Since(at).Round(time.Millisecond))
	return at
}

// start starts a server and returns when it answers requests.
func (s *stack) start(t *testing.T, svc devstack.Service) time.Time {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	begin := time.Now()
	if err := s.dev(t).Start(ctx, svc); err != nil {
		t.Error(err)
	}
	t.Logf("%s: started, answering after %v", svc, time.Since(begin).Round(time.Millisecond))
	return time.Now()
}

// killNode SIGKILLs node i (from 0) of Kafka or Cassandra.
func (s *stack) killNode(t *testing.T, svc devstack.Service, i int) time.Time {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	at := time.Now()
	if err := s.dev(t).KillNode(ctx, svc, i); err != nil {
		t.Error(err)
	}
	t.Logf("%s-%d: SIGKILLed", svc, i+1)
	return at
}

// stopNode stops node i of Kafka or Cassandra gracefully.
func (s *stack) stopNode(t *testing.T, svc devstack.Service, i int) time.Time {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	at := time.Now()
	if err := s.dev(t).StopNode(ctx, svc, i); err != nil {
		t.Error(err)
	}
	t.Logf("%s-%d: stopped in %v", svc, i+1, time.Since(at).Round(time.Millisecond))
	return at
}

// startNode starts node i of Kafka or Cassandra and returns when the
// whole service answers: every broker in the metadata, or every Cassandra
// node up in every node's view.
func (s *stack) startNode(t *testing.T, svc devstack.Service, i int) time.Time {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	begin := time.Now()
	if err := s.dev(t).StartNode(ctx, svc, i); err != nil {
		t.Error(err)
	}
	t.Logf("%s-%d: started, the service answering after %v", svc, i+1, time.Since(begin).Round(time.Millisecond))
	return time.Now()
}

// down returns the services that do not answer.
func (s *stack) down(ctx context.Context, t *testing.T) []devstack.Service {
	up := map[devstack.Service]bool{}
	for _, st := range s.dev(t).Status(ctx) {
		up[st.Service] = st.State == devstack.Up
	}
	var down []devstack.Service
	for _, svc := range stackServices {
		if !up[svc] {
			down = append(down, svc)
		}
	}
	return down
}

// ensureUp starts whatever of the three servers is down and waits until
// all answer. Scenarios call it first, and again in their cleanup, so the
// stack is left up even when a scenario fails.
func (s *stack) ensureUp(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	for {
		down := s.down(ctx, t)
		if len(down) == 0 {
			return
		}
		if ctx.Err() != nil {
			t.Errorf("the stack is not all up: %v down after 6 minutes", down)
			return
		}
		for _, svc := range down {
			t.Logf("%s is down: starting it", svc)
			if err := s.dev(t).Start(ctx, svc); err != nil {
				t.Logf("start %s: %v", svc, err)
			}
		}
		time.Sleep(time.Second)
	}
}

// ---------------------------------------------------------------- processes

// proc is one run of a producer or consumer process.
type proc struct {
	name    string
	cmd     *exec.Cmd
	started time.Time
	stdout  bytes.Buffer // the summary; read only after done
	stderr  *logSink
	done    chan struct{}
	err     error // after done

	stored     atomic.Int64 // rows_stored_total last seen
	progressAt atomic.Int64 // when it last grew, in Unix nanoseconds
	firstAt    atomic.Int64 // when it first stored a row, in Unix nanoseconds
}

// storingAfter returns how long after from the process was first seen to
// have stored a row; ok is false if it never was.
func (p *proc) storingAfter(from time.Time) (time.Duration, bool) {
	at := p.firstAt.Load()
	if at == 0 {
		return 0, false
	}
	return time.Unix(0, at).Sub(from), true
}

// logSink keeps a process's standard error in a file and finds the address
// of its metrics endpoint in the log.
type logSink struct {
	f     *os.File
	mu    sync.Mutex
	line  []byte
	addr  atomic.Value // string
	ready chan struct{}
	once  sync.Once
}

var metricsAddr = regexp.MustCompile(`msg="metrics listening" addr=(\S+)`)

func (l *logSink) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	_, _ = l.f.Write(p)
	l.line = append(l.line, p...)
	for {
		i := bytes.IndexByte(l.line, '\n')
		if i < 0 {
			break
		}
		if m := metricsAddr.FindSubmatch(l.line[:i]); m != nil {
			l.addr.Store(string(m[1]))
			l.once.Do(func() { close(l.ready) })
		}
		l.line = l.line[i+1:]
	}
	return len(p), nil
}

func (p *proc) addr() string {
	a, _ := p.stderr.addr.Load().(string)
	return a
}

func (p *proc) alive() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

func (p *proc) logTail(n int) string {
	b, err := os.ReadFile(p.stderr.f.Name())
	if err != nil {
		return err.Error()
	}
	return tail(string(b), n)
}

var storedRE = regexp.MustCompile(`stored\s+([\d,]+) rows`)

// summaryStored returns the rows the process reported storing in its
// summary, or -1 when it printed none (it was killed).
func (p *proc) summaryStored() int64 {
	m := storedRE.FindStringSubmatch(p.stdout.String())
	if m == nil {
		return -1
	}
	n, _ := strconv.ParseInt(strings.ReplaceAll(m[1], ",", ""), 10, 64)
	return n
}

// supervisor runs one producer or consumer, as a process manager would:
// it starts it again when it fails, and when the test kills it on purpose.
// A producer (oneShot) is done when it exits with status 0.
//
// An exit the test did not cause (a kill or a stop of this supervisor's
// process) fails the test, unless exits says why the scenario expects
// them: the pipeline is meant to ride through the faults the scenarios
// inject, and a process that exits and is restarted hides a bug behind a
// green run (a schema race once showed only in the logs).
type supervisor struct {
	t       *testing.T
	name    string
	bin     string
	args    []string
	logDir  string
	oneShot bool
	exits   string   // why exits of its own are expected; empty: none is
	env     []string // added to the test's environment (servers behind the fault proxy)
	// onExit, if set, is called with a process that exited by itself,
	// before it is restarted: a scenario checks the state the failure left
	// and repairs what made it fail, as an operator would.
	onExit func(*proc)

	mu  sync.Mutex
	cur *proc
	all []*proc

	killing   atomic.Bool // the current process is being killed, to be restarted
	stopping  atomic.Bool // the process is being stopped or killed for good
	restarted chan time.Time
	done      chan struct{}
	succeeded bool // oneShot: the process exited 0; read after done
	failures  int  // exits the test did not cause; read after done
}

// startSupervisor starts bin; exits is why the scenario expects the
// process to exit by itself ("": it must not).
func startSupervisor(t *testing.T, name, bin, logDir string, oneShot bool, exits string, args ...string) *supervisor {
	return startSupervisorEnv(t, name, bin, logDir, oneShot, exits, nil, args...)
}

// startSupervisorEnv is startSupervisor with env added to the process's
// environment (USERSTREAM_KAFKA_BROKERS=... to reach a server through the
// fault proxy).
func startSupervisorEnv(t *testing.T, name, bin, logDir string, oneShot bool, exits string, env []string, args ...string) *supervisor {
	return startSupervisorHook(t, name, bin, logDir, oneShot, exits, env, nil, args...)
}

// startSupervisorHook is startSupervisorEnv with onExit called for each
// exit of the process's own, before the restart.
func startSupervisorHook(t *testing.T, name, bin, logDir string, oneShot bool, exits string, env []string, onExit func(*proc), args ...string) *supervisor {
	s := &supervisor{t: t, name: name, bin: bin, args: args, logDir: logDir, oneShot: oneShot, exits: exits, env: env, onExit: onExit,
		restarted: make(chan time.Time, 1), done: make(chan struct{})}
	first, err := s.spawn()
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	go s.loop(first)
	return s
}

func (s *supervisor) spawn() (*proc, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := len(s.all) + 1
	f, err := os.Create(filepath.Join(s.logDir, fmt.Sprintf("%s.%d.log", s.name, n)))
	if err != nil {
		return nil, err
	}
	p := &proc{name: fmt.Sprintf("%s#%d", s.name, n), done: make(chan struct{}),
		stderr: &logSink{f: f, ready: make(chan struct{})}}
	p.cmd = exec.Command(s.bin, s.args...)
	p.cmd.Stdout, p.cmd.Stderr = &p.stdout, p.stderr
	if s.env != nil {
		p.cmd.Env = append(os.Environ(), s.env...)
	}
	if err := p.cmd.Start(); err != nil {
		_ = f.Close()
		return nil, err
	}
	p.started = time.Now()
	go func() {
		p.err = p.cmd.Wait()
		_ = f.Close()
		close(p.done)
	}()
	s.cur = p
	s.all = append(s.all, p)
	return p, nil
}

func (s *supervisor) loop(p *proc) {
	defer close(s.done)
	for {
		<-p.done
		switch {
		case s.stopping.Load():
			return
		case s.killing.Load():
		case p.err == nil && s.oneShot:
			s.succeeded = true
			return
		default:
			s.failures++
			if s.exits == "" {
				// Restarted all the same, so that the scenario runs to
				// its end and its figures show what else went wrong.
				s.t.Errorf("%s exited by itself, which the scenario does not expect: %v; restarting it\n%s", p.name, p.err, p.logTail(8))
			} else {
				s.t.Logf("%s exited by itself (expected: %s): %v; restarting it\n%s", p.name, s.exits, p.err, p.logTail(8))
			}
			if s.onExit != nil {
				s.onExit(p)
			}
			if s.failures > 10 {
				s.t.Errorf("%s failed %d times; giving up", s.name, s.failures)
				return
			}
			time.Sleep(time.Second)
		}
		if s.stopping.Load() {
			return
		}
		next, err := s.spawn()
		if err != nil {
			s.t.Errorf("%s: restart: %v", s.name, err)
			return
		}
		if s.killing.Swap(false) {
			s.restarted <- next.started
		}
		p = next
	}
}

func (s *supervisor) current() *proc {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cur
}

func (s *supervisor) procs() []*proc {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.all)
}

// killAndRestart SIGKILLs the running process and starts a new one at
// once; it returns the times of the kill and of the restart.
func (s *supervisor) killAndRestart() (killed, restarted time.Time, ok bool) {
	p := s.current()
	if !p.alive() {
		return time.Time{}, time.Time{}, false
	}
	s.killing.Store(true)
	killed = time.Now()
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	select {
	case restarted = <-s.restarted:
		return killed, restarted, true
	case <-s.done:
		return killed, time.Time{}, false
	}
}

// kill SIGKILLs the running process for good (if it still runs) and
// returns when the supervisor is done.
func (s *supervisor) kill() time.Time {
	s.stopping.Store(true)
	at := time.Now()
	if p := s.current(); p.alive() {
		_ = p.cmd.Process.Signal(syscall.SIGKILL)
	}
	<-s.done
	return at
}

// stop ends the running process with SIGTERM (it finishes and commits its
// batch and prints its summary), or SIGKILL after timeout.
func (s *supervisor) stop(timeout time.Duration) {
	s.stopping.Store(true)
	p := s.current()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(timeout):
		s.t.Errorf("%s did not stop within %v after SIGTERM; killing it", p.name, timeout)
		_ = p.cmd.Process.Signal(syscall.SIGKILL)
		<-s.done
	}
	<-p.done
}

// ---------------------------------------------------------------- progress

// sample is the pipeline's progress at one moment.
type sample struct {
	at        time.Time
	stored    int64           // rows stored, summed over every consumer process (killed ones: last seen)
	published int64           // records in the topic (end offsets); -1 when Kafka did not answer
	committed map[int32]int64 // the group's committed offsets; nil when Kafka did not answer
	ends      map[int32]int64 // the topic's end offsets; nil when Kafka did not answer
	pending   int64           // rows in the outbox not yet published; -1 when PostgreSQL did not answer
}

func (s sample) committedTotal() int64 {
	var n int64
	for _, o := range s.committed {
		n += o
	}
	return n
}

// drained reports whether the group has committed everything in the topic.
func (s sample) drained() bool {
	if s.ends == nil || s.committed == nil {
		return false
	}
	for p, end := range s.ends {
		if s.committed[p] < end {
			return false
		}
	}
	return true
}

// monitor samples the pipeline's progress every 200ms: the consumers'
// rows_stored_total metric, the topic's end offsets, the group's
// committed offsets and the rows pending in the outbox.
type monitor struct {
	topic, group string
	adm          *kadm.Client
	cl           *kgo.Client
	http         *http.Client
	consumers    func() []*supervisor
	pool         *pgxpool.Pool
	box          *outbox.Store

	mu      sync.Mutex
	samples []sample
	cancel  context.CancelFunc
	done    chan struct{}
}

// startMonitor samples the pipeline of topic, group and the outbox in
// schema of the PostgreSQL at dsn.
func startMonitor(t *testing.T, brokers []string, topic, group, dsn, schema string, consumers func() []*supervisor) *monitor {
	// The monitor must follow a moved partition leader at least as fast
	// as the pipeline's clients (kafkasink.DefaultMetadataMinAge), or a
	// broker failover looks longer than the pipeline made it: with
	// franz-go's defaults (a metadata refresh at most every 5 s, retries
	// backing off to 5 s) it saw a new leader's offsets seconds after the
	// consumers committed there. Its requests give up after half a
	// second, so that a partition without a leader costs a sample that
	// partition's offset (the last seen is kept), not a second of every
	// partition's.
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...),
		kgo.MetadataMinAge(250*time.Millisecond),
		kgo.RetryBackoffFn(func(int) time.Duration { return 100 * time.Millisecond }),
		kgo.RetryTimeout(500*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	pool, err := pgxpool.New(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	box, err := outbox.NewStore(pool, outbox.WithSchema(schema))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	m := &monitor{topic: topic, group: group, adm: kadm.NewClient(cl), cl: cl, pool: pool, box: box,
		http: &http.Client{Timeout: 500 * time.Millisecond}, consumers: consumers, cancel: cancel, done: make(chan struct{})}
	go m.loop(ctx)
	return m
}

func (m *monitor) stop() {
	m.cancel()
	<-m.done
	m.cl.Close()
	m.pool.Close()
}

func (m *monitor) loop(ctx context.Context) {
	defer close(m.done)
	t := time.NewTicker(200 * time.Millisecond)
	defer t.Stop()
	for {
		m.sampleOnce(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (m *monitor) sampleOnce(ctx context.Context) {
	s := sample{at: time.Now(), published: -1, pending: -1}
	for _, sup := range m.consumers() {
		for _, p := range sup.procs() {
			if a := p.addr(); a != "" && p.alive() {
				if v, err := m.scrape(ctx, a); err == nil && v > p.stored.Load() {
					p.stored.Store(v)
					now := time.Now().UnixNano()
					p.progressAt.Store(now)
					p.firstAt.CompareAndSwap(0, now)
				}
			}
			s.stored += p.stored.Load()
		}
	}
	kctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	// A partition whose leader did not answer keeps its offset last seen
	// (below), the others are taken as they are.
	if ends, err := m.adm.ListEndOffsets(kctx, m.topic); err == nil {
		ends.Each(func(o kadm.ListedOffset) {
			if o.Err == nil {
				if s.ends == nil {
					s.ends = map[int32]int64{}
				}
				s.ends[o.Partition] = o.Offset
			}
		})
	}
	if n, err := m.box.Pending(kctx); err == nil {
		s.pending = n
	}
	if offs, err := m.adm.FetchOffsets(kctx, m.group); err == nil {
		s.committed = map[int32]int64{}
		offs.Each(func(o kadm.OffsetResponse) {
			if o.Err == nil && o.Topic == m.topic {
				s.committed[o.Partition] = o.At
			}
		})
	}
	m.mu.Lock()
	// A sample that could not reach Kafka keeps the offsets last seen, so
	// progress never appears to go backwards.
	if n := len(m.samples); n > 0 {
		prev := m.samples[n-1]
		if s.ends == nil {
			s.ends = prev.ends
		} else {
			for p, o := range prev.ends {
				if _, ok := s.ends[p]; !ok {
					s.ends[p] = o
				}
			}
		}
		if s.committed == nil {
			s.committed = prev.committed
		}
	}
	if s.ends != nil {
		s.published = 0
		for _, o := range s.ends {
			s.published += o
		}
	}
	m.samples = append(m.samples, s)
	m.mu.Unlock()
}

func (m *monitor) scrape(ctx context.Context, addr string) (int64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/metrics", nil)
	if err != nil {
		return 0, err
	}
	resp, err := m.http.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(io.LimitReader(resp.Body, 4<<20))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "userstream_rows_stored_total "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			return int64(f), err
		}
	}
	return 0, errors.New("rows_stored_total not found")
}

func (m *monitor) last() sample {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.samples) == 0 {
		return sample{published: -1}
	}
	return m.samples[len(m.samples)-1]
}

func (m *monitor) all() []sample {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.samples)
}

// waitFor waits until a sample satisfies cond.
func (m *monitor) waitFor(ctx context.Context, what string, cond func(sample) bool) (sample, error) {
	for {
		if s := m.last(); !s.at.IsZero() && cond(s) {
			return s, nil
		}
		select {
		case <-ctx.Done():
			s := m.last()
			return s, fmt.Errorf("waiting for %s: %w (last: stored %d, published %d, committed %d)",
				what, ctx.Err(), s.stored, s.published, s.committedTotal())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// writeSamples writes the monitor's samples beside the processes' logs, one
// line each (time, rows stored, records published, rows pending in the
// outbox, and each partition's end and committed offsets), so that a stall
// can be read against the logs' timestamps.
func writeSamples(t *testing.T, path string, samples []sample) {
	var b strings.Builder
	b.WriteString("at\tstored\tpublished\tpending\tpartition:end/committed...\n")
	for _, s := range samples {
		fmt.Fprintf(&b, "%s\t%d\t%d\t%d", s.at.Format("15:04:05.000"), s.stored, s.published, s.pending)
		for _, p := range slices.Sorted(maps.Keys(s.ends)) {
			fmt.Fprintf(&b, "\t%d:%d/%d", p, s.ends[p], s.committed[p])
		}
		b.WriteByte('\n')
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Logf("samples: %v", err)
	}
}

// ---------------------------------------------------------------- recovery

// Stages an event stalls, whose progress its recovery is measured by.
const (
	stageConsume = 1 << iota // the group's committed offsets
	stageRelay               // the topic's end offsets
)

// event is one fault: when it struck, when the server or process was back,
// and what it stalled.
type event struct {
	what   string
	at     time.Time
	back   time.Time // zero: nothing restarted; recovery counts from at
	stages int
	// restarted is the process started in place of a killed consumer.
	restarted *proc
	// The product's stated bounds, asserted when set: the restarted
	// process storing rows within maxStoring of back, and no stage
	// stalled longer than maxStall from the fault.
	maxStoring, maxStall time.Duration
	// stalls: the fault must stall its stages (a broker's partitions
	// wait for the controller to fence it), so a longest stall of zero
	// means the monitor missed it. Reported, not bounded: how long it
	// lasts depends on the machine.
	stalls bool
}

// recovery returns how long after ev was back (or struck, when nothing
// was restarted) the stalled stages progressed again: the relay published
// a record, and every partition that still had records to consume
// committed a new offset. ok is false when there was nothing left to do.
func recovery(samples []sample, ev event) (d time.Duration, ok bool) {
	from := ev.back
	if from.IsZero() {
		from = ev.at
	}
	if len(samples) == 0 {
		return 0, false
	}
	final := samples[len(samples)-1]
	var base sample
	for _, s := range samples {
		if s.at.After(from) {
			break
		}
		base = s
	}
	if base.at.IsZero() {
		base = samples[0]
	}
	var worst time.Duration
	measured := false
	if ev.stages&stageRelay != 0 && base.published < final.published {
		for _, s := range samples {
			if s.at.After(from) && s.published > base.published {
				worst, measured = max(worst, s.at.Sub(from)), true
				break
			}
		}
	}
	if ev.stages&stageConsume != 0 {
		var pending []int32
		for p, end := range final.ends {
			if base.committed[p] < end {
				pending = append(pending, p)
			}
		}
		if len(pending) > 0 {
			for _, s := range samples {
				if !s.at.After(from) {
					continue
				}
				all := true
				for _, p := range pending {
					if s.committed[p] <= base.committed[p] {
						all = false
						break
					}
				}
				if all {
					worst, measured = max(worst, s.at.Sub(from)), true
					break
				}
			}
		}
	}
	return worst, measured
}

// stall is a stage's longest time without progress while it had work
// left: which stage (a partition's commits, or the relay), and from when
// until when (until: the end of the window when it never moved again).
type stall struct {
	d        time.Duration
	what     string
	from, to time.Time
}

func (st stall) String() string {
	if st.d == 0 {
		return "none"
	}
	return fmt.Sprintf("%s: %s, %s to %s", secs(st.d), st.what, st.from.Format("15:04:05.000"), st.to.Format("15:04:05.000"))
}

// longestStall returns the longest time, from ev's fault until until, that
// a stage ev stalled made no progress while it had work left: a partition
// with records not yet committed whose committed offset did not move, or
// the relay while records were still to be published. It counts from the
// fault, so it includes the outage itself.
func longestStall(samples []sample, ev event, until time.Time) stall {
	var worst stall
	note := func(what string, from, to time.Time) {
		if d := to.Sub(from); d > worst.d {
			worst = stall{d: d, what: what, from: from, to: to}
		}
	}
	if len(samples) == 0 {
		return worst
	}
	final := samples[len(samples)-1]
	var base sample
	for _, s := range samples {
		if s.at.After(ev.at) {
			break
		}
		base = s
	}
	if ev.stages&stageConsume != 0 {
		prev := map[int32]int64{}
		since := map[int32]time.Time{} // stalled since, for partitions with work left
		for p, end := range final.ends {
			prev[p] = base.committed[p]
			if prev[p] < end {
				since[p] = ev.at
			}
		}
		for _, s := range samples {
			if !s.at.After(ev.at) || s.at.After(until) {
				continue
			}
			for p, end := range s.ends {
				switch c := s.committed[p]; {
				case c > prev[p]:
					if st, ok := since[p]; ok {
						note(fmt.Sprintf("partition %d committed nothing", p), st, s.at)
					}
					delete(since, p)
					prev[p] = c
				case c < end:
					if _, ok := since[p]; !ok {
						since[p] = s.at
					}
				}
			}
		}
		for p, st := range since {
			if until.Before(final.at) || !final.drained() {
				note(fmt.Sprintf("partition %d committed nothing", p), st, until)
			}
		}
	}
	// The relay has work left while the outbox has rows pending (unknown
	// counts as some): it is not stalled while the API holds the next page
	// back and everything staged is published.
	if ev.stages&stageRelay != 0 && base.published < final.published {
		prev, since := base.published, ev.at // since: zero while idle
		for _, s := range samples {
			if !s.at.After(ev.at) || s.at.After(until) {
				continue
			}
			if s.published > prev {
				if !since.IsZero() {
					note("the relay published nothing", since, s.at)
				}
				prev, since = s.published, time.Time{}
				if prev >= final.published {
					break
				}
			}
			if since.IsZero() && s.pending != 0 {
				since = s.at
			}
		}
		if !since.IsZero() && prev < final.published && until.Before(final.at) {
			note("the relay published nothing", since, until)
		}
	}
	return worst
}

// firstStored returns how long after from any consumer stored a row.
func firstStored(samples []sample, from time.Time) (time.Duration, bool) {
	var base int64 = -1
	for _, s := range samples {
		if !s.at.After(from) {
			base = s.stored
			continue
		}
		if base < 0 {
			base = s.stored
		}
		if s.stored > base {
			return s.at.Sub(from), true
		}
	}
	return 0, false
}

// ---------------------------------------------------------------- figures

// figure is what one scenario measured.
type figure struct {
	scenario     string
	usersIn      int   // unique users the API served for the seed
	rowsOut      int64 // rows in the table (Count)
	missing      int   // users not in the table
	topicDups    int   // records in the topic beyond one per user (relay duplicates)
	delivered    int64 // rows the consumers stored, summed over processes
	records      int64 // versions to deliver once each; 0: usersIn (one per user)
	deliveredMin bool  // delivered is a lower bound (processes were killed)
	deadLetters  int64
	events       []eventFigure
	restarts     int // processes that exited by themselves and were restarted (each fails the scenario unless it declares exits)
	duration     time.Duration
	faults       string
}

// eventFigure is what one fault cost.
type eventFigure struct {
	what      string
	back      time.Duration // from the fault until the server or process was back
	recovered time.Duration // from then until every stalled stage progressed; -1: nothing left to do
	stall     time.Duration // the longest stall of a stage with work left, from the fault on
	storing   time.Duration // a restarted consumer: from its start until it stored a row; -1: not one
}

func secs(d time.Duration) string {
	if d < 0 {
		return "–"
	}
	return strconv.FormatFloat(d.Seconds(), 'f', 1, 64) + " s"
}

func (f figure) duplicates() string {
	want := f.records
	if want == 0 {
		want = int64(f.usersIn)
	}
	d := max(f.delivered-want, 0)
	if f.deliveredMin {
		return "≥ " + strconv.FormatInt(d, 10)
	}
	return strconv.FormatInt(d, 10)
}

func addFigure(f figure) {
	figMu.Lock()
	figures = append(figures, f)
	figMu.Unlock()
}

// writeFigures prints the figures as Markdown tables, and writes them to
// USERSTREAM_FAULT_REPORT if set.
func writeFigures() {
	figMu.Lock()
	defer figMu.Unlock()
	if len(figures) == 0 {
		return
	}
	var b strings.Builder
	host, _ := os.Hostname()
	fmt.Fprintf(&b, "\nFault-injection figures (%s, %s):\n\n", host, time.Now().UTC().Format(time.RFC3339))
	b.WriteString("| scenario | users in | rows out | missing | duplicates in topic | duplicates delivered | dead letters | time to recover (longest stall) | run time |\n")
	b.WriteString("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n")
	for _, f := range figures {
		rec := "–"
		if len(f.events) > 0 {
			var worstRec, worstStall time.Duration
			for _, e := range f.events {
				worstRec, worstStall = max(worstRec, e.recovered), max(worstStall, e.stall)
			}
			rec = fmt.Sprintf("%s (%s)", secs(worstRec), secs(worstStall))
		}
		fmt.Fprintf(&b, "| %s | %d | %d | %d | %d | %s | %d | %s | %s |\n", f.scenario, f.usersIn, f.rowsOut, f.missing,
			f.topicDups, f.duplicates(), f.deadLetters, rec, secs(f.duration))
	}
	b.WriteString("\n| scenario | fault | back after | restarted consumer storing after | progressing again after | longest stall |\n")
	b.WriteString("| --- | --- | ---: | ---: | ---: | ---: |\n")
	for _, f := range figures {
		for _, e := range f.events {
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s |\n", f.scenario, e.what, secs(e.back), secs(e.storing), secs(e.recovered), secs(e.stall))
		}
	}
	fmt.Print(b.String())
	if path := os.Getenv(reportEnv); path != "" {
		if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "faults: write report:", err)
		}
	}
}
