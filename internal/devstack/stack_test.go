package devstack

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestSpawnAndKill runs a process the way servers are run (detached, its
// output in a log, its pid in a file), then kills it the way Kill does.
func TestSpawnAndKill(t *testing.T) {
	s := newTestStack(t, Config{Host: "127.0.0.9"})
	dir := s.reg.Dir
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	logPath := s.LogFiles(Registry)[0]
	if err := s.spawn(dir, logPath, []string{"sh", "-c", "echo started; exec sleep 600"}); err != nil {
		t.Fatal(err)
	}
	pid, ok := readPid(pidFile(dir))
	if !ok || !s.alive(Registry) {
		t.Fatalf("pid file %v (%v), alive %v", pid, ok, s.alive(Registry))
	}
	// A process of its own session: the terminal's signals do not reach it.
	if sid, err := getsid(pid); err != nil || sid != pid {
		t.Errorf("session of %d = %d, %v; want its own", pid, sid, err)
	}
	// Wait for its output before killing it: the log is the point, not
	// how long sh takes to write it.
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(10 * time.Millisecond) {
		if b, _ := os.ReadFile(logPath); string(b) == "started\n" {
			break
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(logPath)
			t.Fatalf("log after a minute: %q", b)
		}
	}
	if err := s.Kill(t.Context(), Registry); err != nil {
		t.Fatal(err)
	}
	if s.alive(Registry) || processAlive(pid) {
		t.Errorf("process %d still alive after Kill", pid)
	}
	if _, err := os.Stat(pidFile(dir)); !os.IsNotExist(err) {
		t.Errorf("pid file left: %v", err)
	}
}

// TestExitedChildIsNotAlive: a server that dies during start-up is seen
// dead at once, not kept as a zombie that kill -0 calls alive.
func TestExitedChildIsNotAlive(t *testing.T) {
	s := newTestStack(t, Config{Host: "127.0.0.9"})
	dir := s.reg.Dir
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := s.spawn(dir, filepath.Join(dir, "registry.log"), []string{"sh", "-c", "exit 3"}); err != nil {
		t.Fatal(err)
	}
	// Poll for the exit: how long sh takes is not the point.
	for deadline := time.Now().Add(time.Minute); s.alive(Registry); {
		if time.Now().After(deadline) {
			t.Fatal("an exited child is still alive after a minute")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestLogs(t *testing.T) {
	s := newTestStack(t, Config{Host: "127.0.0.9"})
	if err := os.MkdirAll(s.kafka[0].Dir, 0o755); err != nil {
		t.Fatal(err)
	}
	var lines []string
	for i := 1; i <= 50; i++ {
		lines = append(lines, fmt.Sprintf("line %d", i))
	}
	if err := os.WriteFile(s.LogFiles(Kafka)[0], []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := s.Logs(&b, "", 3); err != nil {
		t.Fatal(err)
	}
	want := "==> " + s.LogFiles(Kafka)[0] + " <==\nline 48\nline 49\nline 50\n" +
		"==> " + s.LogFiles(Cassandra)[0] + " <==\n(no log yet)\n" +
		"==> " + s.LogFiles(Postgres)[0] + " <==\n(no log yet)\n"
	if b.String() != want {
		t.Errorf("logs:\n%s\nwant:\n%s", b.String(), want)
	}
	if err := s.Logs(&b, "zookeeper", 3); err == nil {
		t.Error("logs of an unknown service: no error")
	}
}

// TestStatusOfThisStack looks (only looks) at the stack the tests run
// against, when they run against one (devstack run): the three plain
// servers answer, through the typed status the fault suite uses.
func TestStatusOfThisStack(t *testing.T) {
	if os.Getenv("USERSTREAM_STACK_DIR") == "" {
		t.Skip("USERSTREAM_STACK_DIR unset: not run through internal/devstack/devstack run")
	}
	s, err := FromEnv()
	if err != nil {
		t.Fatal(err)
	}
	if got, want := os.Getenv("USERSTREAM_KAFKA_BROKERS"), s.Env()[0].Value; got != want {
		t.Skipf("the tests point at other servers (USERSTREAM_KAFKA_BROKERS=%s, the stack's is %s)", got, want)
	}
	up := map[Service]bool{}
	for _, st := range s.Status(t.Context()) {
		up[st.Service] = st.State == Up
	}
	for _, svc := range []Service{Kafka, Cassandra, Postgres} {
		if !up[svc] {
			t.Errorf("%s is not up", svc)
		}
	}
}

// TestStopNodes: the nodes of a cluster are signalled together and all
// gone when Stop returns, one node alone with StopNode, and Processes
// lists what runs with its resident memory.
func TestStopNodes(t *testing.T) {
	s := newTestStack(t, Config{Host: "127.0.0.9", Nodes: 3})
	var pids []int
	for i, n := range s.cassandra {
		if err := os.MkdirAll(n.Dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := s.spawn(n.Dir, s.LogFiles(Cassandra)[i], []string{"sleep", "600"}); err != nil {
			t.Fatal(err)
		}
		pid, _ := readPid(pidFile(n.Dir))
		pids = append(pids, pid)
	}
	names := map[string]bool{}
	for _, p := range s.Processes() {
		names[p.Name] = true
		if p.RSS <= 0 {
			t.Errorf("%s: resident memory %d", p.Name, p.RSS)
		}
	}
	for _, want := range []string{"cassandra-1", "cassandra-2", "cassandra-3"} {
		if !names[want] {
			t.Errorf("Processes() lacks %s: %v", want, names)
		}
	}
	if err := s.StopNode(t.Context(), Cassandra, 1); err != nil {
		t.Fatal(err)
	}
	if processAlive(pids[1]) || !processAlive(pids[0]) || !processAlive(pids[2]) {
		t.Errorf("after StopNode(cassandra, 1): alive %v %v %v, want true false true",
			processAlive(pids[0]), processAlive(pids[1]), processAlive(pids[2]))
	}
	if err := s.Stop(t.Context(), Cassandra); err != nil {
		t.Fatal(err)
	}
	for i, pid := range pids {
		if processAlive(pid) {
			t.Errorf("node %d (pid %d) alive after Stop", i+1, pid)
		}
	}
	if err := s.StopNode(t.Context(), Postgres, 0); err == nil {
		t.Error("StopNode(postgres): no error")
	}
}

// ChildPids finds a live child, as it finds the postmaster's backends.
func TestChildPids(t *testing.T) {
	cmd := exec.Command("sleep", "60")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	if kids := ChildPids(cmd.Process.Pid); len(kids) != 0 {
		t.Errorf("ChildPids(sleep) = %v, want none", kids)
	}
	if kids := ChildPids(os.Getpid()); !slices.Contains(kids, cmd.Process.Pid) {
		t.Errorf("ChildPids(self) = %v, want %d among them", kids, cmd.Process.Pid)
	}
}

func getsid(pid int) (int, error) {
	sid, _, errno := syscall.RawSyscall(syscall.SYS_GETSID, uintptr(pid), 0, 0)
	if errno != 0 {
		return 0, errno
	}
	return int(sid), nil
}
