//go:build network

package faults_test

import (
	"context"
	"fmt"
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

// networkUsers is the users of a network scenario unless
// USERSTREAM_FAULT_USERS says otherwise: fewer than the kill scenarios'
// 100,000, so that the seven fit CI's time (each holds a fault for 30 s or
// slows the whole run).
const networkUsers = 30000

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

// peaks stops the watch and returns the producer's and the consumers'
// peak resident memory, in bytes.
func (w *rssWatch) peaks() (prod, cons int64) {
	close(w.stop)
	<-w.done
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
		consumers: []int{2}, hold: 0.3, users: faultUsersOr(t, networkUsers), consumerEnv: through(t, "cassandra")}
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
		consumers: []int{2}, hold: 0.3, users: faultUsersOr(t, networkUsers), producerEnv: through(t, "kafka")}
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
		consumers: []int{2}, users: faultUsersOr(t, networkUsers), producerEnv: env, consumerEnv: env}
	var w *rssWatch
	r := scenario(t, su, func(ctx context.Context, r *run) error {
		w = watchRSS(r)
		return nil
	})
	networkFigures(t, r, w)
}

// TestConnectionsReset resets every connection of the pipeline's
// processes to Kafka and to Cassandra (reset_peer: TCP RST) six times,
// 3 s apart, while the users stream through (over about a minute, in pages
// of 500; the API holds the last page until the resets are done). Each
// reset lasts until the next connection attempts have been refused for
// 200 ms, so reconnects fail once too.
func TestConnectionsReset(t *testing.T) {
	const resets = 6
	px := newProxies(t)
	env := through(t, "kafka", "cassandra")
	su := setup{name: "connection_reset", faults: "every Kafka and Cassandra connection reset (reset_peer) 6× 3 s apart, mid-stream",
		consumers: []int{1, 1}, pageSize: 500, pace: time.Minute, hold: 1, users: faultUsersOr(t, networkUsers), producerEnv: env, consumerEnv: env}
	var w *rssWatch
	r := scenario(t, su, func(ctx context.Context, r *run) error {
		w = watchRSS(r)
		defer r.gate.open()
		if _, err := r.mon.waitFor(ctx, "rows stored", func(s sample) bool { return s.stored > 0 }); err != nil {
			return err
		}
		for i := 1; i <= resets; i++ {
			at := time.Now()
			for _, name := range []string{"kafka", "cassandra"} {
				px.add(r.t, name, "reset_peer", toxiproxy.Attributes{"timeout": 0}, "downstream")
			}
			time.Sleep(200 * time.Millisecond) // the fault's length, not a wait for something
			for _, name := range []string{"kafka", "cassandra"} {
				px.remove(r.t, name)
			}
			r.record(event{what: fmt.Sprintf("reset %d (Kafka and Cassandra)", i), at: at, back: time.Now(), stages: stageConsume | stageRelay})
			if err := waitUntil(ctx, at.Add(3*time.Second)); err != nil {
				return err
			}
		}
		return nil
	})
	networkFigures(t, r, w)
}

// TestKafkaBandwidth limits the producer's bandwidth to the broker to
// 128 KiB/s for the whole run (bandwidth toxic, client to server), far
// below what the relay produces: its buffers fill, and the backpressure
// must hold its memory within bounds while nothing is lost. The peak
// resident memory is reported.
func TestKafkaBandwidth(t *testing.T) {
	px := newProxies(t)
	px.add(t, "kafka", "bandwidth", toxiproxy.Attributes{"rate": 128}, "upstream")
	su := setup{name: "kafka_bandwidth", faults: "producer → Kafka limited to 128 KiB/s, whole run",
		consumers: []int{2}, users: faultUsersOr(t, networkUsers), producerEnv: through(t, "kafka")}
	var w *rssWatch
	r := scenario(t, su, func(ctx context.Context, r *run) error {
		w = watchRSS(r)
		return nil
	})
	networkFigures(t, r, w)
}
