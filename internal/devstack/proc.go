package devstack

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func pidFile(dir string) string { return filepath.Join(dir, "pid") }

// readPid returns the pid in the first line of file.
func readPid(file string) (int, bool) {
	b, err := os.ReadFile(file)
	if err != nil {
		return 0, false
	}
	line, _, _ := strings.Cut(string(b), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(line))
	return pid, err == nil && pid > 0
}

// pidAlive: file names a process that exists (kill -0).
func pidAlive(file string) bool {
	pid, ok := readPid(file)
	return ok && processAlive(pid)
}

// processAlive: pid exists and has not finished exiting. A zombie whose
// threads are all gone (exited, its files and sockets closed, not yet
// reaped by its parent, which may never wait for it) counts as gone. A
// process whose main thread is a zombie while other threads still run (a
// JVM being killed) is alive: its sockets are still open.
func processAlive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return (err == nil || errors.Is(err, syscall.EPERM)) && !defunct(pid)
}

// defunct: pid is a zombie with no thread left but its main one.
func defunct(pid int) bool {
	if !zombie(pid) {
		return false
	}
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	return err != nil || len(tasks) <= 1
}

// portBusy: something accepts connections on addr.
func portBusy(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// spawn starts argv detached, the way the supervisor always has: in a
// session of its own (a terminal's hang-up or Ctrl-C does not reach it),
// stdin from /dev/null, stdout and stderr to logPath (truncated), its pid
// in dir/pid. The server outlives this program. A goroutine waits for it so
// that a server dying while we still run is reaped, not left a zombie that
// kill -0 would call alive.
func (s *Stack) spawn(dir, logPath string, argv []string) error {
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("devstack: start %s: %w", argv[0], err)
	}
	pid := cmd.Process.Pid
	go func() {
		_ = cmd.Wait()
		s.childMu.Lock()
		s.childDone[pid] = true
		s.childMu.Unlock()
	}()
	return os.WriteFile(pidFile(dir), []byte(strconv.Itoa(pid)+"\n"), 0o644)
}

// stopPid signals the process in each dir's pid file, waits up to 30 s
// (or until ctx is done) for them to go, then SIGKILLs what is left, and
// removes the pid files.
func stopPid(ctx context.Context, sig syscall.Signal, dirs ...string) {
	var pids []int
	for _, dir := range dirs {
		file := pidFile(dir)
		pid, ok := readPid(file)
		if !ok || !processAlive(pid) {
			os.Remove(file)
			continue
		}
		_ = syscall.Kill(pid, sig)
		pids = append(pids, pid)
	}
	anyAlive := func() bool {
		for _, pid := range pids {
			if processAlive(pid) {
				return true
			}
		}
		return false
	}
	for i := 0; i < 120 && anyAlive() && ctx.Err() == nil; i++ {
		time.Sleep(250 * time.Millisecond)
	}
	for _, pid := range pids {
		if processAlive(pid) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	for _, dir := range dirs {
		os.Remove(pidFile(dir))
	}
}

// zombie: pid has exited but its parent has not reaped it yet.
func zombie(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	_, rest, ok := bytes.Cut(b, []byte(") "))
	return ok && len(rest) > 0 && rest[0] == 'Z'
}

// tail returns the last n lines of path.
func tail(path string, n int) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 4*1024*1024)
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if len(lines) > n {
			lines = lines[1:]
		}
	}
	if len(lines) == 0 {
		return "", sc.Err()
	}
	return strings.Join(lines, "\n") + "\n", sc.Err()
}

func isRoot() bool { return os.Geteuid() == 0 }

// asPostgres runs a command as the postgres user when we are root, because
// PostgreSQL refuses to run as root.
func asPostgres(argv ...string) *exec.Cmd {
	if isRoot() {
		argv = append([]string{"runuser", "-u", "postgres", "--"}, argv...)
	}
	return exec.Command(argv[0], argv[1:]...)
}

// chownPostgres gives path (and, with recursive, what is under it) to the
// postgres user when we are root.
func chownPostgres(path string, recursive bool) error {
	if !isRoot() {
		return nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return fmt.Errorf("devstack: %w", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	if !recursive {
		return os.Lchown(path, uid, gid)
	}
	return filepath.Walk(path, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, uid, gid)
	})
}

// runQuiet runs cmd with stdin, returning its combined output in the error.
func runQuiet(cmd *exec.Cmd, stdin io.Reader) error {
	cmd.Stdin = stdin
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %w: %s", strings.Join(cmd.Args, " "), err, bytes.TrimSpace(out))
	}
	return nil
}

// ChildPids returns the pids of pid's live children: from the kernel's
// lists of each thread's children when it keeps them
// (CONFIG_PROC_CHILDREN), else from a scan of /proc.
func ChildPids(pid int) []int {
	var kids []int
	if lists, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pid)); len(lists) > 0 {
		for _, l := range lists {
			b, _ := os.ReadFile(l)
			for _, f := range strings.Fields(string(b)) {
				if c, err := strconv.Atoi(f); err == nil {
					kids = append(kids, c)
				}
			}
		}
		return kids
	}
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, f := range stats {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...
		i := bytes.LastIndexByte(b, ')')
		if i < 0 {
			continue
		}
		fields := strings.Fields(string(b[i+1:]))
		if len(fields) < 2 || fields[1] != strconv.Itoa(pid) {
			continue
		}
		if c, err := strconv.Atoi(filepath.Base(filepath.Dir(f))); err == nil {
			kids = append(kids, c)
		}
	}
	return kids
}
