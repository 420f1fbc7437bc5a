package devstack

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// pgBin is the newest installed PostgreSQL server's bin folder.
func pgBin() (string, error) {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return pgMajor(dirs[i]) < pgMajor(dirs[j]) })
	for i := len(dirs) - 1; i >= 0; i-- {
		if _, err := os.Stat(filepath.Join(dirs[i], "postgres")); err == nil {
			return dirs[i], nil
		}
	}
	return "", fmt.Errorf("PostgreSQL server not found: install it (apt-get install postgresql)")
}

func pgMajor(binDir string) float64 {
	v, _ := strconv.ParseFloat(filepath.Base(filepath.Dir(binDir)), 64)
	return v
}

func (p PostgresServer) dataDir() string { return filepath.Join(p.Dir, "data") }
func (p PostgresServer) runDir() string  { return filepath.Join(p.Dir, "run") }

// postgresAlive: the postmaster in data/postmaster.pid runs (what pg_ctl
// status checks).
func (s *Stack) postgresAlive() bool {
	return pidAlive(filepath.Join(s.pg.dataDir(), "postmaster.pid"))
}

func (s *Stack) startPostgres(ctx context.Context) error {
	p := s.pg
	bin, err := pgBin()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(p.runDir(), 0o755); err != nil {
		return err
	}
	if isRoot() {
		if err := chownPostgres(p.Dir, true); err != nil {
			return err
		}
		// The postgres user must be able to reach its data folder: grant
		// search (not read) permission on the folders above it.
		for d := filepath.Dir(p.Dir); ; d = filepath.Dir(d) {
			if fi, err := os.Stat(d); err == nil && fi.Mode().Perm()&0o001 == 0 {
				if err := os.Chmod(d, fi.Mode().Perm()|0o001); err != nil {
					return err
				}
			}
			if d == "/" {
				break
			}
		}
	}
	if s.postgresAlive() {
		return nil
	}
	addr := hp(p.Host, p.Port)
	if portBusy(addr) {
		if s.postgresReady(ctx) == nil {
			s.logf("postgres already answers on %s (started from another stack folder); using it", addr)
			return nil
		}
		return fmt.Errorf("%s is in use by another process (another PostgreSQL cluster?) that does not accept the userstream role; stop it or point USERSTREAM_POSTGRES_DSN at it", addr)
	}
	fresh := false
	if _, err := os.Stat(filepath.Join(p.dataDir(), "PG_VERSION")); err != nil {
		fresh = true
		initLog := filepath.Join(p.Dir, "initdb.log")
		out, err := asPostgres(filepath.Join(bin, "initdb"), "-D", p.dataDir(), "-U", "postgres", "-E", "UTF8",
			"--locale=C.UTF-8", "--auth-local=trust", "--auth-host=scram-sha-256").CombinedOutput()
		_ = os.WriteFile(initLog, out, 0o644)
		if err != nil {
			return fmt.Errorf("initdb failed: %w\n%s", err, out)
		}
		conf, err := render("postgresql.conf.tmpl", p)
		if err != nil {
			return err
		}
		f, err := os.OpenFile(filepath.Join(p.dataDir(), "postgresql.conf"), os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			return err
		}
		_, err = f.Write(conf)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
	}
	logPath := filepath.Join(p.Dir, "postgres.log")
	cmd := asPostgres(filepath.Join(bin, "pg_ctl"), "-D", p.dataDir(), "-l", logPath, "start")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Run(); err != nil {
		t, _ := tail(logPath, 30)
		return fmt.Errorf("PostgreSQL did not start%w", &logError{err: err, tail: t})
	}
	s.markStarted(Postgres)
	if fresh {
		for i := 0; i < 60; i++ {
			if exec.Command(filepath.Join(bin, "pg_isready"), "-q", "-h", p.runDir(), "-p", strconv.Itoa(p.Port)).Run() == nil {
				break
			}
			time.Sleep(500 * time.Millisecond)
		}
		sql, err := render("postgres-init.sql.tmpl", nil)
		if err != nil {
			return err
		}
		if err := runQuiet(s.psql(bin), bytes.NewReader(sql)); err != nil {
			return fmt.Errorf("creating the userstream role and database failed: %w", err)
		}
	}
	return nil
}

// psql runs as the superuser over the cluster's Unix socket.
func (s *Stack) psql(bin string) *exec.Cmd {
	return asPostgres(filepath.Join(bin, "psql"), "-q", "-h", s.pg.runDir(), "-p", strconv.Itoa(s.pg.Port),
		"-U", "postgres", "-d", "postgres", "-v", "ON_ERROR_STOP=1")
}

func (s *Stack) postgresReady(ctx context.Context) error {
	return probePostgres(ctx, s.pg.DSN())
}

// postgresSecureSetup turns TLS on and keeps the TLS-only role in step with
// the files. Every step is idempotent and needs only a reload: clients keep
// their connections, and plaintext clients of other roles keep working.
func (s *Stack) postgresSecureSetup() error {
	p := s.pg
	bin, err := pgBin()
	if err != nil {
		return err
	}
	if err := s.secureInit(); err != nil {
		return err
	}
	// PostgreSQL wants its key owned by its own user with mode 0600.
	tlsDir := filepath.Join(p.Dir, "tls")
	if err := os.MkdirAll(tlsDir, 0o755); err != nil {
		return err
	}
	for _, f := range []string{"server.crt", "server.key"} {
		b, err := os.ReadFile(filepath.Join(s.tlsDir(), f))
		if err != nil {
			return err
		}
		if err := writeFile(filepath.Join(tlsDir, f), b, 0o600); err != nil {
			return err
		}
	}
	if err := chownPostgres(tlsDir, true); err != nil {
		return err
	}
	hba := filepath.Join(p.dataDir(), "pg_hba.conf")
	b, err := os.ReadFile(hba)
	if err != nil {
		return err
	}
	if !hasLine(string(b), "hostnossl all "+PostgresSecRole+" ", "") {
		// First match wins: reject the role's plaintext connections before
		// the general host lines admit them.
		head, err := render("pg_hba-secure.tmpl", struct{ Role string }{PostgresSecRole})
		if err != nil {
			return err
		}
		fi, err := os.Stat(hba)
		if err != nil {
			return err
		}
		if err := writeFile(hba, append(head, b...), fi.Mode().Perm()); err != nil {
			return err
		}
		if err := chownPostgres(hba, false); err != nil {
			return err
		}
	}
	// The password goes to psql on stdin, never in an argument; the server
	// logs no statements (log_statement is none).
	pw, err := readPassword(s.PasswordFile("postgres"))
	if err != nil {
		return err
	}
	sql, err := render("postgres-secure.sql.tmpl", struct{ Password, Role, Dir string }{pw, PostgresSecRole, p.Dir})
	if err != nil {
		return err
	}
	if err := runQuiet(s.psql(bin), bytes.NewReader(sql)); err != nil {
		return fmt.Errorf("PostgreSQL: enabling TLS and the %s role failed (log: %s): %s", PostgresSecRole,
			filepath.Join(p.Dir, "postgres.log"), strings.ReplaceAll(err.Error(), pw, "[hidden]"))
	}
	return nil
}

func (s *Stack) postgresSecureReady(ctx context.Context) error {
	return probePostgresSecure(ctx, s.pg.SecureDSN(), s.PasswordFile("postgres"), s.CAFile())
}

// postgresSecure brings up the secured side of the cluster this folder
// runs.
func (s *Stack) postgresSecure(ctx context.Context) error {
	if !s.postgresAlive() {
		return nil
	}
	if err := s.postgresSecureSetup(); err != nil {
		return err
	}
	return s.await(ctx, Postgres, "postgres-secure", s.postgresSecureReady)
}

// stopPostgres stops the cluster: fast shutdown, or SIGKILL of the
// postmaster.
func (s *Stack) stopPostgres(ctx context.Context, sig syscall.Signal) error {
	pidPath := filepath.Join(s.pg.dataDir(), "postmaster.pid")
	if _, err := os.Stat(pidPath); err != nil {
		return nil
	}
	if sig == syscall.SIGKILL {
		pid, ok := readPid(pidPath)
		if !ok {
			return nil
		}
		// Its server processes die once they see the postmaster gone.
		// Wait for them, and for the postmaster to be reaped: a new
		// postmaster refuses to start while a process still holds the old
		// shared memory, or while the pid in postmaster.pid exists, zombie
		// or not.
		children := ChildPids(pid)
		_ = syscall.Kill(pid, syscall.SIGKILL)
		for i := 0; i < 120 && ctx.Err() == nil; i++ {
			gone := syscall.Kill(pid, 0) != nil
			for _, c := range children {
				gone = gone && !processAlive(c)
			}
			if gone {
				break
			}
			time.Sleep(250 * time.Millisecond)
		}
		return nil
	}
	bin, err := pgBin()
	if err != nil {
		return err
	}
	_ = asPostgres(filepath.Join(bin, "pg_ctl"), "-D", s.pg.dataDir(), "-m", "fast", "-w", "stop").Run()
	return nil
}
