//go:build faults || cluster || network

package faults_test

import (
	"cmp"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/userstream/userstream/kafkasink/outbox"
)

// run is one scenario in progress: the pipeline's processes, the progress
// monitor and the faults injected so far.
type run struct {
	t     *testing.T
	cfg   config
	stack *stack
	bins  string
	logs  string
	users int     // unique users expected
	upTo  []int64 // unique users in the first k pages
	pages int     // API pages of the run
	gate  *gate   // the API the producer fetches from
	rnd   *rand.Rand

	prod *supervisor
	mon  *monitor

	mu     sync.Mutex
	cons   []*supervisor
	events []event
}

func (r *run) consumers() []*supervisor {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.cons)
}

func (r *run) record(ev event) {
	r.mu.Lock()
	r.events = append(r.events, ev)
	r.mu.Unlock()
	back := "not restarted"
	if !ev.back.IsZero() {
		back = "back after " + ev.back.Sub(ev.at).Round(time.Millisecond).String()
	}
	// The progress when the fault began, not when it is recorded (after
	// the recovery, often).
	all := r.mon.all()
	var s sample
	if len(all) > 0 {
		s = all[0]
	}
	for _, x := range all {
		if x.at.After(ev.at) {
			break
		}
		s = x
	}
	r.t.Logf("fault: %s at %s (%s); at the fault: stored %d, published %d, committed %d of %d",
		ev.what, ev.at.Format("15:04:05.000"), back, s.stored, s.published, s.committedTotal(), r.users)
}

func (r *run) producerArgs() []string {
	c := r.cfg
	return []string{"-api-url", r.gate.baseURL(), "-users", strconv.Itoa(c.Users), "-seed", c.Seed, "-page-size", strconv.Itoa(c.PageSize),
		"-topic", c.Topic, "-dlq-topic", c.DLQTopic, "-partitions", strconv.Itoa(c.Partitions),
		"-pg-schema", c.PostgresSchema, "-rate", strconv.FormatFloat(c.Rate, 'f', 1, 64),
		"-metrics-addr", "127.0.0.1:0", "-progress=false", "-log-level", "info", "-replication", strconv.Itoa(c.replication())}
}

// consumerArgs are the arguments of a consumer process running n
// consumers as static group members with instance id id: a restart of the
// process takes its partitions back at once.
func (r *run) consumerArgs(id string, n int) []string {
	c := r.cfg
	return []string{"-topic", c.Topic, "-dlq-topic", c.DLQTopic, "-partitions", strconv.Itoa(c.Partitions),
		"-group", c.Group, "-keyspace", c.Keyspace, "-pg-schema", c.PostgresSchema,
		"-consumers", strconv.Itoa(n), "-instance-id", id, "-metrics-addr", "127.0.0.1:0", "-progress=false", "-log-level", "info",
		"-replication", strconv.Itoa(c.replication())}
}

// usersUpTo returns how many unique users the first pages pages hold: all
// that can pass any stage while the gate holds the page after them.
func (r *run) usersUpTo(pages int) int64 { return r.upTo[min(pages, len(r.upTo)-1)] }

// hold closes the gate after share of the pages (at least one, and never
// the last) and returns that number of pages.
func (r *run) hold(share float64) int {
	pages := min(max(int(share*float64(r.pages)), 1), r.pages-1)
	r.gate.set(pages)
	return pages
}

// committedUpTo and publishedUpTo wait until the group has committed, or
// the relay has published, every user of the first pages pages.
func (r *run) committedUpTo(ctx context.Context, pages int) (sample, error) {
	n := r.usersUpTo(pages)
	return r.mon.waitFor(ctx, fmt.Sprintf("the %d users of %d pages committed", n, pages),
		func(s sample) bool { return s.committedTotal() >= n })
}

func (r *run) publishedUpTo(ctx context.Context, pages int) (sample, error) {
	n := r.usersUpTo(pages)
	return r.mon.waitFor(ctx, fmt.Sprintf("the %d users of %d pages published", n, pages),
		func(s sample) bool { return s.published >= n })
}

// setup describes a scenario's pipeline.
type setup struct {
	name, faults string
	// consumers has one entry per consumer process: its -consumers.
	consumers []int
	// pageSize overrides the API page size (default 5,000).
	pageSize int
	// pace, if set, makes the producer offer the users over about this
	// long (its -rate), as a steady stream rather than as fast as it can.
	pace time.Duration
	// hold, if set, is the share of the pages the API serves before the
	// scenario's inject opens its gate.
	hold float64
	// prepare, if set, runs once the expected users are known, before
	// any process starts: to set the gate from them.
	prepare func(*run)
	// replication is the topics' and the keyspace's replication factor
	// (the examples' -replication; default 1).
	replication int
	// exits, if set, says why the scenario's fault may make a pipeline
	// process exit by itself (a fault the product does not ride through
	// yet); such exits are then logged, counted and restarted. Empty (every
	// scenario today): any exit the test did not cause fails the scenario.
	// The test's own kills and stops are never counted.
	exits string
	// producerExits, if set, says why the producer (and not the
	// consumers) may exit by itself; it overrides exits for the producer.
	producerExits string
	// producerExited, if set, is called when the producer exits by
	// itself, before it is restarted (supervisor.onExit).
	producerExited func(*run, *proc)
	// users, if set, overrides the users of the scenario
	// (USERSTREAM_FAULT_USERS, default 100,000).
	users int
	// producerEnv and consumerEnv, if set, are added to the producer's
	// and the consumers' environment: the network scenarios point them at
	// servers through the fault proxy with them.
	producerEnv, consumerEnv []string
}

// scenario pushes the users of a fresh pipeline through consumer processes
// and a producer process, while inject breaks things; then it checks that
// the table holds exactly the unique users fetched, and records the
// figures.
func scenario(t *testing.T, su setup, inject func(context.Context, *run) error) *run {
	name, consumers := su.name, su.consumers
	st := newStack(t)
	st.ensureUp(t)
	users := su.users
	if users == 0 {
		users = faultUsers(t)
	}
	cfg := newConfig(t, "f_"+name, users)
	if su.pageSize > 0 {
		cfg.PageSize = su.pageSize
	}
	if su.pace > 0 {
		cfg.Rate = float64(users) / su.pace.Seconds()
	}
	cfg.Replication = su.replication
	t.Cleanup(func() { st.ensureUp(t) }) // before the cleanup that drops the topics
	logs := t.TempDir()
	if dir := os.Getenv(logsEnv); dir != "" {
		logs = filepath.Join(dir, name)
		if err := os.MkdirAll(logs, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	r := &run{t: t, cfg: cfg, stack: st, bins: binaries(t), logs: logs, rnd: newRand(t), gate: newGate(t, unlimited)}
	ctx, cancel := context.WithTimeout(context.Background(), 9*time.Minute)
	defer cancel()

	want, upTo, err := expectedIDs(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	r.users, r.upTo, r.pages = len(want), upTo, len(upTo)-1
	if su.hold > 0 && r.pages < 2 {
		t.Fatalf("%d users make %d page(s) of %d: the scenario holds pages back and needs at least 2", users, r.pages, cfg.PageSize)
	}
	if su.hold > 0 {
		pages := r.hold(su.hold)
		t.Logf("the API holds page %d until the fault is in place: %d of %d users before it", pages+1, r.usersUpTo(pages), r.users)
	}
	if su.prepare != nil {
		su.prepare(r)
	}
	t.Logf("%s: %d users of seed %q (%d unique), pages of %d, %.0f users/s offered (0: unpaced), topic %s, replication %d",
		name, users, cfg.Seed, r.users, cfg.PageSize, cfg.Rate, cfg.Topic, cfg.replication())

	// Consumers first, then the producer.
	for i, n := range consumers {
		sup := startSupervisorEnv(t, fmt.Sprintf("consumer%d", i+1), filepath.Join(r.bins, "consumer"), logs, false, su.exits, su.consumerEnv,
			r.consumerArgs(fmt.Sprintf("consumer%d", i+1), n)...)
		r.mu.Lock()
		r.cons = append(r.cons, sup)
		r.mu.Unlock()
	}
	t.Cleanup(func() {
		for _, c := range r.consumers() {
			c.kill()
		}
		if r.prod != nil {
			r.prod.kill()
		}
	})
	for _, c := range r.consumers() {
		select {
		case <-c.current().stderr.ready:
		case <-time.After(time.Minute):
			t.Fatalf("%s did not start:\n%s", c.name, c.current().logTail(20))
		}
	}
	r.mon = startMonitor(t, cfg.Brokers, cfg.Topic, cfg.Group, cfg.PostgresDSN, cfg.PostgresSchema, r.consumers)
	start := time.Now()
	var onExit func(*proc)
	if su.producerExited != nil {
		onExit = func(p *proc) { su.producerExited(r, p) }
	}
	r.prod = startSupervisorHook(t, "producer", filepath.Join(r.bins, "producer"), logs, true, cmp.Or(su.producerExits, su.exits), su.producerEnv, onExit, r.producerArgs()...)

	injected := make(chan error, 1)
	go func() { injected <- inject(ctx, r) }()
	fail := func(format string, args ...any) {
		s := r.mon.last()
		t.Errorf(format, args...)
		t.Errorf("last progress: stored %d, published %d, committed %d of %d", s.stored, s.published, s.committedTotal(), r.users)
		for _, sup := range append(r.consumers(), r.prod) {
			for _, p := range sup.procs() {
				t.Logf("--- %s (alive %v, err %v):\n%s", p.name, p.alive(), p.err, p.logTail(12))
			}
		}
		t.FailNow()
	}
	if err := <-injected; err != nil {
		fail("inject: %v", err)
	}
	select {
	case <-r.prod.done:
	case <-ctx.Done():
		fail("the producer did not finish")
	}
	if !r.prod.succeeded {
		fail("the producer did not succeed")
	}
	// Everything published is consumed and committed.
	if _, err := r.mon.waitFor(ctx, "the group to drain the topic", func(s sample) bool {
		return s.published >= int64(r.users) && s.drained()
	}); err != nil {
		fail("%v", err)
	}
	took := time.Since(start)
	for _, c := range r.consumers() {
		if c.current().alive() {
			c.stop(45 * time.Second)
		}
	}
	r.mon.sampleOnce(ctx)
	r.mon.stop()
	t.Logf("%s: drained in %v", name, took.Round(time.Millisecond))

	f := r.verify(ctx, want)
	f.scenario, f.faults, f.duration = name, su.faults, took
	samples := r.mon.all()
	writeSamples(t, filepath.Join(r.logs, "samples.tsv"), samples)
	for i, ev := range r.events {
		until := samples[len(samples)-1].at
		if i+1 < len(r.events) {
			until = r.events[i+1].at
		}
		from, back := ev.back, ev.back.Sub(ev.at)
		if ev.back.IsZero() {
			from, back = ev.at, -1
		}
		longest := longestStall(samples, ev, until)
		e := eventFigure{what: ev.what, back: back, recovered: -1, storing: -1, stall: longest.d}
		if d, ok := recovery(samples, ev); ok {
			e.recovered = d
		}
		first := "never"
		if d, ok := firstStored(samples, from); ok {
			first = secs(d)
		}
		t.Logf("recovery: %s: back after %s; every stalled stage progressing %s later (first row stored after %s); longest stall from the fault %s",
			ev.what, secs(e.back), secs(e.recovered), first, longest)
		if ev.restarted != nil {
			d, ok := ev.restarted.storingAfter(ev.back)
			e.storing = -1
			if ok {
				e.storing = d
			}
			t.Logf("recovery: %s: the restarted process %s stored its first row %s after its start", ev.what, ev.restarted.name, secs(e.storing))
			if ev.maxStoring > 0 && (!ok || d > ev.maxStoring) {
				t.Errorf("%s: the restarted process stored its first row %s after its start, want within %s",
					ev.what, secs(e.storing), secs(ev.maxStoring))
			}
		}
		if ev.stalls && e.stall == 0 {
			t.Errorf("%s: no stall measured; the fault stalls its stages until it is over (%s)", ev.what, longest)
		}
		if ev.maxStall > 0 && e.stall > ev.maxStall {
			t.Errorf("%s: a stage stalled %s from the fault, want at most %s", ev.what, secs(e.stall), secs(ev.maxStall))
		}
		f.events = append(f.events, e)
	}
	f.restarts = r.prod.failures
	for _, c := range r.consumers() {
		f.restarts += c.failures
	}
	addFigure(f)
	t.Logf("figures: users in %d, rows out %d, missing %d, duplicates in topic %d, rows stored by the consumers %d (duplicates %s), dead letters %d, processes that exited by themselves and were restarted %d",
		f.usersIn, f.rowsOut, f.missing, f.topicDups, f.delivered, f.duplicates(), f.deadLetters, f.restarts)
	return r
}

// verify checks the outcome against the expected users and returns the
// figures.
func (r *run) verify(ctx context.Context, want map[string]struct{}) figure {
	t := r.t
	f := figure{usersIn: len(want)}

	// The table: exactly the unique users, every one (nothing skipped by a
	// commit), no duplicates (the key is the id; Count scans them).
	count, ids, err := tableIDs(ctx, r.cfg)
	if err != nil {
		t.Fatalf("read the table: %v", err)
	}
	f.rowsOut = count
	var missing, extra []string
	for id := range want {
		if ids[id] == 0 {
			missing = append(missing, id)
		}
	}
	for id, n := range ids {
		if _, ok := want[id]; !ok {
			extra = append(extra, id)
		}
		if n > 1 {
			t.Errorf("id %s is in the table %d times", id, n)
		}
	}
	f.missing = len(missing)
	if count != int64(len(want)) || len(ids) != len(want) {
		t.Errorf("the table holds %d rows (%d distinct ids), want exactly the %d unique users", count, len(ids), len(want))
	}
	if len(missing) > 0 {
		t.Errorf("%d users missing from the table, such as %v", len(missing), missing[:min(5, len(missing))])
	}
	if len(extra) > 0 {
		t.Errorf("%d ids in the table that the API never served, such as %v", len(extra), extra[:min(5, len(extra))])
	}

	// The topic: every user reached Kafka; what is there twice came from
	// a relay that died between the broker's ack and its commit.
	recs, err := readTopic(ctx, r.cfg.Brokers, r.cfg.Topic)
	if err != nil {
		t.Fatalf("read the topic: %v", err)
	}
	keys := map[string]int{}
	for _, rec := range recs {
		keys[string(rec.Key)]++
	}
	f.topicDups = len(recs) - len(keys)
	for id := range want {
		if keys[id] == 0 {
			t.Errorf("user %s never reached the topic", id)
			break
		}
	}

	// The dead-letter topic holds only poison: none here.
	dlq, err := readTopic(ctx, r.cfg.Brokers, r.cfg.DLQTopic)
	if err != nil {
		t.Fatalf("read the dead-letter topic: %v", err)
	}
	f.deadLetters = int64(len(dlq))
	if len(dlq) != 0 {
		t.Errorf("%d records in the dead-letter topic, want none (no poison was produced); first: %s: %s",
			len(dlq), header(dlq[0], "dlq-reason"), header(dlq[0], "dlq-error"))
	}

	// The outbox: nothing pending.
	pool, err := pgxpool.New(ctx, r.cfg.PostgresDSN)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	store, err := outbox.NewStore(pool, outbox.WithSchema(r.cfg.PostgresSchema))
	if err != nil {
		t.Fatal(err)
	}
	c, err := store.Counts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if c.Pending != 0 || c.Published != int64(len(want)) {
		t.Errorf("outbox: %+v, want %d published, none pending", c, len(want))
	}

	// What the consumers stored, in all: the summary of those stopped
	// gracefully, the last metric seen of those killed.
	for _, sup := range r.consumers() {
		for _, p := range sup.procs() {
			if n := p.summaryStored(); n >= 0 {
				f.delivered += n
			} else {
				f.delivered += p.stored.Load()
				f.deliveredMin = true
			}
		}
	}

	runs, err := ledger(ctx, r.cfg)
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]int{}
	for _, run := range runs {
		kinds[run.Kind+" "+run.Status]++
	}
	t.Logf("ledger: %v", kinds)
	return f
}
