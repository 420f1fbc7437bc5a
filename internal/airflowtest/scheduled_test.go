//go:build airflow

package airflowtest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/userstream/userstream/internal/testenv"
	"github.com/userstream/userstream/runledger"
)

// The DAG as an operator runs it: the components `airflow standalone` runs
// (API server, scheduler with a LocalExecutor of parallelism 2, DAG
// processor), each started on its own so that nothing listens beyond
// 127.0.0.1 (standalone's scheduler always serves task logs on every
// interface). Over the REST API (/api/v2, a JWT from /auth/token) the DAG is
// unpaused, which makes the scheduler run today's scheduled run, and run by
// hand without a logical date (the UI's Trigger button), which is the run
// the seed's {{ ds_nodash }} broke. Both must succeed at the first try and
// store the users of their date, each once; then every component stops on
// SIGTERM.
func TestScheduledAndManualRuns(t *testing.T) {
	bin := binaries(t)
	s := newStack(t, "af_sched")
	s.startConsumer(t, bin)
	port := freePort(t)
	base := "http://127.0.0.1:" + strconv.Itoa(port)
	password := randomHex(t)
	a := newAirflow(t, s, bin,
		"AIRFLOW__CORE__EXECUTOR=LocalExecutor",
		"AIRFLOW__CORE__PARALLELISM=2",
		"AIRFLOW__API__HOST=127.0.0.1",
		"AIRFLOW__API__PORT="+strconv.Itoa(port),
		"AIRFLOW__API__WORKERS=1",
		"AIRFLOW__CORE__EXECUTION_API_SERVER_URL="+base+"/execution/",
		"AIRFLOW__API_AUTH__JWT_SECRET="+randomHex(t),
		"AIRFLOW__API__SECRET_KEY="+randomHex(t),
		"AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS=admin:admin",
	)
	// The simple auth manager reads the password from this file (it
	// generates one when the file is missing, as standalone prints).
	pwFile := filepath.Join(a.home, "passwords.json")
	if err := os.WriteFile(pwFile, []byte(`{"admin": "`+password+`"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	a.env = append(a.env, "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE="+pwFile)

	start := time.Now()
	stop, pgids := a.startComponents(t,
		[]string{"api-server"},
		[]string{"scheduler", "--skip-serve-logs"},
		[]string{"dag-processor"},
	)
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	api := &restClient{base: base}
	if err := api.waitHealthy(ctx); err != nil {
		stop()
		t.Fatalf("API server on %s: %v", base, err)
	}
	if err := api.login(ctx, "admin", password); err != nil {
		stop()
		t.Fatal(err)
	}
	// The DAG processor parses the folder at start; the DAG shows up then.
	if err := api.poll(ctx, func() (bool, error) {
		code, err := api.do(ctx, "GET", "/api/v2/dags/"+dagID, nil, nil)
		return code == http.StatusOK, err
	}); err != nil {
		stop()
		t.Fatalf("the DAG never appeared in the API: %v", err)
	}
	t.Logf("Airflow up, DAG parsed, after %v", time.Since(start).Round(100*time.Millisecond))

	var dag struct {
		IsPaused bool `json:"is_paused"`
	}
	if code, err := api.do(ctx, "PATCH", "/api/v2/dags/"+dagID, map[string]any{"is_paused": false}, &dag); err != nil || code != http.StatusOK || dag.IsPaused {
		stop()
		t.Fatalf("unpause: %d %v, paused %v", code, err, dag.IsPaused)
	}
	var manual dagRun
	if code, err := api.do(ctx, "POST", "/api/v2/dags/"+dagID+"/dagRuns", map[string]any{"logical_date": nil}, &manual); err != nil || code != http.StatusOK {
		stop()
		t.Fatalf("trigger: %d %v", code, err)
	}
	if manual.LogicalDate != nil {
		t.Errorf("the manual run has logical date %v, want none (what the UI's Trigger makes)", manual.LogicalDate)
	}

	// Both runs to an end: today's scheduled run and the manual one.
	var runs []dagRun
	err := api.poll(ctx, func() (bool, error) {
		var page struct {
			DagRuns []dagRun `json:"dag_runs"`
		}
		if _, err := api.do(ctx, "GET", "/api/v2/dags/"+dagID+"/dagRuns?order_by=id", nil, &page); err != nil {
			return false, err
		}
		runs = page.DagRuns
		// A failed try would be retried 5 minutes later (the DAG's
		// retry_delay): fail now, with the try's state.
		var tis struct {
			TaskInstances []struct {
				RunID     string  `json:"dag_run_id"`
				State     *string `json:"state"`
				TryNumber int     `json:"try_number"`
			} `json:"task_instances"`
		}
		if _, err := api.do(ctx, "GET", "/api/v2/dags/"+dagID+"/dagRuns/~/taskInstances", nil, &tis); err != nil {
			return false, err
		}
		for _, ti := range tis.TaskInstances {
			if ti.State != nil && (*ti.State == "up_for_retry" || *ti.State == "failed") {
				return false, fmt.Errorf("%w: run %s: task %s at try %d", errTaskFailed, ti.RunID, *ti.State, ti.TryNumber)
			}
		}
		scheduled, ended := 0, 0
		for _, r := range runs {
			if r.RunType == "scheduled" {
				scheduled++
			}
			if r.State == "success" || r.State == "failed" {
				ended++
			}
		}
		return scheduled > 0 && ended == len(runs) && len(runs) >= 2, nil
	})
	took := time.Since(start)
	// Nothing of Airflow's, the task's processes included, listens beyond
	// 127.0.0.1 (the API server at least listens).
	addrs, lerr := listeners(pgids)
	stop()
	if lerr != nil {
		t.Errorf("listening sockets: %v", lerr)
	}
	apiListens := false
	for _, a := range addrs {
		if !a.IP.Equal(net.IPv4(127, 0, 0, 1)) {
			t.Errorf("an Airflow process listens on %s, want 127.0.0.1 only", a.String())
		}
		apiListens = apiListens || a.Port == port
	}
	t.Logf("Airflow's processes listened on %v", addrs)
	if !apiListens {
		t.Errorf("listening sockets %v do not include the API server's port %d: is the check blind?", addrs, port)
	}
	if err != nil {
		a.logTaskLogs(t)
		t.Fatalf("runs: %+v: %v", runs, err)
	}
	t.Logf("scheduled and manual runs ended %v after start", took.Round(100*time.Millisecond))

	var want []string
	seeds := map[string]bool{}
	for _, r := range runs {
		date := r.RunAfter
		if r.LogicalDate != nil {
			date = *r.LogicalDate
		}
		t.Logf("run %s (%s): %s, date %s", r.ID, r.RunType, r.State, date.Format(time.DateOnly))
		if r.State != "success" {
			t.Errorf("run %s (%s) ended %s, want success", r.ID, r.RunType, r.State)
		}
		if seed := seedOf(date); !seeds[seed] {
			seeds[seed] = true
			want = append(want, seedIDs(t, seed, runUsers)...)
		}
	}
	if len(runs) != 2 {
		t.Errorf("%d runs, want the scheduled one and the manual one: %+v", len(runs), runs)
	}
	s.verify(t, want)

	// The ledger: one ingest run per DAG run, first try each, together
	// staging each user once (two runs of one day stage it once between
	// them, whichever is first).
	ingest := s.ingestRuns(t)
	var staged int64
	for _, r := range ingest {
		if r.Status != runledger.StatusSucceeded || r.Fetched != runUsers {
			t.Errorf("ledger run %+v, want succeeded with %d fetched", r, runUsers)
		}
		staged += r.Staged
	}
	if len(ingest) != len(runs) || staged != int64(len(want)) {
		t.Errorf("ledger: %d ingest runs staging %d users, want %d runs staging %d: %+v", len(ingest), staged, len(runs), len(want), ingest)
	}
	for _, tr := range a.runsInDB(t) {
		if tr.TryNumber != 1 || tr.TaskState != "success" {
			t.Errorf("run %s: task %s at try %d, want success at the first try", tr.RunID, tr.TaskState, tr.TryNumber)
		}
	}
	t.Logf("stored %d users (seeds %v)", len(want), keys(seeds))
}

// logTaskLogs logs the end of each task try's log, which the scheduler's
// executor writes under AIRFLOW_HOME/logs: why a try failed.
func (a *airflow) logTaskLogs(t *testing.T) {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(a.home, "logs", "dag_id="+dagID, "run_id=*", "task_id="+taskID, "attempt=*.log"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Logf("%s: %v", f, err)
			continue
		}
		t.Logf("%s (last lines):\n%s", strings.TrimPrefix(f, a.home+string(filepath.Separator)), tail(string(b), 15))
	}
}

// dagRun is a DAG run as the REST API returns it.
type dagRun struct {
	ID          string     `json:"dag_run_id"`
	RunType     string     `json:"run_type"`
	State       string     `json:"state"`
	LogicalDate *time.Time `json:"logical_date"`
	RunAfter    time.Time  `json:"run_after"`
}

// startComponents starts each airflow command in its own process group and
// returns a function that stops them, and their process groups: SIGTERM, as a service manager does,
// then a wait for each, after which nothing of its group may be left. A
// component that exits before stop is a failure.
func (a *airflow) startComponents(t *testing.T, cmds ...[]string) (stop func(), pgids []int) {
	t.Helper()
	type proc struct {
		name string
		cmd  *exec.Cmd
		out  *testenv.Buffer
		done chan error
	}
	var procs []*proc
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		for _, p := range procs {
			_ = p.cmd.Process.Signal(syscall.SIGTERM)
		}
		for _, p := range procs {
			select {
			case err := <-p.done:
				t.Logf("airflow %s stopped on SIGTERM: %v", p.name, exitText(err))
			case <-time.After(2 * time.Minute):
				_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
				<-p.done
				t.Errorf("airflow %s did not stop within 2 minutes of SIGTERM\n%s", p.name, tail(p.out.String(), 40))
			}
			// Its children (executor workers, API server workers) go with it.
			if err := syscall.Kill(-p.cmd.Process.Pid, 0); !errors.Is(err, syscall.ESRCH) {
				_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
				t.Errorf("airflow %s left processes behind after it stopped", p.name)
			}
		}
	}
	t.Cleanup(stop)
	for _, args := range cmds {
		p := &proc{name: args[0], out: &testenv.Buffer{}, done: make(chan error, 1)}
		p.cmd = exec.Command(filepath.Join(a.venv, "bin", "airflow"), args...)
		p.cmd.Env, p.cmd.Dir = a.env, a.home
		p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
		p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		if err := p.cmd.Start(); err != nil {
			stop()
			t.Fatalf("airflow %s: %v", p.name, err)
		}
		go func() { p.done <- p.cmd.Wait() }()
		procs = append(procs, p)
		pgids = append(pgids, p.cmd.Process.Pid)
	}
	t.Cleanup(func() {
		if t.Failed() {
			for _, p := range procs {
				t.Logf("airflow %s output (last lines):\n%s", p.name, tail(p.out.String(), 40))
			}
		}
	})
	return stop, pgids
}

// errTaskFailed ends a poll at once.
var errTaskFailed = errors.New("a task failed")

// restClient calls Airflow 3's REST API with a JWT.
type restClient struct {
	base, token string
}

func (c *restClient) do(ctx context.Context, method, path string, body, into any) (int, error) {
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, err
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, r)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, err
	}
	if resp.StatusCode >= 300 {
		return resp.StatusCode, fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, b)
	}
	if into != nil {
		if err := json.Unmarshal(b, into); err != nil {
			return resp.StatusCode, fmt.Errorf("%s %s: %w: %s", method, path, err, b)
		}
	}
	return resp.StatusCode, nil
}

// poll calls f every half second until it reports done, or ctx ends.
func (c *restClient) poll(ctx context.Context, f func() (bool, error)) error {
	var last error
	for {
		done, err := f()
		if done {
			return nil
		}
		if errors.Is(err, errTaskFailed) {
			return err
		}
		if err != nil {
			last = err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last error: %v)", ctx.Err(), last)
		case <-time.After(500 * time.Millisecond):
		}
	}
}

func (c *restClient) waitHealthy(ctx context.Context) error {
	return c.poll(ctx, func() (bool, error) {
		code, err := c.do(ctx, "GET", "/api/v2/monitor/health", nil, nil)
		return code == http.StatusOK, err
	})
}

// login takes a JWT from the simple auth manager's token endpoint.
func (c *restClient) login(ctx context.Context, user, password string) error {
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if _, err := c.do(ctx, "POST", "/auth/token", map[string]string{"username": user, "password": password}, &tok); err != nil {
		return fmt.Errorf("token: %w", err)
	}
	if tok.AccessToken == "" {
		return fmt.Errorf("token: empty access_token")
	}
	c.token = tok.AccessToken
	return nil
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func randomHex(t *testing.T) string {
	t.Helper()
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b[:])
}

func keys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
