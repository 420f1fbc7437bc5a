//go:build network

package faults_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/userstream/userstream/internal/testenv"
	"github.com/userstream/userstream/kafkasink/outbox"
	"github.com/userstream/userstream/runledger"
)

// PostgreSQL's disk full during staging: the scenario's outbox table (its
// heap, TOAST and indexes) lives in a tablespace of its own on a tmpfs
// that the test mounts (as root), and the test fills that file system
// when it strikes. The write-ahead log stays in the data directory, on the
// machine's disk: what fills is the data files, which is what a growing
// outbox fills. (A full WAL disk is another failure: PostgreSQL panics and
// stops, which the restart scenario covers from the client's side.)

// bytesPerUser bounds the outbox's footprint per staged user (heap,
// TOAST and indexes: about 640 bytes measured): the tmpfs holds the whole
// run with room to spare once the filler is gone.
const bytesPerUser = 2 << 10

// diskLeft is the room the filler leaves: less than a page of users
// needs, more than a few rows. A page staged in part (the bug the
// scenario guards against) would fit some rows into it.
const diskLeft = 1 << 20

// smallDisk is a tmpfs holding a PostgreSQL tablespace.
type smallDisk struct {
	dir, tablespace, filler string
	super                   string // the superuser's DSN, over the Unix socket
}

// newSmallDisk mounts a tmpfs of size bytes, owned by the postgres user,
// and creates a tablespace on it. Everything is removed when the test
// ends. Not run as root, it fails the test, or skips it when integration
// is not required (USERSTREAM_REQUIRE_INTEGRATION unset).
func newSmallDisk(t *testing.T, st *stack, name string, size int64) *smallDisk {
	t.Helper()
	if os.Geteuid() != 0 {
		// make sets USERSTREAM_REQUIRE_INTEGRATION=1: there, and so in
		// CI, a scenario that cannot run fails rather than skips.
		if os.Getenv(testenv.RequireEnv) != "" {
			t.Fatalf("the disk-full scenario mounts a tmpfs: run it as root (or unset %s to skip it)", testenv.RequireEnv)
		}
		t.Skip("the disk-full scenario mounts a tmpfs: run it as root")
	}
	pg, err := user.Lookup("postgres")
	if err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp("", "userstream-pgdisk-")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil { // the postgres user goes through it
		t.Fatal(err)
	}
	opts := fmt.Sprintf("size=%d,mode=0700,uid=%s,gid=%s", size, pg.Uid, pg.Gid)
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", opts, "tmpfs", dir).CombinedOutput(); err != nil {
		t.Fatalf("mount -t tmpfs -o %s: %v\n%s", opts, err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Logf("umount %s: %v %s; detaching it", dir, err, out)
			_ = exec.Command("umount", "-l", dir).Run()
		}
		_ = os.Remove(dir)
	})
	srv := st.dev(t).Postgres()
	d := &smallDisk{dir: dir, tablespace: name, filler: filepath.Join(dir, "filler"),
		super: fmt.Sprintf("host=%s port=%d user=postgres dbname=userstream", filepath.Join(srv.Dir, "run"), srv.Port)}
	d.exec(t, `CREATE TABLESPACE `+pgx.Identifier{name}.Sanitize()+` LOCATION '`+dir+`'`)
	t.Cleanup(func() { d.exec(t, `DROP TABLESPACE IF EXISTS `+pgx.Identifier{name}.Sanitize()) })
	t.Logf("tablespace %s on a tmpfs of %d MiB at %s", name, size>>20, dir)
	return d
}

// exec runs statements as the superuser.
func (d *smallDisk) exec(t *testing.T, sql string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, d.super)
	if err != nil {
		t.Fatalf("postgres as superuser: %v", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, sql); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

// moveOutbox creates cfg's outbox (its migration) and moves its table,
// with TOAST and indexes, into the tablespace. The producer's migration
// then finds it done. The other tables (relay position, run ledger) stay
// on the main disk: the ledger must be able to record the failure.
func (d *smallDisk) moveOutbox(t *testing.T, cfg config) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	pool, err := pgxpool.New(ctx, cfg.PostgresDSN)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	store, err := outbox.NewStore(pool, outbox.WithSchema(cfg.PostgresSchema))
	if err != nil {
		t.Fatal(err)
	}
	if err := store.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	table := pgx.Identifier{cfg.PostgresSchema, "outbox"}.Sanitize()
	ts := pgx.Identifier{d.tablespace}.Sanitize()
	var indexes []string
	rows, err := pool.Query(ctx, `SELECT indexrelid::regclass::text FROM pg_index WHERE indrelid = $1::regclass`, table)
	if err == nil {
		indexes, err = pgx.CollectRows(rows, pgx.RowTo[string])
	}
	if err != nil {
		t.Fatal(err)
	}
	sql := `ALTER TABLE ` + table + ` SET TABLESPACE ` + ts + `;`
	for _, ix := range indexes {
		sql += ` ALTER INDEX ` + ix + ` SET TABLESPACE ` + ts + `;`
	}
	d.exec(t, sql)
	// Dropped before the tablespace (cleanups run last first).
	t.Cleanup(func() { d.exec(t, `DROP SCHEMA IF EXISTS `+pgx.Identifier{cfg.PostgresSchema}.Sanitize()+` CASCADE`) })
	t.Logf("outbox %s and its %d indexes moved to tablespace %s", table, len(indexes), d.tablespace)
}

// usage returns the file system's used and free bytes.
func (d *smallDisk) usage(t *testing.T) (used, free int64) {
	t.Helper()
	var fs syscall.Statfs_t
	if err := syscall.Statfs(d.dir, &fs); err != nil {
		t.Fatal(err)
	}
	return int64(fs.Blocks-fs.Bfree) * fs.Bsize, int64(fs.Bavail) * fs.Bsize
}

// fill writes a filler file that leaves left bytes free.
func (d *smallDisk) fill(t *testing.T, left int64) {
	t.Helper()
	_, free := d.usage(t)
	f, err := os.Create(d.filler)
	if err != nil {
		t.Fatal(err)
	}
	_, err = io.CopyN(f, zeros{}, max(free-left, 0))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatalf("filler: %v", err)
	}
}

// free removes the filler.
func (d *smallDisk) free(t *testing.T) {
	t.Helper()
	if err := os.Remove(d.filler); err != nil {
		t.Error(err)
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// outboxRows counts the rows in cfg's outbox.
func outboxRows(ctx context.Context, cfg config) (int64, error) {
	conn, err := pgx.Connect(ctx, cfg.PostgresDSN)
	if err != nil {
		return 0, err
	}
	defer conn.Close(ctx)
	var n int64
	err = conn.QueryRow(ctx, `SELECT count(*) FROM `+pgx.Identifier{cfg.PostgresSchema, "outbox"}.Sanitize()).Scan(&n)
	return n, err
}

// countLines counts the lines of the logs of role (producer, consumer)
// that hold s.
func countLines(t *testing.T, r *run, role, s string) int {
	t.Helper()
	logs, _ := filepath.Glob(filepath.Join(r.logs, role+"*.log"))
	n := 0
	for _, path := range logs {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		n += strings.Count(string(b), s)
	}
	return n
}

// TestPostgresDiskFull fills PostgreSQL's disk under the outbox while the
// producer stages: once the relay has published the users of the first
// 30% of the pages, a filler file leaves 1 MiB on the outbox's tmpfs, less
// than a page of users needs, and the gate opens. Staging the next page
// must fail at once with the server's "No space left on device" (SQLSTATE
// 53100: not retried, it is no lost connection), the run must end failed
// in the ledger with that error, and the outbox must hold exactly the
// pages before it (a page is staged whole or not at all). The producer
// exits with the error, which the scenario expects. Then the filler is
// removed, the producer is started again (as a process manager would) and
// its run stages everything the failed one did not: the usual checks
// follow, 0 missing, 0 extra, 0 dead letters.
func TestPostgresDiskFull(t *testing.T) {
	users := faultUsers(t)
	var (
		disk     *smallDisk
		once     sync.Once
		before   int64 // users staged before the disk filled
		filledAt time.Time
		freed    = make(chan time.Time, 1)
	)
	su := setup{name: "postgres_disk_full", faults: "the outbox's disk (a tmpfs tablespace) filled to 1 MiB at 30% published; space freed after the failed run",
		consumers: []int{2}, hold: 0.3, users: users,
		producerExits: "staging fails on PostgreSQL's full disk: the run ends failed and the producer exits with the error",
		prepare: func(r *run) {
			disk = newSmallDisk(r.t, r.stack, r.cfg.PostgresSchema, int64(users)*bytesPerUser+16<<20)
			disk.moveOutbox(r.t, r.cfg)
		},
		// Before the process manager starts the producer again: what the
		// failed run left, then the operator's fix.
		producerExited: func(r *run, p *proc) {
			first := false
			once.Do(func() { first = true })
			if !first {
				r.t.Errorf("%s exited again: %v", p.name, p.err)
				return
			}
			t := r.t
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			log, _ := os.ReadFile(p.stderr.f.Name())
			if !strings.Contains(string(log), "No space left on device") || !strings.Contains(string(log), "53100") {
				t.Errorf("%s exited without the disk-full error (No space left on device, SQLSTATE 53100):\n%s", p.name, p.logTail(8))
			}
			if n, err := outboxRows(ctx, r.cfg); err != nil {
				t.Error(err)
			} else if n != before {
				t.Errorf("the outbox holds %d rows after the failed page, want exactly the %d of the pages before it: a page was staged in part", n, before)
			} else {
				t.Logf("the outbox holds %d rows after the failed page: the pages before it, none of the failed page", n)
			}
			runs, err := ledger(ctx, r.cfg)
			if err != nil {
				t.Error(err)
			}
			var failed []runledger.Run
			for _, run := range runs {
				if run.Kind == "ingest" {
					failed = append(failed, run)
				}
			}
			switch {
			case len(failed) != 1:
				t.Errorf("ledger: %d ingest runs after the failure, want 1: %+v", len(failed), failed)
			case failed[0].Status != runledger.StatusFailed || !strings.Contains(failed[0].Error, "No space left on device"):
				t.Errorf("ledger: the run is %s with error %q, want %s with the disk-full error", failed[0].Status, failed[0].Error, runledger.StatusFailed)
			case failed[0].Staged != before:
				t.Errorf("ledger: the failed run staged %d users, want the %d of the pages before the full disk", failed[0].Staged, before)
			default:
				t.Logf("ledger: run %s %s after staging %d users: %s", failed[0].RunID, failed[0].Status, failed[0].Staged, failed[0].Error)
			}
			used, _ := disk.usage(t)
			disk.free(t)
			_, free := disk.usage(t)
			t.Logf("the producer exited %s after the disk filled; filler removed: %d MiB used, %d MiB free",
				secs(time.Since(filledAt)), used>>20, free>>20)
			freed <- time.Now()
		},
	}
	var w *rssWatch
	r := scenario(t, su, func(ctx context.Context, r *run) error {
		w = watchRSS(r)
		pages := r.gate.limit()
		if _, err := r.publishedUpTo(ctx, pages); err != nil {
			return err
		}
		before = r.usersUpTo(pages)
		used, _ := disk.usage(r.t)
		r.t.Logf("%d users staged in %d pages: %d MiB of the outbox's disk (%d bytes a user)", before, pages, used>>20, used/max(before, 1))
		filledAt = time.Now()
		disk.fill(r.t, diskLeft)
		_, free := disk.usage(r.t)
		r.t.Logf("disk filled: %d KiB free", free>>10)
		r.gate.open()
		select {
		case back := <-freed:
			r.record(event{what: "outbox disk full, then freed", at: filledAt, back: back, stages: stageRelay})
			return nil
		case <-r.prod.done:
			return errors.New("the producer finished without failing on the full disk")
		case <-ctx.Done():
			return fmt.Errorf("waiting for staging to fail on the full disk: %w", ctx.Err())
		}
	})
	networkFigures(t, r, w)

	if r.prod.failures != 1 {
		t.Errorf("the producer exited by itself %d times, want once (the run that met the full disk)", r.prod.failures)
	}
	if n := countLines(t, r, "producer", "retrying the page"); n != 0 {
		t.Errorf("staging was retried %d times: a full disk is no lost connection", n)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	runs, err := ledger(ctx, r.cfg)
	if err != nil {
		t.Fatal(err)
	}
	var ok []runledger.Run
	for _, run := range runs {
		if run.Kind == "ingest" && run.Status == runledger.StatusSucceeded {
			ok = append(ok, run)
		}
	}
	if len(ok) != 1 || ok[0].Staged != int64(r.users)-before {
		t.Errorf("ledger: succeeded ingest runs %+v, want one that staged the %d users the failed run did not", ok, int64(r.users)-before)
	} else {
		t.Logf("ledger: the next run %s staged %d users, %d duplicates (staged before the disk filled)", ok[0].RunID, ok[0].Staged, ok[0].Duplicates)
	}
}
