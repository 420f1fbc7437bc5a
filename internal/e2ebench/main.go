// Command e2ebench measures the whole pipeline on the local stack and
// prints the figures BENCHMARKS.md reports. In each of -rounds rounds
// (default 3):
//
//  1. the raw Cassandra write ceilings, from cassandrastore's BulkWrite
//     benchmark: a plain gocql loop of single-row inserts, and plain gocql
//     unlogged batches grouped by the node owning their tokens, at the
//     store's batch size and concurrency (the best raw strategy);
//  2. right after it, throughput: examples/fullpipeline, as its own
//     process, pushing -users users (default 100,000) from the offline API
//     (examples/randomuserserver, another process) to Cassandra as fast as
//     it can, with its users/s, peak RSS and CPU-seconds per million rows;
//
// then once, latency: the same at an offered load of -rate users/s (default
// 1,000, in pages of 100), with fetch-to-stored p50 and p99. For every run
// it also prints the CPU-seconds each server process used over the run's
// span, with a total per kind (kafka, cassandra, postgres), and each
// server's resident memory at the end of the run.
//
// The servers are those of the stack that USERSTREAM_STACK_DIR names (set
// by devstack run), found through their pid files (package devstack): on a
// cluster each broker and node separately (kafka-1, cassandra-2, ...), and
// never the processes of another stack running beside it. PostgreSQL's
// figures include its backends. Without USERSTREAM_STACK_DIR it falls back
// to every Kafka, Cassandra and PostgreSQL process on the machine, found
// by command line and summed by kind, and prints no resident memory.
//
// -replication N (default 1) is the replication of what the runs create:
// fullpipeline gets -replication N (topics with N replicas, and
// min.insync.replicas 2 when N >= 3; the keyspace
// LocalNetworkTopologyStrategy(N); writes at LOCAL_QUORUM, its default),
// and the ceiling benchmark USERSTREAM_BENCH_REPLICATION=N (its keyspace
// the same, its raw writes at LOCAL_QUORUM too). On the three-node cluster
// use 3: `make bench-e2e-cluster`.
//
// -console on serves the status page (package console) on the run's
// metrics address and polls it as an open page does: the page once, then
// status.json every second; -console both makes every run twice, without
// then with, to show what the page costs.
//
// Every run uses a topic, group, keyspace and schema of its own, dropped at
// the end. Run it with `make bench-e2e` (or `make bench-e2e-cluster`), or:
//
//	internal/devstack/devstack run go run ./internal/e2ebench
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/userstream/userstream/cassandrastore"
	"github.com/userstream/userstream/internal/devstack"
	"github.com/userstream/userstream/runledger"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "e2ebench:", err)
		os.Exit(1)
	}
}

type result struct {
	name              string
	users             int64
	seconds           float64
	usersPerSec       float64
	p50, p99          time.Duration
	serverCPU         map[string]float64 // CPU-seconds of each server process (or kind) during the run
	serverRSS         map[string]float64 // resident MiB of each server process at the end of the run
	ceiling           float64            // rows/s of the raw insert loop, measured right before
	ceilingBatch      float64            // rows/s of the raw token-grouped batches, measured right before
	maxRSSMB          float64
	cpuSecPerMillion  float64
	offered           float64
	status, errorText string
	polled            *pollStats // with -console: the page's polls during the run
}

func run() error {
	users := flag.Int("users", 100000, "users for each throughput run")
	rounds := flag.Int("rounds", 3, "rounds of (ceiling, throughput run); the median round is reported")
	latUsers := flag.Int("latency-users", 20000, "users for the latency run; 0 skips it")
	rate := flag.Float64("rate", 1000, "offered load of the latency run, users/s")
	ceilingRows := flag.Int("ceiling-rows", 50000, "rows per contender in the Cassandra ceiling benchmark; 0 skips it")
	extra := flag.String("args", "", "more fullpipeline flags, space-separated (for experiments)")
	consoleMode := flag.String("console", "off", "poll the status page every second during each run: off, on, or both (each run without, then with)")
	flag.IntVar(&replication, "replication", 1, "replicas of the topics and keyspaces the runs and the ceiling benchmark create (fullpipeline -replication; 3 on the cluster)")
	flag.Parse()
	extraArgs = strings.Fields(*extra)
	if replication < 1 {
		return fmt.Errorf("-replication %d: want 1 or more", replication)
	}
	if os.Getenv("USERSTREAM_STACK_DIR") != "" {
		var err error
		if stack, err = devstack.FromEnv(); err != nil {
			return err
		}
		if len(stackServers()) == 0 {
			return fmt.Errorf("no server of the stack in %s is running (USERSTREAM_STACK_NODES=%q)", stack.Config().Dir, os.Getenv("USERSTREAM_STACK_NODES"))
		}
	}
	modes, ok := map[string][]bool{"off": {false}, "on": {true}, "both": {false, true}}[*consoleMode]
	if !ok {
		return fmt.Errorf("-console %q: want off, on or both", *consoleMode)
	}

	dir, err := os.MkdirTemp("", "e2ebench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	bin := filepath.Join(dir, "fullpipeline")
	if out, err := exec.Command("go", "build", "-o", dir+"/", "./examples/fullpipeline", "./examples/randomuserserver").CombinedOutput(); err != nil {
		return fmt.Errorf("build: %v\n%s", err, out)
	}
	// The API runs as a process of its own, as the real one is remote: the
	// pipeline's RSS and CPU are then the pipeline's alone.
	api := exec.Command(filepath.Join(dir, "randomuserserver"), "-addr", apiAddr)
	if err := api.Start(); err != nil {
		return fmt.Errorf("start randomuserserver: %w", err)
	}
	defer func() { _ = api.Process.Kill(); _ = api.Wait() }()
	apiPid = api.Process.Pid
	if err := awaitTCP(apiAddr, 10*time.Second); err != nil {
		return err
	}

	// Each round measures the ceiling right before the pipeline, so a
	// ratio compares the two under the same conditions (Cassandra's
	// garbage collection and compaction make both swing by a third from
	// one minute to the next on a small machine).
	var runs []result
	ceilingKeyspace := ""
	for i := 1; i <= *rounds; i++ {
		var ceil, ceilBatch float64
		if *ceilingRows > 0 {
			fmt.Fprintf(os.Stderr, "e2ebench: round %d: Cassandra write ceilings (cassandrastore BulkWrite)...\n", i)
			if ceil, ceilBatch, ceilingKeyspace, err = ceiling(*ceilingRows); err != nil {
				return err
			}
		}
		for _, polled := range modes {
			fmt.Fprintf(os.Stderr, "e2ebench: round %d: throughput run, %d users%s...\n", i, *users, pageNote(polled))
			thr, err := pipelineRun(bin, dir, "throughput", fmt.Sprintf("throughput %d%s", i, pageNote(polled)), *users, 0, 5000, polled)
			if err != nil {
				return err
			}
			thr.ceiling, thr.ceilingBatch = ceil, ceilBatch
			runs = append(runs, thr)
		}
	}
	for _, polled := range modes {
		if *latUsers <= 0 {
			break
		}
		fmt.Fprintf(os.Stderr, "e2ebench: latency run, %d users at %.0f users/s%s...\n", *latUsers, *rate, pageNote(polled))
		lat, err := pipelineRun(bin, dir, "latency", "latency"+pageNote(polled), *latUsers, *rate, 100, polled)
		if err != nil {
			return err
		}
		runs = append(runs, lat)
	}

	host, _ := os.Hostname()
	fmt.Printf("machine: %s, %d cores, %s; %s\n", host, runtime.NumCPU(), cpuModel(), time.Now().UTC().Format(time.RFC3339))
	servers := "the Kafka, Cassandra and PostgreSQL processes found on the machine (USERSTREAM_STACK_DIR unset)"
	if stack != nil {
		c := stack.Config()
		servers = fmt.Sprintf("the stack in %s, %d node(s) from %s", c.Dir, c.Nodes, c.Host)
	}
	fmt.Printf("servers: %s; replication %d (fullpipeline -replication %d, writes at LOCAL_QUORUM)\n", servers, replication, replication)
	if ceilingKeyspace != "" {
		fmt.Printf("ceiling keyspace: %s\n", ceilingKeyspace)
	}
	fmt.Printf("ceilings (cassandrastore BulkWrite, measured right before each throughput run): insert loop, plain gocql single-row inserts from 64 goroutines; raw batches, plain gocql unlogged batches of rows grouped by the node owning their token, %d rows, %d in flight\n\n",
		cassandrastore.DefaultBatchSize, cassandrastore.DefaultBatchConcurrency)
	fmt.Println("| run | users | offered users/s | users/s API→Cassandra | insert loop rows/s | raw batches rows/s | × insert loop | × best raw | fetch→stored p50 | p99 | peak RSS | CPU-s per 1M rows | status |")
	fmt.Println("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
	ratios, bestRatios := map[bool][]float64{}, map[bool][]float64{}
	for _, r := range runs {
		offered, ceil, ceilBatch, ratio, best := "max", "", "", "", ""
		if r.offered > 0 {
			offered = fmt.Sprintf("%.0f", r.offered)
		}
		if r.ceiling > 0 {
			ceil, ratio = fmt.Sprintf("%.0f", r.ceiling), fmt.Sprintf("%.2f", r.usersPerSec/r.ceiling)
			ratios[r.polled != nil] = append(ratios[r.polled != nil], r.usersPerSec/r.ceiling)
			top := max(r.ceiling, r.ceilingBatch)
			ceilBatch, best = fmt.Sprintf("%.0f", r.ceilingBatch), fmt.Sprintf("%.2f", r.usersPerSec/top)
			bestRatios[r.polled != nil] = append(bestRatios[r.polled != nil], r.usersPerSec/top)
		}
		fmt.Printf("| %s | %d | %s | %.0f | %s | %s | %s | %s | %s | %s | %.1f MB | %.1f | %s |\n", r.name, r.users, offered,
			r.usersPerSec, ceil, ceilBatch, ratio, best, r.p50.Round(100*time.Microsecond), r.p99.Round(100*time.Microsecond),
			r.maxRSSMB, r.cpuSecPerMillion, r.status)
	}
	for _, polled := range modes {
		for _, m := range []struct {
			name   string
			ratios []float64
		}{{"insert loop", ratios[polled]}, {"best raw", bestRatios[polled]}} {
			if rs := m.ratios; len(rs) > 0 {
				slices.Sort(rs)
				fmt.Printf("\nmedian × %s over %d rounds%s: %.2f (range %.2f-%.2f)", m.name, len(rs), pageNote(polled), rs[len(rs)/2], rs[0], rs[len(rs)-1])
			}
		}
	}
	fmt.Println()
	fmt.Println()
	for _, r := range runs {
		if p := r.polled; p != nil {
			fmt.Printf("status page during the %s run: %d polls of status.json (%d failed), %.1f ms mean, %.1f ms max\n",
				r.name, p.polls, p.failed, p.mean().Seconds()*1000, p.max.Seconds()*1000)
		}
	}
	fmt.Println("\nCPU-seconds over each run's span (first fetch to last commit), per process, with each kind's total (PostgreSQL with its backends):")
	printTable(os.Stdout, runs, func(r result) map[string]float64 { return r.serverCPU }, "%.1f", true)
	if stack != nil {
		fmt.Println("\nresident memory at the end of each run, MiB (PostgreSQL: the proportional share, Pss, of the postmaster and its backends):")
		printTable(os.Stdout, runs, func(r result) map[string]float64 { return r.serverRSS }, "%.0f", false)
	}
	for _, r := range runs {
		if r.status != runledger.StatusSucceeded {
			return fmt.Errorf("the %s run did not succeed: %s", r.name, r.errorText)
		}
	}
	return nil
}

var (
	metricRE      = regexp.MustCompile(`([0-9.e+]+) ceiling-rows/s`)
	batchMetricRE = regexp.MustCompile(`([0-9.e+]+) ceiling-batch-rows/s`)
	// keyspaceRE is the benchmark's log line of its keyspace.
	keyspaceRE = regexp.MustCompile(`keyspace \S+, (replication .*)`)
)

// ceiling runs cassandrastore's BulkWrite benchmark, in a keyspace of
// -replication replicas, and returns the rows/s of its two plain gocql
// contenders: the single-row insert loop and the unlogged batches grouped
// by token owner; and the keyspace's replication and the consistency, as
// the benchmark logs them.
func ceiling(rows int) (insertLoop, batches float64, keyspace string, err error) {
	cmd := exec.Command("go", "test", "-run", "^$", "-bench", "BulkWrite$", "-benchtime", fmt.Sprintf("%dx", rows), "./cassandrastore/")
	cmd.Env = append(os.Environ(), "USERSTREAM_BENCH_REPLICATION="+strconv.Itoa(replication))
	out, err := cmd.CombinedOutput()
	if err != nil {
		return 0, 0, "", fmt.Errorf("ceiling benchmark: %v\n%s", err, out)
	}
	var vals [2]float64
	for i, re := range []*regexp.Regexp{metricRE, batchMetricRE} {
		m := re.FindSubmatch(out)
		if m == nil {
			return 0, 0, "", fmt.Errorf("ceiling benchmark printed no %s:\n%s", re, out)
		}
		if vals[i], err = strconv.ParseFloat(string(m[1]), 64); err != nil {
			return 0, 0, "", err
		}
	}
	if m := keyspaceRE.FindAllSubmatch(out, -1); m != nil {
		keyspace = string(m[len(m)-1][1])
	}
	return vals[0], vals[1], keyspace, nil
}

// pipelineRun runs fullpipeline as a child process on names of its own
// (bench_<kind>_<n>) and measures it; name labels the result.
// With polled, it serves the status page and polls it as an open page does.
func pipelineRun(bin, dir, kind, name string, users int, rate float64, pageSize int, polled bool) (result, error) {
	id := fmt.Sprintf("bench_%s_%d", kind, time.Now().UnixNano()%1e9)
	reportFile := filepath.Join(dir, id+".json")
	metricsAddr := ""
	if polled {
		var err error
		if metricsAddr, err = freeAddr(); err != nil {
			return result{}, err
		}
	}
	args := []string{"-api-url", "http://" + apiAddr + "/api/", "-users", strconv.Itoa(users), "-page-size", strconv.Itoa(pageSize),
		"-topic", id, "-dlq-topic", id + "_dlq", "-group", id, "-keyspace", id, "-pg-schema", id,
		"-seed", id, "-metrics-addr", metricsAddr, "-progress=false", "-report", reportFile,
		"-replication", strconv.Itoa(replication)}
	args = append(args, extraArgs...)
	if rate > 0 {
		args = append(args, "-rate", strconv.FormatFloat(rate, 'f', -1, 64))
	}
	defer cleanup(id)
	cmd := exec.Command(bin, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		return result{}, err
	}
	// CPU of every process, sampled through the run: the figures are
	// taken over the run's own span, from its first fetch to its last
	// commit, without the setup before and the verification after.
	var servers []devstack.Process
	if stack != nil {
		servers = stackServers()
	}
	var samples []cpuSample
	done, sampled := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(sampled)
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			s := cpuSample{at: time.Now(), cpu: serverCPU(servers)}
			s.cpu["pipeline"] = procCPU(cmd.Process.Pid)
			samples = append(samples, s)
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	var page chan pollStats
	if polled {
		page = make(chan pollStats, 1)
		go func() { page <- pollPage(metricsAddr, done) }()
	}
	err := cmd.Wait()
	close(done)
	<-sampled
	fmt.Fprint(os.Stderr, out.String())
	raw, rerr := os.ReadFile(reportFile)
	if rerr != nil {
		return result{}, fmt.Errorf("%s run: %v (no report: %v)", name, err, rerr)
	}
	var reps []runReport
	if err := json.Unmarshal(raw, &reps); err != nil || len(reps) == 0 {
		return result{}, fmt.Errorf("%s run: bad report: %v", name, err)
	}
	rep := reps[0]
	ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	cpu := time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
	r := result{
		name: name, users: rep.Stored, seconds: rep.Duration.Seconds(), p50: rep.P50, p99: rep.P99,
		maxRSSMB: float64(ru.Maxrss) / 1024, offered: rate, status: rep.Status, errorText: rep.Error,
	}
	if page != nil {
		p := <-page
		r.polled = &p
	}
	r.serverCPU = cpuBetween(samples, rep.StartedAt, rep.StartedAt.Add(rep.Duration))
	if stack != nil {
		r.serverRSS = map[string]float64{}
		for _, p := range stackServers() {
			r.serverRSS[p.Name] = float64(p.RSS) / (1 << 20)
		}
	}
	if rep.Stored > 0 {
		r.usersPerSec = float64(rep.Stored) / rep.Duration.Seconds()
		r.cpuSecPerMillion = cpu / float64(rep.Stored) * 1e6
	}
	return r, nil
}

// runReport is what e2ebench reads of a run in examples/fullpipeline's
// -report JSON.
type runReport struct {
	StartedAt time.Time
	Duration  time.Duration
	Stored    int64
	P50, P99  time.Duration
	Status    string
	Error     string
}

const apiAddr = "127.0.0.1:18080"

// The servers, as the examples find them.
const (
	envKafkaBrokers       = "USERSTREAM_KAFKA_BROKERS"
	envCassandraHosts     = "USERSTREAM_CASSANDRA_HOSTS"
	envPostgresDSN        = "USERSTREAM_POSTGRES_DSN"
	defaultKafkaBrokers   = "127.0.0.1:9092"
	defaultCassandraHosts = "127.0.0.1:9042"
	defaultPostgresDSN    = "postgres://userstream:userstream@127.0.0.1:5432/userstream?sslmode=disable"
)

// extraArgs are more fullpipeline flags, from -args.
var extraArgs []string

var (
	// replication is -replication.
	replication int
	// stack is the stack measured, the one USERSTREAM_STACK_DIR names;
	// nil when it is unset.
	stack *devstack.Stack
	// apiPid is randomuserserver's, started by run.
	apiPid int
)

func awaitTCP(addr string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			return c.Close()
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s did not accept connections: %w", addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// cleanup drops what a run created.
func cleanup(id string) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	brokers := strings.Split(envOr(envKafkaBrokers, defaultKafkaBrokers), ",")
	if cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...)); err == nil {
		_, _ = kadm.NewClient(cl).DeleteTopics(ctx, id, id+"_dlq")
		cl.Close()
	}
	hosts := strings.Split(envOr(envCassandraHosts, defaultCassandraHosts), ",")
	if s, err := cassandrastore.NewSession(ctx, hosts); err == nil {
		_ = s.ExecStmt(`DROP KEYSPACE IF EXISTS ` + id)
		s.Close()
	}
	if conn, err := pgx.Connect(ctx, envOr(envPostgresDSN, defaultPostgresDSN)); err == nil {
		_, _ = conn.Exec(ctx, `DROP SCHEMA IF EXISTS `+pgx.Identifier{id}.Sanitize()+` CASCADE`)
		_ = conn.Close(ctx)
	}
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU"
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if k, v, ok := strings.Cut(s.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown CPU"
}

// serverKinds are the kinds of server process measured, in the order the
// tables print them; a process's kind is its name without the node number
// (kafka-2 is a kafka).
var serverKinds = []string{"pipeline", "cassandra", "kafka", "postgres", "api"}

// kindOf returns the kind of the process named name: "cassandra" for
// cassandra-3 and for cassandra.
func kindOf(name string) string {
	if base, n, ok := strings.Cut(name, "-"); ok {
		if _, err := strconv.Atoi(n); err == nil {
			return base
		}
	}
	return name
}

// stackServers returns the measured stack's running Kafka, Cassandra and
// PostgreSQL processes (not the secured Cassandra node nor the registry,
// which the pipeline does not use), with their resident memory now.
func stackServers() []devstack.Process {
	var out []devstack.Process
	for _, p := range stack.Processes() {
		if k := kindOf(p.Name); k == "kafka" || k == "cassandra" || k == "postgres" {
			out = append(out, p)
		}
	}
	return out
}

// serverCPU returns the CPU-seconds used so far by each of servers, by
// name, and by the API ("api"): where the machine's cores went during a
// run. PostgreSQL's backends come and go, so its figure is the
// postmaster's with its children's, the live ones and the reaped ones.
// With no servers (USERSTREAM_STACK_DIR unset), it returns the CPU of
// every server process found in /proc by command line, summed by kind.
func serverCPU(servers []devstack.Process) map[string]float64 {
	if servers == nil {
		return scanServerCPU()
	}
	out := map[string]float64{"api": procCPU(apiPid)}
	for _, p := range servers {
		cpu := procCPU(p.Pid)
		if kindOf(p.Name) == "postgres" {
			for _, c := range devstack.ChildPids(p.Pid) {
				cpu += procCPU(c)
			}
		}
		out[p.Name] = cpu
	}
	return out
}

// scanServerCPU returns the CPU-seconds used so far by the server
// processes on the machine, found in /proc by their command lines and
// summed by kind; the postmaster's reaped children count too.
func scanServerCPU() map[string]float64 {
	out := map[string]float64{}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		var kind string
		switch cl := string(cmdline); {
		case strings.Contains(cl, "CassandraDaemon") && !strings.Contains(cl, "cassandra-secure"):
			kind = "cassandra"
		case strings.Contains(cl, "kafka.Kafka"):
			kind = "kafka"
		case strings.HasPrefix(cl, "postgres") || strings.Contains(cl, "/bin/postgres"):
			kind = "postgres"
		case strings.Contains(cl, "randomuserserver"):
			kind = "api"
		default:
			continue
		}
		pid, _ := strconv.Atoi(e.Name())
		out[kind] += procCPU(pid)
	}
	return out
}

// procCPU returns the CPU-seconds of a process and its reaped children.
func procCPU(pid int) float64 {
	stat, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return 0
	}
	// Fields after the command name, which is in parentheses: utime,
	// stime, cutime, cstime are fields 14-17.
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(stat[i+1:]))
	if len(f) < 15 {
		return 0
	}
	var ticks float64
	for _, s := range f[11:15] {
		v, _ := strconv.ParseFloat(s, 64)
		ticks += v
	}
	return ticks / 100 // USER_HZ
}

type cpuSample struct {
	at  time.Time
	cpu map[string]float64
}

// cpuBetween returns each process's (or kind's) CPU-seconds between the
// samples nearest to from and to.
func cpuBetween(samples []cpuSample, from, to time.Time) map[string]float64 {
	nearest := func(t time.Time) cpuSample {
		best := samples[0]
		for _, s := range samples {
			if s.at.Sub(t).Abs() < best.at.Sub(t).Abs() {
				best = s
			}
		}
		return best
	}
	a, b := nearest(from), nearest(to)
	out := map[string]float64{}
	for k, v := range b.cpu {
		out[k] = v - a.cpu[k]
	}
	return out
}

// printTable prints a Markdown table of one figure per server process,
// a row per run, the processes in columns by kind (serverKinds), each
// kind of several processes (a cluster's) led by their total; with wall,
// the run's span in seconds first.
func printTable(w io.Writer, runs []result, figure func(result) map[string]float64, format string, wall bool) {
	names := map[string]bool{}
	for _, r := range runs {
		for n := range figure(r) {
			names[n] = true
		}
	}
	type column struct {
		label string
		names []string
	}
	var cols []column
	for _, k := range serverKinds {
		var members []string
		for n := range names {
			if kindOf(n) == k {
				members = append(members, n)
			}
		}
		slices.Sort(members)
		switch {
		case len(members) == 0:
		case len(members) == 1:
			cols = append(cols, column{members[0], members})
		default:
			cols = append(cols, column{k + " total", members})
			for _, m := range members {
				cols = append(cols, column{m, []string{m}})
			}
		}
	}
	head, rule := "| run |", "| --- |"
	if wall {
		head, rule = head+" wall s |", rule+" ---: |"
	}
	for _, c := range cols {
		head, rule = head+" "+c.label+" |", rule+" ---: |"
	}
	fmt.Fprintln(w, head)
	fmt.Fprintln(w, rule)
	for _, r := range runs {
		line := "| " + r.name + " |"
		if wall {
			line += fmt.Sprintf(" %.1f |", r.seconds)
		}
		fig := figure(r)
		for _, c := range cols {
			sum, seen := 0.0, false
			for _, n := range c.names {
				v, ok := fig[n]
				sum, seen = sum+v, seen || ok
			}
			if seen {
				line += " " + fmt.Sprintf(format, sum) + " |"
			} else {
				line += " |"
			}
		}
		fmt.Fprintln(w, line)
	}
}

func pageNote(polled bool) string {
	if polled {
		return " +page"
	}
	return ""
}

// pollStats are the polls of the status page during a run.
type pollStats struct {
	polls, failed int
	total, max    time.Duration
}

func (p pollStats) mean() time.Duration {
	if p.polls == p.failed {
		return 0
	}
	return p.total / time.Duration(p.polls-p.failed)
}

// pollPage does what an open status page does, until done: it loads the
// page (once it is served: the pipeline mounts it when its servers are
// open), then fetches status.json every second.
func pollPage(addr string, done <-chan struct{}) pollStats {
	var st pollStats
	get := func(path string) (time.Duration, error) {
		start := time.Now()
		resp, err := http.Get("http://" + addr + path)
		if err != nil {
			return 0, err
		}
		_, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err == nil && resp.StatusCode != http.StatusOK {
			err = fmt.Errorf("%s: %s", path, resp.Status)
		}
		return time.Since(start), err
	}
	t := time.NewTicker(time.Second)
	defer t.Stop()
	loaded := false
	for {
		select {
		case <-done:
			return st
		case <-t.C:
		}
		if !loaded {
			_, err := get("/")
			loaded = err == nil
			continue
		}
		d, err := get("/status.json")
		st.polls++
		if err != nil {
			st.failed++
			continue
		}
		st.total += d
		st.max = max(st.max, d)
	}
}

// freeAddr returns a loopback address with a port free at the time.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}
