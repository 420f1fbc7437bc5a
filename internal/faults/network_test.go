//go:build network

package faults_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2/client"
)

// The network scenarios (make faults-network): the pipeline's processes
// reach the servers through Toxiproxy (devstack with USERSTREAM_TOXIPROXY=1),
// which the test drives through its API to cut, black-hole, slow down,
// reset and throttle their connections. The test's own clients (the
// progress monitor, the checks at the end) go to the servers directly, so
// they see the pipeline's progress through every fault.

// partition is how long the partition and the black hole last.
const partition = 30 * time.Second

// proxies is the fault proxy of the stack the environment names.
type proxies struct {
	cl *toxiproxy.Client
}

// newProxies connects to Toxiproxy, removes every toxic and enables every
// proxy, and does so again when the test ends.
func newProxies(t *testing.T) *proxies {
	t.Helper()
	url := os.Getenv("USERSTREAM_TOXIPROXY_URL")
	if url == "" {
		t.Fatal("USERSTREAM_TOXIPROXY_URL is unset: run the network scenarios with USERSTREAM_TOXIPROXY=1 internal/devstack/devstack run ... (make faults-network)")
	}
	p := &proxies{cl: toxiproxy.NewClient(url)}
	if err := p.cl.ResetState(); err != nil {
		t.Fatalf("toxiproxy: reset: %v", err)
	}
	t.Cleanup(func() {
		if err := p.cl.ResetState(); err != nil {
			t.Errorf("toxiproxy: reset: %v", err)
		}
	})
	return p
}

func (p *proxies) proxy(t *testing.T, name string) *toxiproxy.Proxy {
	t.Helper()
	px, err := p.cl.Proxy(name)
	if err != nil {
		t.Fatalf("toxiproxy: proxy %s: %v", name, err)
	}
	return px
}

// add puts a toxic on proxy name in both directions (upstream: to the
// server, downstream: to the client), or in the one stream given.
func (p *proxies) add(t *testing.T, name, typ string, attrs toxiproxy.Attributes, streams ...string) {
	t.Helper()
	if len(streams) == 0 {
		streams = []string{"upstream", "downstream"}
	}
	px := p.proxy(t, name)
	for _, st := range streams {
		if _, err := px.AddToxic(typ+"_"+st, typ, st, 1, attrs); err != nil {
			t.Errorf("toxiproxy: add %s %s on %s: %v", typ, st, name, err)
		}
	}
}

// remove takes every toxic off proxy name.
func (p *proxies) remove(t *testing.T, name string) {
	t.Helper()
	px := p.proxy(t, name)
	toxics, err := px.Toxics()
	if err != nil {
		t.Errorf("toxiproxy: toxics of %s: %v", name, err)
		return
	}
	for _, tx := range toxics {
		if err := px.RemoveToxic(tx.Name); err != nil {
			t.Errorf("toxiproxy: remove %s from %s: %v", tx.Name, name, err)
		}
	}
}

// through returns the environment that sends a process to the servers
// named (kafka, cassandra, postgres) through their proxies.
func through(t *testing.T, servers ...string) []string {
	t.Helper()
	var env []string
	for _, s := range servers {
		var from, to string
		switch s {
		case "kafka":
			from, to = "USERSTREAM_TOXI_KAFKA_BROKERS", "USERSTREAM_KAFKA_BROKERS"
		case "cassandra":
			from, to = "USERSTREAM_TOXI_CASSANDRA_HOSTS", "USERSTREAM_CASSANDRA_HOSTS"
		case "postgres":
			from, to = "USERSTREAM_TOXI_POSTGRES_DSN", "USERSTREAM_POSTGRES_DSN"
		default:
			t.Fatalf("no proxy for %s", s)
		}
		v := os.Getenv(from)
		if v == "" {
			t.Fatalf("%s is unset: run with USERSTREAM_TOXIPROXY=1 (make faults-network)", from)
		}
		env = append(env, to+"="+v)
	}
	return env
}

// waitUntil waits until at, or until ctx is done.
func waitUntil(ctx context.Context, at time.Time) error {
	select {
	case <-time.After(time.Until(at)):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// ---------------------------------------------------------------- figures

// rssWatch samples the peak resident memory (VmHWM) of the run's
// processes every 200 ms.
type rssWatch struct {
	mu         sync.Mutex
	prod, cons int64
	once       sync.Once
	stop       chan struct{}
	done       chan struct{}
}

func watchRSS(r *run) *rssWatch {
	w := &rssWatch{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		tk := time.NewTicker(200 * time.Millisecond)
		defer tk.Stop()
		for {
			w.sample(r)
			select {
			case <-w.stop:
				return
			case <-tk.C:
			}
		}
	}()
	return w
}

func (w *rssWatch) sample(r *run) {
	peak := func(sups ...*supervisor) int64 {
		var m int64
		for _, s := range sups {
			if s == nil {
				continue
			}
			for _, p := range s.procs() {
				if p.alive() {
					m = max(m, vmHWM(p.cmd.Process.Pid))
				}
			}
		}
		return m
	}
	r.mu.Lock()
	prod := r.prod
	r.mu.Unlock()
	pp, cp := peak(prod), peak(r.consumers()...)
	w.mu.Lock()
	w.prod, w.cons = max(w.prod, pp), max(w.cons, cp)
	w.mu.Unlock()
}

// peaks stops the watch (once) and returns the producer's and the consumers'
// peak resident memory, in bytes.
func (w *rssWatch) peaks() (prod, cons int64) {
	w.once.Do(func() { close(w.stop) })
	<-w.done
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.prod, w.cons
}

var hwmRE = regexp.MustCompile(`(?m)^VmHWM:\s+(\d+) kB`)

// vmHWM is a process's peak resident memory in bytes; 0 when unknown.
func vmHWM(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	m := hwmRE.FindSubmatch(b)
	if m == nil {
		return 0
	}
	n, _ := strconv.ParseInt(string(m[1]), 10, 64)
	return n << 10
}

// retries counts the lines of the processes' logs (role: producer or
// consumer) that say something failed and is retried.
func retries(t *testing.T, r *run, role string) int {
	t.Helper()
	logs, _ := filepath.Glob(filepath.Join(r.logs, role+"*.log"))
	n := 0
	for _, path := range logs {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range strings.Split(string(b), "\n") {
			if strings.Contains(l, "level=WARN") && (strings.Contains(l, "retry") || strings.Contains(l, "retried")) {
				n++
			}
		}
	}
	return n
}

// networkFigures logs what the network scenarios report beside the
// common figures: retries, peak memory, throughput.
func networkFigures(t *testing.T, r *run, w *rssWatch) {
	t.Helper()
	prod, cons := w.peaks()
	f := figures[len(figures)-1]
	t.Logf("%s figures: %d users in %s (%.0f users/s); retries logged: producer %d, consumers %d; peak RSS: producer %d MiB, consumer %d MiB",
		f.scenario, f.usersIn, secs(f.duration), float64(f.usersIn)/f.duration.Seconds(),
		retries(t, r, "producer"), retries(t, r, "consumer"), prod>>20, cons>>20)
	// A network fault must cost no duplicate in the topic: the idempotent
	// producer retries a batch under its sequence numbers, and the relay
	// records what the broker acknowledged however long the produce took.
	// (A process killed between produce and commit may duplicate; no
	// process is killed here.)
	if f.topicDups != 0 {
		t.Errorf("%s: %d records in the topic more than once, want 0", f.scenario, f.topicDups)
	}
}

// ---------------------------------------------------------------- scenarios

// TestCassandraPartitioned cuts the consumers off from Cassandra for 30 s
// while Kafka still works: once the group has committed the users of the
// first 30% of the pages, every byte between the consumers and Cassandra
// is dropped both ways (a timeout toxic with no timeout: connections stay
// open and new ones are accepted, nothing gets through, as in a
// partition), the gate opens so the relay publishes more, and after 30 s
// the partition heals. The consumers must neither commit what they could
// not store nor dead-letter it, nor exit.
func TestCassandraPartitioned(t *testing.T) {
	px := newProxies(t)
	su := setup{name: "cassandra_partition", faults: "consumers ↔ Cassandra partitioned 30 s (timeout toxic, both ways) at 30% consumed, then healed",
		consumers: []int{2}, hold: 0.3, users: faultUsers(t), consumerEnv: through(t, "cassandra")}
	var w *rssWatch
	r := scenario(t, su, func(ctx context.Context, r *run) error {
		w = watchRSS(r)
		pages := r.gate.limit()
		if _, err := r.committedUpTo(ctx, pages); err != nil {
			return err
		}
		at := time.Now()
		px.add(r.t, "cassandra", "timeout", toxiproxy.Attributes{"timeout": 0})
		r.t.Logf("cassandra: partitioned from the consumers")
		r.gate.open()
		if _, err := r.publishedUpTo(ctx, pages+1); err != nil {
			return err
		}
		if err := waitUntil(ctx, at.Add(partition)); err != nil {
			return err
		}
		px.remove(r.t, "cassandra")
		back := time.Now()
		r.t.Logf("cassandra: partition healed")
		r.record(event{what: "consumers ↔ Cassandra partition 30 s", at: at, back: back, stages: stageConsume})
		return nil
	})
	networkFigures(t, r, w)
}

// TestKafkaBlackholed black-holes the producer's connections to the broker
// for 30 s: accepted, never answered (a timeout toxic with no timeout, both
// ways), once the relay has published the users of the first 30% of the
// pages; the gate opens, so the producer fetches and stages the next page
// meanwhile. The consumers reach Kafka directly. The relay must publish
// everything once the black hole is gone, with no record lost or
// published twice beyond what the idempotent producer allows.
func TestKafkaBlackholed(t *testing.T) {
	px := newProxies(t)
	su := setup{name: "kafka_blackhole", faults: "producer ↔ Kafka black-holed 30 s (accepted, never answered) at 30% published",
		consumers: []int{2}, hold: 0.3, users: faultUsers(t), producerEnv: through(t, "kafka")}
	var w *rssWatch
	r := scenario(t, su, func(ctx context.Context, r *run) error {
		w = watchRSS(r)
		pages := r.gate.limit()
		if _, err := r.publishedUpTo(ctx, pages); err != nil {
			return err
		}
		at := time.Now()
		px.add(r.t, "kafka", "timeout", toxiproxy.Attributes{"timeout": 0})
		r.t.Logf("kafka: the producer's connections black-holed")
		r.gate.open()
		if err := r.gate.waitServed(ctx, pages+1); err != nil {
			return err
		}
		if err := waitUntil(ctx, at.Add(partition)); err != nil {
			return err
		}
		px.remove(r.t, "kafka")
		back := time.Now()
		r.t.Logf("kafka: black hole removed")
		r.record(event{what: "producer ↔ Kafka black hole 30 s", at: at, back: back, stages: stageRelay})
		return nil
	})
	networkFigures(t, r, w)
}

// TestPostgresLatency puts 300 ms ± 100 ms on every PostgreSQL round trip
// of the producer and the consumers (latency toxic on the replies) for
// the whole run: staging, the outbox relay and the run ledger all pay it.
// Nothing may be lost; the throughput is reported.
func TestPostgresLatency(t *testing.T) {
	px := newProxies(t)
	px.add(t, "postgres", "latency", toxiproxy.Attributes{"latency": 300, "jitter": 100}, "downstream")
	env := through(t, "postgres")
	su := setup{name: "postgres_latency", faults: "300 ms ± 100 ms on every PostgreSQL round trip, whole run",
		consumers: []int{2}, users: faultUsers(t), producerEnv: env, consumerEnv: env}
	var w *rssWatch
	r := scenario(t, su, func(ctx context.Context, r *run) error {
		w = watchRSS(r)
		return nil
	})
	networkFigures(t, r, w)
}

// TestConnectionsReset resets the pipeline's connections (reset_peer: a
// TCP RST on the next bytes the server sends) six times, 3 s apart,
// alternating between Cassandra and Kafka, while the users stream through
// (over about a minute, in pages of 500; the API holds the last page until
// the resets are done). Each reset is held until the pipeline has felt it,
// at most resetHold: for Cassandra until a consumer's handler call failed
// (a write cut mid-flight: the batch must be retried, not committed), for
// Kafka until the producer's client lost a connection on a read, and 2 s
// at least (a produce whose acknowledgement was cut: only the idempotent
// producer's retry keeps the topic free of duplicates). A reset that nothing felt
// fails the scenario, since it would have tested nothing: a fixed 200 ms
// reset once cost no failed write at all, and a consumer that committed
// a failed batch passed.
func TestConnectionsReset(t *testing.T) {
	const resets = 6
	px := newProxies(t)
	env := through(t, "kafka", "cassandra")
	su := setup{name: "connection_reset", faults: "Cassandra, then Kafka connections reset (reset_peer) 6× 3 s apart mid-stream, each held until a write or produce failed on it",
		consumers: []int{1, 1}, pageSize: 500, pace: time.Minute, hold: 1, users: faultUsers(t), producerEnv: env, consumerEnv: env}
	var (
		w    *rssWatch
		felt []string
	)
	r := scenario(t, su, func(ctx context.Context, r *run) error {
		w = watchRSS(r)
		defer r.gate.open()
		if _, err := r.mon.waitFor(ctx, "rows stored", func(s sample) bool { return s.stored > 0 }); err != nil {
			return err
		}
		for i := 1; i <= resets; i++ {
			// What shows that the reset was felt: a failed handler call in
			// the consumers (Cassandra), a read error in the producer's
			// Kafka client (Kafka).
			name, sups, series, least := "cassandra", r.consumers(), "userstream_handler_errors_total", time.Duration(0)
			if i%2 == 0 {
				r.mu.Lock()
				prod := r.prod
				r.mu.Unlock()
				// Held 2 s at least: the relay produces a page or two
				// meanwhile, so a produce is cut, not only a metadata read.
				name, sups, series, least = "kafka", []*supervisor{prod}, "userstream_kafka_producer_read_errors_total", 2*time.Second
			}
			before := counterSum(ctx, sups, series)
			at := time.Now()
			px.add(r.t, name, "reset_peer", toxiproxy.Attributes{"timeout": 0}, "downstream")
			n := before
			for (n <= before || time.Since(at) < least) && time.Since(at) < resetHold && ctx.Err() == nil {
				time.Sleep(100 * time.Millisecond)
				n = counterSum(ctx, sups, series)
			}
			px.remove(r.t, name)
			back := time.Now()
			if n > before {
				felt = append(felt, fmt.Sprintf("%s reset %d felt after %s (%s +%.0f)", name, i, back.Sub(at).Round(time.Millisecond), series, n-before))
			} else {
				r.t.Errorf("%s reset %d: nothing felt it within %s (%s stayed at %.0f): the reset tested nothing", name, i, resetHold, series, before)
			}
			r.record(event{what: fmt.Sprintf("reset %d (%s)", i, name), at: at, back: back, stages: stageConsume | stageRelay})
			if err := waitUntil(ctx, at.Add(3*time.Second)); err != nil {
				return err
			}
		}
		return nil
	})
	for _, f := range felt {
		t.Log(f)
	}
	networkFigures(t, r, w)
}

// resetHold bounds how long a reset of TestConnectionsReset waits to be
// felt: the users stream through at about one page a second, so a write
// and a produce go through each connection many times within it.
const resetHold = 20 * time.Second

// counterSum sums a counter's series (every label set) over the metrics
// endpoints of the running processes of sups; an endpoint that does not
// answer counts 0.
func counterSum(ctx context.Context, sups []*supervisor, name string) float64 {
	var sum float64
	for _, s := range sups {
		if s == nil {
			continue
		}
		for _, p := range s.procs() {
			if a := p.addr(); a != "" && p.alive() {
				v, _ := scrapeSum(ctx, a, name)
				sum += v
			}
		}
	}
	return sum
}

// scrapeSum reads the metrics endpoint at addr and sums the samples of
// metric name.
func scrapeSum(ctx context.Context, addr, name string) (float64, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/metrics", nil)
	if err != nil {
		return 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var sum float64
	sc := bufio.NewScanner(io.LimitReader(resp.Body, 4<<20))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		l := sc.Text()
		rest, ok := strings.CutPrefix(l, name)
		if !ok || rest == "" || (rest[0] != ' ' && rest[0] != '{') {
			continue
		}
		f, err := strconv.ParseFloat(l[strings.LastIndexByte(l, ' ')+1:], 64)
		if err != nil {
			return 0, fmt.Errorf("%s: %q: %w", addr, l, err)
		}
		sum += f
	}
	return sum, sc.Err()
}

// TestKafkaBandwidth limits the producer's bandwidth to the broker to
// 128 KiB/s for the whole run (bandwidth toxic, client to server), far
// below what the relay produces: the relay falls behind staging, its
// produce waits for the client's buffer, and that backpressure must hold
// the producer's memory within bounds while nothing is lost. Two checks
// keep the scenario honest: the throttle must have bitten (the outbox's
// backlog peaked at half the users or more: staging ran far ahead of the
// relay), and the producer's peak resident memory must stay under
// bandwidthRSS whatever the users (it holds a relay round of 2,000 rows
// and the client's buffer, not the backlog).
func TestKafkaBandwidth(t *testing.T) {
	px := newProxies(t)
	px.add(t, "kafka", "bandwidth", toxiproxy.Attributes{"rate": 128}, "upstream")
	su := setup{name: "kafka_bandwidth", faults: "producer → Kafka limited to 128 KiB/s, whole run",
		consumers: []int{2}, users: faultUsers(t), producerEnv: through(t, "kafka")}
	var w *rssWatch
	r := scenario(t, su, func(ctx context.Context, r *run) error {
		w = watchRSS(r)
		return nil
	})
	prod, _ := w.peaks()
	var backlog int64
	for _, s := range r.mon.all() {
		backlog = max(backlog, s.pending)
	}
	t.Logf("kafka_bandwidth: the outbox's backlog peaked at %d of %d users; producer peak RSS %d MiB", backlog, r.users, prod>>20)
	if backlog < int64(r.users)/2 {
		t.Errorf("kafka_bandwidth: the outbox's backlog peaked at %d, want at least half the %d users: the throttle did not hold the relay back, so backpressure was not tested", backlog, r.users)
	}
	if prod > bandwidthRSS {
		t.Errorf("kafka_bandwidth: the producer's peak RSS is %d MiB, want at most %d MiB: its memory grows with the backlog", prod>>20, bandwidthRSS>>20)
	}
	networkFigures(t, r, w)
}

// bandwidthRSS bounds the producer's peak resident memory in
// TestKafkaBandwidth. The producer's soft memory limit is 40 MiB plus 48
// bytes a user (about 45 MiB here), and a producer whose memory does not
// grow with the backlog stays near it: 31-40 MiB in every network
// scenario with 100,000 users. A relay that read the whole backlog in one
// round (planted: WithRoundSize(1<<20)) peaked at 96 MiB.
const bandwidthRSS = 64 << 20
