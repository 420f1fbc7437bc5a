//go:build faults || cluster

package faults_test

// Scenarios with updates: users flow on day 0, then the API serves day 1,
// on which a third of them changed, and the new versions are staged,
// relayed and consumed while processes and servers are killed. The
// consumers write each version at its number (USING TIMESTAMP), so the
// table must end at each user's latest version whatever was replayed, and
// no row's write time may ever go back.

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/userstream/userstream/cassandrastore"
	"github.com/userstream/userstream/kafkasink"
	"github.com/userstream/userstream/kafkasink/outbox"
	"github.com/userstream/userstream/randomuser"
	"github.com/userstream/userstream/randomuser/randomusertest"
	"github.com/userstream/userstream/reconcile"
	"github.com/userstream/userstream/transform"
)

// changeShare is the share of the users the API changes on day 1.
const changeShare = 1.0 / 3

// updateUsers returns the users of the update and reconciler scenarios:
// a fifth of USERSTREAM_FAULT_USERS (20,000 by default), at least 2,000,
// so that each, with two passes over its users, takes about two minutes.
func updateUsers(t *testing.T) int {
	t.Helper()
	return max(faultUsers(t)/5, 2000)
}

// dayRows returns the valid rows the API serves for cfg's seed on day,
// changing share of its users a day, by id, computed independently of the
// pipeline with an in-process offline server and the randomuser client.
// A later row of an id wins, as in staging.
func dayRows(ctx context.Context, cfg config, share float64, day int) (map[string]transform.Row, error) {
	srv, err := randomusertest.NewServer(randomusertest.WithChangeShare(share), randomusertest.WithDay(day))
	if err != nil {
		return nil, err
	}
	defer srv.Close()
	cl, err := randomuser.New(randomuser.WithBaseURL(srv.BaseURL()))
	if err != nil {
		return nil, err
	}
	rows := make(map[string]transform.Row, cfg.Users)
	for u, err := range cl.Users(ctx, randomuser.Query{Results: cfg.PageSize, Seed: cfg.Seed}, cfg.Users) {
		if err != nil {
			return nil, err
		}
		if row := transform.FromUser(u); row.Validate() == nil {
			rows[row.ID] = row
		}
	}
	return rows, nil
}

// writeTimes is each row's write time, by id.
type writeTimes map[string]int64

// tableRows reads every row of cfg's table with its write time, at the
// session's consistency (LOCAL_QUORUM), the ring cut into ranges scanned
// in parallel; and, with count, the table's Count (-1 without).
func tableRows(ctx context.Context, cfg config, count bool) (n int64, rows map[string]cassandrastore.Stored, err error) {
	// As tableIDs: a longer bound, and again on a timeout, up to five
	// tries: for some seconds after a node is SIGKILLed the others still
	// take it for up, and a coordinator that waits for its answer times
	// out ("received only 1 responses") until gossip convicts it.
	for attempt := 1; ; attempt++ {
		n, rows, err = scanRows(ctx, cfg, count)
		if err == nil || attempt == 5 || !(cassandrastore.IsTimeout(err) || cassandrastore.IsRetryable(err)) || ctx.Err() != nil {
			return n, rows, err
		}
		fmt.Fprintf(os.Stderr, "faults: scan of %s.%s, try %d: %v; trying again\n", cfg.Keyspace, cfg.Table, attempt, err)
	}
}

func scanRows(ctx context.Context, cfg config, count bool) (int64, map[string]cassandrastore.Stored, error) {
	s, err := cassandrastore.NewSession(ctx, cfg.CassandraHosts, cassandrastore.WithRequestTimeout(time.Minute))
	if err != nil {
		return 0, nil, err
	}
	defer s.Close()
	store, err := cassandrastore.New(s, cassandrastore.WithKeyspace(cfg.Keyspace), cassandrastore.WithTable(cfg.Table))
	if err != nil {
		return 0, nil, err
	}
	var n int64 = -1
	if count {
		if n, err = store.Count(ctx); err != nil {
			return 0, nil, err
		}
	}
	var (
		mu   sync.Mutex
		rows = make(map[string]cassandrastore.Stored, cfg.Users)
		dup  int
		wg   sync.WaitGroup
	)
	ranges := cassandrastore.SplitRing(4)
	errs := make([]error, len(ranges))
	for i, tr := range ranges {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = store.Scan(ctx, tr, func(page []cassandrastore.Stored) error {
				mu.Lock()
				defer mu.Unlock()
				for _, st := range page {
					if _, ok := rows[st.Row.ID]; ok {
						dup++
					}
					rows[st.Row.ID] = st
				}
				return nil
			})
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return 0, nil, err
	}
	if dup > 0 {
		return 0, nil, fmt.Errorf("%d ids met twice in a scan", dup)
	}
	return n, rows, nil
}

// updRun is an updates scenario in progress: the run of day 1 (its
// producer, consumers, monitor, faults), and what day 0 left.
type updRun struct {
	*run
	day0Records int64 // records in the topic once day 0 was consumed
	changed     int   // users the API changed on day 1
	// snapshots are the tables's write times after day 0 (the first) and
	// during day 1's stream (snapshot): none may be above the end's.
	snapshots []writeTimes
}

// changesCommitted waits until the group has committed share of day 1's
// changes.
func (u *updRun) changesCommitted(ctx context.Context, share float64) error {
	n := u.day0Records + int64(share*float64(u.changed))
	_, err := u.mon.waitFor(ctx, fmt.Sprintf("%.0f%% of the %d changes committed", 100*share, u.changed),
		func(s sample) bool { return s.committedTotal() >= n })
	return err
}

// changesPublished waits until the relay has published share of day 1's
// changes.
func (u *updRun) changesPublished(ctx context.Context, share float64) error {
	n := u.day0Records + int64(share*float64(u.changed))
	_, err := u.mon.waitFor(ctx, fmt.Sprintf("%.0f%% of the %d changes published", 100*share, u.changed),
		func(s sample) bool { return s.published >= n })
	return err
}

// snapshot reads every row's write time now, while day 1 flows.
func (u *updRun) snapshot(ctx context.Context) error {
	start := time.Now()
	_, rows, err := tableRows(ctx, u.cfg, false)
	if err != nil {
		return fmt.Errorf("snapshot of the write times: %w", err)
	}
	wt := make(writeTimes, len(rows))
	for id, st := range rows {
		wt[id] = st.WriteTime
	}
	u.snapshots = append(u.snapshots, wt)
	u.t.Logf("snapshot of %d rows' write times in %v", len(wt), time.Since(start).Round(time.Millisecond))
	return nil
}

// updatesScenario runs su's pipeline on day 0 of an API that changes
// changeShare of its users a day, without faults, until the group has
// consumed it; takes the write time of every row; then streams day 1 (su's
// pace, the last page held until inject returns) while inject breaks
// things. At the end the table must hold exactly day 1's row of every
// user, the unchanged users at their day-0 write time and the changed
// ones above it, no write time below any snapshot, and the reconciler
// must find no difference.
func updatesScenario(t *testing.T, su setup, inject func(context.Context, *updRun) error) *updRun {
	name := su.name
	st := newStack(t)
	st.ensureUp(t)
	users := su.users
	if users == 0 {
		users = updateUsers(t)
	}
	cfg := newConfig(t, "f_"+name, users)
	if su.pageSize > 0 {
		cfg.PageSize = su.pageSize
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
	u := &updRun{run: &run{t: t, cfg: cfg, stack: st, bins: binaries(t), logs: logs, rnd: newRand(t),
		gate: newGate(t, unlimited, randomusertest.WithChangeShare(changeShare))}}
	r := u.run
	ctx, cancel := context.WithTimeout(context.Background(), 9*time.Minute)
	defer cancel()

	day0, err := dayRows(ctx, cfg, changeShare, 0)
	if err != nil {
		t.Fatal(err)
	}
	want, err := dayRows(ctx, cfg, changeShare, 1)
	if err != nil {
		t.Fatal(err)
	}
	for id, row := range want {
		old, ok := day0[id]
		if !ok {
			t.Fatalf("user %s is served on day 1 and not on day 0", id)
		}
		if old != row {
			u.changed++
		}
	}
	if len(day0) != len(want) || u.changed == 0 {
		t.Fatalf("day 0 serves %d users, day 1 %d of which %d changed: want the same users, some changed", len(day0), len(want), u.changed)
	}
	r.users = len(want)
	r.pages = (users + cfg.PageSize - 1) / cfg.PageSize
	if r.pages < 2 {
		t.Fatalf("%d users make %d page(s) of %d: the scenario holds a page back and needs at least 2", users, r.pages, cfg.PageSize)
	}
	t.Logf("%s: %d users of seed %q (%d unique), %d of them changed on day 1 (share %.2f), pages of %d, topic %s, replication %d",
		name, users, cfg.Seed, r.users, u.changed, changeShare, cfg.PageSize, cfg.Topic, cfg.replication())

	for i, n := range su.consumers {
		id := fmt.Sprintf("consumer%d", i+1)
		sup := startSupervisor(t, id, filepath.Join(r.bins, "consumer"), logs, false, su.exits, r.consumerArgs(id, n)...)
		r.mu.Lock()
		r.cons = append(r.cons, sup)
		r.mu.Unlock()
	}
	var prods []*supervisor
	t.Cleanup(func() {
		for _, c := range r.consumers() {
			c.kill()
		}
		for _, p := range prods {
			p.kill()
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
	fail := func(format string, args ...any) {
		s := r.mon.last()
		t.Errorf(format, args...)
		t.Errorf("last progress: stored %d, published %d, committed %d (day 0: %d records; day 1: %d changes)",
			s.stored, s.published, s.committedTotal(), u.day0Records, u.changed)
		for _, sup := range append(r.consumers(), prods...) {
			for _, p := range sup.procs() {
				t.Logf("--- %s (alive %v, err %v):\n%s", p.name, p.alive(), p.err, p.logTail(12))
			}
		}
		t.FailNow()
	}
	produce := func(name string) *supervisor {
		p := startSupervisor(t, name, filepath.Join(r.bins, "producer"), logs, true, su.exits, r.producerArgs()...)
		prods = append(prods, p)
		r.prod = p
		return p
	}
	finish := func(p *supervisor, records int64) sample {
		select {
		case <-p.done:
		case <-ctx.Done():
			fail("%s did not finish", p.name)
		}
		if !p.succeeded {
			fail("%s did not succeed", p.name)
		}
		s, err := r.mon.waitFor(ctx, "the group to drain the topic", func(s sample) bool {
			return s.published >= records && s.drained()
		})
		if err != nil {
			fail("%v", err)
		}
		return s
	}

	// Day 0, as fast as it goes.
	start0 := time.Now()
	s := finish(produce("producer-day0"), int64(r.users))
	u.day0Records = s.published
	t.Logf("day 0: %d records consumed in %v", u.day0Records, time.Since(start0).Round(time.Millisecond))
	if err := u.snapshot(ctx); err != nil {
		t.Fatal(err)
	}
	if n := len(u.snapshots[0]); n != r.users {
		t.Fatalf("after day 0 the table holds %d rows, want the %d users", n, r.users)
	}

	// Day 1, as a stream, the last page held until the faults are done.
	r.gate.api.SetDay(1)
	r.hold(1)
	if su.pace > 0 {
		r.cfg.Rate = float64(users) / su.pace.Seconds()
	}
	start := time.Now()
	p1 := produce("producer-day1")
	injected := make(chan error, 1)
	go func() { injected <- inject(ctx, u) }()
	if err := <-injected; err != nil {
		fail("inject: %v", err)
	}
	finish(p1, u.day0Records+int64(u.changed))
	took := time.Since(start)
	for _, c := range r.consumers() {
		if c.current().alive() {
			c.stop(45 * time.Second)
		}
	}
	r.mon.sampleOnce(ctx)
	r.mon.stop()
	t.Logf("%s: day 1 drained in %v", name, took.Round(time.Millisecond))

	f := u.verify(ctx, want, day0)
	f.scenario, f.faults, f.duration = name, su.faults, took
	samples := r.mon.all()
	writeSamples(t, filepath.Join(r.logs, "samples.tsv"), samples)
	for i, ev := range r.events {
		until := samples[len(samples)-1].at
		if i+1 < len(r.events) {
			until = r.events[i+1].at
		}
		back := ev.back.Sub(ev.at)
		if ev.back.IsZero() {
			back = -1
		}
		longest := longestStall(samples, ev, until)
		e := eventFigure{what: ev.what, back: back, recovered: -1, storing: -1, stall: longest.d}
		if d, ok := recovery(samples, ev); ok {
			e.recovered = d
		}
		if ev.restarted != nil {
			if d, ok := ev.restarted.storingAfter(ev.back); ok {
				e.storing = d
			}
		}
		t.Logf("recovery: %s: back after %s; every stalled stage progressing %s later; restarted process storing after %s; longest stall from the fault %s",
			ev.what, secs(e.back), secs(e.recovered), secs(e.storing), longest)
		if ev.maxStoring > 0 && (e.storing < 0 || e.storing > ev.maxStoring) {
			t.Errorf("%s: the restarted process stored its first row %s after its start, want within %s", ev.what, secs(e.storing), secs(ev.maxStoring))
		}
		f.events = append(f.events, e)
	}
	for _, sup := range append(r.consumers(), prods...) {
		f.restarts += sup.failures
	}
	addFigure(f)
	t.Logf("figures: users in %d (%d changed on day 1), rows out %d, missing %d, duplicates in topic %d, records stored by the consumers %d (duplicates %s), dead letters %d, processes that exited by themselves and were restarted %d",
		f.usersIn, u.changed, f.rowsOut, f.missing, f.topicDups, f.delivered, f.duplicates(), f.deadLetters, f.restarts)
	return u
}

// verify checks that the table ends at day 1's rows, nothing rolled back,
// and returns the figures.
func (u *updRun) verify(ctx context.Context, want, day0 map[string]transform.Row) figure {
	t := u.t
	versions := int64(len(want) + u.changed)
	f := figure{usersIn: len(want), records: versions}

	// The table: exactly day 1's row of every user (read at the session's
	// consistency: LOCAL_QUORUM).
	count, rows, err := tableRows(ctx, u.cfg, true)
	if err != nil {
		t.Fatalf("read the table: %v", err)
	}
	f.rowsOut = count
	var missing, stale, older, extra []string
	for id, row := range want {
		st, ok := rows[id]
		switch {
		case !ok:
			missing = append(missing, id)
		case st.Row == day0[id] && row != day0[id]:
			older = append(older, id) // day 0's row: the change lost or rolled back
		case st.Row != row:
			stale = append(stale, id)
		}
	}
	for id := range rows {
		if _, ok := want[id]; !ok {
			extra = append(extra, id)
		}
	}
	f.missing = len(missing)
	if count != int64(len(want)) || len(rows) != len(want) {
		t.Errorf("the table holds %d rows (%d distinct ids), want exactly the %d users", count, len(rows), len(want))
	}
	for _, c := range []struct {
		what string
		ids  []string
	}{{"missing from the table", missing}, {"at their day-0 row, not day 1's", older},
		{"with a row that is neither day 0's nor day 1's", stale}, {"in the table that the API never served", extra}} {
		if len(c.ids) > 0 {
			t.Errorf("%d users %s, such as %v", len(c.ids), c.what, c.ids[:min(5, len(c.ids))])
		}
	}

	// Write times: an unchanged user keeps its day-0 write time (nothing
	// rewrote it), a changed one is above it (its day-1 version), and no
	// row is below what a snapshot saw: nothing rolled back.
	var rolledBack, advanced, moved int
	for i, snap := range u.snapshots {
		for id, wt := range snap {
			if st, ok := rows[id]; ok && st.WriteTime < wt {
				if rolledBack++; rolledBack <= 5 {
					t.Errorf("user %s: write time %d at the end, below the %d of snapshot %d: rolled back", id, st.WriteTime, wt, i)
				}
			}
		}
	}
	before := u.snapshots[0]
	for id, row := range want {
		st, ok := rows[id]
		if !ok {
			continue
		}
		switch changed := row != day0[id]; {
		case changed && st.WriteTime > before[id]:
			advanced++
		case !changed && st.WriteTime != before[id]:
			moved++
		}
	}
	if rolledBack > 0 {
		t.Errorf("%d write times went back", rolledBack)
	}
	if advanced != u.changed || moved != 0 {
		t.Errorf("write times: %d of the %d changed users above their day-0 write time (want all); %d unchanged users not at it (want none)",
			advanced, u.changed, moved)
	}
	t.Logf("updates: %d users, %d changed on day 1; at the end %d rows at day 1's values, %d missing, %d at day 0's, %d other; write times: %d changed users advanced, %d unchanged moved, %d below a snapshot (%d snapshots)",
		len(want), u.changed, len(want)-len(missing)-len(older)-len(stale), len(missing), len(older), len(stale),
		advanced, moved, rolledBack, len(u.snapshots))

	// The topic: every version once at least, each with its row-version
	// header; what is there twice came from a relay killed after the
	// broker's ack.
	recs, err := readTopic(ctx, u.cfg.Brokers, u.cfg.Topic)
	if err != nil {
		t.Fatalf("read the topic: %v", err)
	}
	type version struct{ id, v string }
	seen := map[version]bool{}
	noHeader := 0
	for _, rec := range recs {
		v := header(rec, kafkasink.HeaderRowVersion)
		if v == "" {
			noHeader++
		}
		seen[version{string(rec.Key), v}] = true
	}
	f.topicDups = len(recs) - len(seen)
	if int64(len(seen)) != versions || noHeader > 0 {
		t.Errorf("the topic holds %d distinct versions (%d records, %d without a version header), want %d (%d users, %d changes)",
			len(seen), len(recs), noHeader, versions, len(want), u.changed)
	}
	dlq, err := readTopic(ctx, u.cfg.Brokers, u.cfg.DLQTopic)
	if err != nil {
		t.Fatalf("read the dead-letter topic: %v", err)
	}
	f.deadLetters = int64(len(dlq))
	if len(dlq) != 0 {
		t.Errorf("%d records in the dead-letter topic, want none; first: %s: %s", len(dlq), header(dlq[0], "dlq-reason"), header(dlq[0], "dlq-error"))
	}

	// The outbox: every version published, nothing pending; and the
	// reconciler agrees with all of the above.
	pool, err := pgxpool.New(ctx, u.cfg.PostgresDSN)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	ob, err := outbox.NewStore(pool, outbox.WithSchema(u.cfg.PostgresSchema))
	if err != nil {
		t.Fatal(err)
	}
	c, err := ob.Counts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if c.Pending != 0 || c.Published != versions {
		t.Errorf("outbox: %+v, want %d versions published, none pending", c, versions)
	}
	rep, took, err := check(ctx, u.cfg, ob)
	if err != nil {
		t.Fatalf("reconcile: %v", err)
	}
	t.Logf("reconciler: compared %d ids in %v: %d missing, %d stale, %d unexpected", rep.Compared, took.Round(time.Millisecond), rep.Missing, rep.Stale, rep.Unexpected)
	if rep.Differences() != 0 || rep.Compared != int64(len(want)) {
		t.Errorf("reconciler: compared %d, missing %d, stale %d, unexpected %d (first findings %v): want %d compared, no difference",
			rep.Compared, rep.Missing, rep.Stale, rep.Unexpected, rep.Findings[:min(5, len(rep.Findings))], len(want))
	}

	for _, sup := range u.consumers() {
		for _, p := range sup.procs() {
			if n := p.summaryStored(); n >= 0 {
				f.delivered += n
			} else {
				f.delivered += p.stored.Load()
				f.deliveredMin = true
			}
		}
	}
	return f
}

// check runs the reconciler over every id of cfg's table against ob, at
// the session's consistency (LOCAL_QUORUM), and returns its report and
// how long it took (of the last try). A read that timed out (a node just
// killed, see tableRows, or back, on two loaded cores) is tried again, up
// to five tries: a check only reads.
func check(ctx context.Context, cfg config, ob *outbox.Store) (rep *reconcile.Report, took time.Duration, err error) {
	for attempt := 1; ; attempt++ {
		rep, took, err = checkOnce(ctx, cfg, ob)
		if err == nil || attempt == 5 || !(cassandrastore.IsTimeout(err) || cassandrastore.IsRetryable(err)) || ctx.Err() != nil {
			return rep, took, err
		}
		fmt.Fprintf(os.Stderr, "faults: reconciler check, try %d: %v; trying again\n", attempt, err)
	}
}

func checkOnce(ctx context.Context, cfg config, ob *outbox.Store) (*reconcile.Report, time.Duration, error) {
	s, err := cassandrastore.NewSession(ctx, cfg.CassandraHosts, cassandrastore.WithRequestTimeout(time.Minute))
	if err != nil {
		return nil, 0, err
	}
	defer s.Close()
	table, err := cassandrastore.New(s, cassandrastore.WithKeyspace(cfg.Keyspace), cassandrastore.WithTable(cfg.Table))
	if err != nil {
		return nil, 0, err
	}
	rec, err := reconcile.New(ob, table, reconcile.WithMaxFindings(10_000))
	if err != nil {
		return nil, 0, err
	}
	start := time.Now()
	rep, err := rec.Check(ctx, reconcile.Scope{})
	return rep, time.Since(start), err
}
